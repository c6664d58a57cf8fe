"""Image transforms (PIL in DataLoader workers; batches on the device) and mixup / cutmix.

Randomness comes from torch's generator, which DataLoader seeds per worker, so a run is
reproducible from its seed.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EVAL_CROP_FRACTION = 0.875     # resize to size / 0.875, then centre-crop size (the DeiT/PVT evaluation)


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * torch.rand(()).item()


def to_uint8_tensor(image: Image.Image) -> Tensor:
    """PIL RGB image -> (3, H, W) uint8."""
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)


class TrainTransform:
    """Random resized crop (area fraction in `scale`, aspect ratio 3/4..4/3) to size x size, then a
    horizontal flip with probability `hflip`. PIL image -> (3, size, size) uint8."""

    def __init__(self, size: int, scale: tuple[float, float] = (0.08, 1.0), hflip: float = 0.5) -> None:
        self.size, self.scale, self.hflip = size, tuple(scale), hflip

    def crop_box(self, width: int, height: int) -> tuple[int, int, int, int]:
        area = width * height
        for _ in range(10):
            target = area * _uniform(*self.scale)
            ratio = math.exp(_uniform(math.log(3 / 4), math.log(4 / 3)))
            w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
            if 0 < w <= width and 0 < h <= height:
                x, y = int(torch.randint(0, width - w + 1, ())), int(torch.randint(0, height - h + 1, ()))
                return x, y, x + w, y + h
        side = min(width, height)                      # fall back to the centre square
        x, y = (width - side) // 2, (height - side) // 2
        return x, y, x + side, y + side

    def __call__(self, image: Image.Image) -> Tensor:
        image = image.resize((self.size, self.size), Image.BILINEAR, box=self.crop_box(*image.size))
        if torch.rand(()).item() < self.hflip:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        return to_uint8_tensor(image)


class EvalTransform:
    """Resize the shorter side to size / 0.875, centre-crop size x size. PIL -> (3, size, size) uint8."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, image: Image.Image) -> Tensor:
        width, height = image.size
        short = round(self.size / EVAL_CROP_FRACTION)
        scale = short / min(width, height)
        image = image.resize((max(self.size, round(width * scale)), max(self.size, round(height * scale))),
                             Image.BILINEAR)
        x, y = (image.size[0] - self.size) // 2, (image.size[1] - self.size) // 2
        return to_uint8_tensor(image.crop((x, y, x + self.size, y + self.size)))


def normalize(images: Tensor) -> Tensor:
    """(B, 3, H, W) uint8 -> float32 normalised with the ImageNet mean and std."""
    mean = images.new_tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1) * 255
    std = images.new_tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1) * 255
    return (images.float() - mean) / std


def soft_targets(labels: Tensor, num_classes: int, smoothing: float) -> Tensor:
    """(B,) int64 -> (B, num_classes) label-smoothed one-hot targets."""
    off = smoothing / num_classes
    return F.one_hot(labels, num_classes).float() * (1.0 - smoothing) + off


def mix_batch(images: Tensor, labels: Tensor, num_classes: int, smoothing: float, mixup_alpha: float,
              cutmix_alpha: float, prob: float, switch_prob: float) -> tuple[Tensor, Tensor]:
    """Mixup or CutMix of a batch with its reverse (as in DeiT), with label smoothing.

    images (B, 3, H, W) float, labels (B,) -> images, soft targets (B, num_classes). With
    probability `prob` the batch is mixed: CutMix with probability `switch_prob` when both are on.
    """
    targets = soft_targets(labels, num_classes, smoothing)
    use_mixup, use_cutmix = mixup_alpha > 0, cutmix_alpha > 0
    if not (use_mixup or use_cutmix) or torch.rand(()).item() >= prob:
        return images, targets
    cutmix = use_cutmix and (not use_mixup or torch.rand(()).item() < switch_prob)
    alpha = cutmix_alpha if cutmix else mixup_alpha
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    if cutmix:
        height, width = images.shape[-2:]
        cut_h, cut_w = int(height * math.sqrt(1 - lam)), int(width * math.sqrt(1 - lam))
        cy, cx = int(torch.randint(0, height, ())), int(torch.randint(0, width, ()))
        y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
        x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
        images = images.clone()
        images[..., y0:y1, x0:x1] = images.flip(0)[..., y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (height * width)
    else:
        images = images * lam + images.flip(0) * (1 - lam)
    return images, targets * lam + targets.flip(0) * (1 - lam)
