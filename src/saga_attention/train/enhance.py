"""Low-light image enhancement as a task of the engine: paired folders, synthetic pairs from any folder of
photos, or the built-in pairs from scikit-image's photographs; L1 loss (plus an optional SSIM term), best
checkpoint by PSNR on whole validation images, PSNR / SSIM and their GT-mean variants as the LLIE papers
report them (metrics.py).

data=lowlight trains on random crops of twelve built-in photographs (`photos`, shrunk to at most 512 pixels a
side) and validates (picks the best checkpoint) on a photograph it never trains on (grace_hopper, shipped with
matplotlib), darkened once by each family of the mixture; data=lowlight-heldout evaluates on the held-out gallery
(chelsea, rocket, astronaut, coffee), which no run trains on or picks checkpoints by, darkened the same way.
Synthetic pairs are darkened by data.darkening.Degradation, whose ranges and probabilities are settings.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from .. import metrics
from ..data import ReplaceUnreadable
from ..data.darkening import PLAIN, Degradation
from ..data.lowlight import (
    BUILTIN_HELD_OUT,
    BUILTIN_TRAIN,
    BUILTIN_VAL,
    TRAINABLE_PHOTOS,
    PairedFolder,
    PairTransform,
    Repeat,
    SyntheticPairs,
    builtin_photos,
    find_layout,
    photo_files,
)
from ..models import create_model, load_checkpoint, parse_model_spec
from ..settings import check_interval, setting, short
from .engine import best_weights
from .task import Datasets, Task, register_task

BUILTIN, HELD_OUT = "lowlight", "lowlight-heldout"
BUILTIN_MAX_SIDE = 512          # the built-in photographs are shrunk to this (full-image validation on a CPU)
RANGES = ("exposure", "gamma", "srgb_scale", "tone_gamma", "cast", "photons", "read_noise", "jpeg_quality")
CHANCES = ("cast_prob", "noise_prob", "jpeg_prob")
UNIT = ("exposure", "srgb_scale")             # scales of light: at most 1
_DEFAULT = Degradation()


@dataclass
class EnhanceSettings:
    data: str = setting(BUILTIN, doc=f"{BUILTIN} (built-in synthetic pairs), {HELD_OUT} (evaluation only), or a "
                                     "folder: a paired layout (LOL-v1, LOL-v2, train|val/input|target) or photos")
    photos: list = setting(list(BUILTIN_TRAIN), doc=f"data={BUILTIN}'s training photographs, any of "
                                                    f"{', '.join(TRAINABLE_PHOTOS)} (grayscale ones as gray RGB)")
    crop: int = setting(128, low=16, doc="training crop side (whole image where smaller)")
    scale: list = setting([1.0, 1.0], doc="training images resized by a random factor in [low, high] (at most 1) "
                                          "before the crop: more scales of texture from few photographs")
    shuffle_channels: bool = setting(False, doc="training pairs' RGB channels in a random order: more colours")
    samples_per_epoch: int = setting(800, low=1, doc="training crops per epoch (the set is cycled)")
    ssim_weight: float = setting(0.0, low=0, doc="loss = L1 + ssim_weight * (1 - SSIM)")
    data_seed: int = setting(0, low=0, doc="fixes the validation pairs' darkening")
    init: str = setting("", doc="start from: empty (random), 'pretrained' (the shipped weights), a .safetensors "
                                "file or a run folder (its best weights)")
    families: list = setting(list(_DEFAULT.families), doc=f"synthetic darkening: the families drawn from, any of "
                                                          f"{', '.join(PLAIN)}")
    exposure: list = setting(list(_DEFAULT.exposure), doc="sensor, exposure: linear-light scale [low, high]")
    gamma: list = setting(list(_DEFAULT.gamma), doc="sensor: power on linear light after the exposure [low, high]")
    srgb_scale: list = setting(list(_DEFAULT.srgb_scale), doc="srgb-scale: factor on sRGB values [low, high]")
    tone_gamma: list = setting(list(_DEFAULT.tone_gamma), doc="gamma: power on sRGB values [low, high]")
    cast: list = setting(list(_DEFAULT.cast), doc="colour cast: per-channel gain [low, high]")
    cast_prob: float = setting(_DEFAULT.cast_prob, low=0, high=1, doc="chance of a colour cast")
    photons: list = setting(list(_DEFAULT.photons), doc="photons at full scale (shot noise) [low, high]")
    read_noise: list = setting(list(_DEFAULT.read_noise), doc="Gaussian read noise, linear units [low, high]")
    noise_prob: float = setting(_DEFAULT.noise_prob, low=0, high=1, doc="chance of noise (always for sensor)")
    jpeg_prob: float = setting(_DEFAULT.jpeg_prob, low=0, high=1, doc="chance of JPEG")
    jpeg_quality: list = setting(list(_DEFAULT.jpeg_quality), doc="[low, high], 1 to 100")

    def degradation(self) -> Degradation:
        return Degradation(families=tuple(self.families), **{k: tuple(getattr(self, k)) for k in RANGES},
                           **{k: getattr(self, k) for k in CHANCES})


def init_weights(source: str) -> Path:
    """The weights file of `init=`: a .safetensors file, or a run folder's best.safetensors."""
    path = Path(source)
    if path.is_dir():
        return best_weights(path)[0]
    if not path.is_file():
        raise ValueError(f"init={short(source)} is neither 'pretrained', a .safetensors file nor a run folder")
    return path


@register_task
class Enhance(Task):
    name = "enhance"
    Settings = EnhanceSettings
    default_preset = "lowlight"
    default_model = "saga_llie_small"
    metrics = ("loss", "psnr", "ssim", "psnr_gt_mean", "ssim_gt_mean")
    best_metric = "psnr"

    @classmethod
    def check(cls, config) -> list[str]:
        s = config.task
        problems = [p for p in [*(check_interval(key, getattr(s, key), 1 if key in UNIT else None) for key in RANGES),
                                check_interval("scale", s.scale, at_most=1)] if p]
        if s.jpeg_quality and len(s.jpeg_quality) == 2 and s.jpeg_quality[1] > 100:
            problems.append(f"jpeg_quality is at most 100; got {short(s.jpeg_quality)}")
        if not s.families or set(s.families) - set(PLAIN):
            problems.append(f"families takes one or more of {', '.join(PLAIN)}; got {short(s.families)}")
        unknown = [name for name in s.photos if name not in TRAINABLE_PHOTOS]
        if unknown or not s.photos:
            problems.append(f"photos takes one or more of {', '.join(TRAINABLE_PHOTOS)} (never the validation or "
                            f"held-out photographs); got {short(s.photos)}")
        if s.data not in (BUILTIN, HELD_OUT) and not Path(s.data).is_dir():
            problems.append(f"data={short(s.data)} is neither {BUILTIN}, {HELD_OUT} nor a folder")
        if s.init and s.init != "pretrained":
            try:
                init_weights(s.init)
            except ValueError as err:
                problems.append(str(err))
        return problems

    @classmethod
    def run_label(cls, config) -> str:
        return Path(config.task.data).name or "data"

    def _pairs(self, split: str) -> Dataset:
        """The training ('train') or validation ('val') pairs of `data`."""
        s, train = self.settings, split == "train"
        transform = PairTransform(s.crop if train else 0, augment=train, scale=tuple(s.scale),
                                  shuffle_channels=s.shuffle_channels)
        fixed = None if train else s.data_seed
        if s.data in (BUILTIN, HELD_OUT):
            if s.data == HELD_OUT and train:
                raise ValueError(f"data={HELD_OUT} is for evaluation only (no run trains on those photographs); "
                                 f"train with data={BUILTIN}")
            if train:
                photos = builtin_photos(s.photos, BUILTIN_MAX_SIDE)
            else:
                photos = builtin_photos(BUILTIN_HELD_OUT if s.data == HELD_OUT else BUILTIN_VAL, BUILTIN_MAX_SIDE)
            return SyntheticPairs(photos, transform, s.degradation(), fixed)
        if find_layout(Path(s.data)):
            pairs = PairedFolder(s.data, split, transform)
            if pairs.unmatched:
                print(f"{s.data} ({pairs.layout}, {split}): {len(pairs.unmatched)} file(s) without a partner left out: "
                      + "; ".join(pairs.unmatched[:3]) + (" ..." if len(pairs.unmatched) > 3 else ""), flush=True)
            return pairs
        files = photo_files(s.data, split)
        if not files:
            raise ValueError(f"data={short(s.data)}: no image files for the {split} split (a plain folder of photos "
                             f"is split by file-name hash, about 15% for validation; it needs several photos)")
        return SyntheticPairs(files, transform, s.degradation(), fixed)

    def eval_dataset(self) -> Dataset:
        return self._pairs("val")

    def datasets(self) -> Datasets:
        s = self.settings
        train = ReplaceUnreadable(self._pairs("train"), repr(s.data))
        source = f"built-in pairs {s.data!r}" if s.data == BUILTIN else f"folder {s.data!r}"
        return Datasets(Repeat(train, s.samples_per_epoch), self.eval_dataset(),
                        f"{source} ({len(train.dataset)} images, data seed {s.data_seed})")

    def build_model(self) -> nn.Module:
        init = self.settings.init
        model = create_model(parse_model_spec(self.config.engine.model), pretrained=init == "pretrained")
        if init and init != "pretrained":
            load_checkpoint(model, init_weights(init))
        return model

    def model_for_weights(self) -> nn.Module:
        return create_model(parse_model_spec(self.config.engine.model))

    def collate(self, samples: list) -> tuple:
        """-> (low images, normal images, problems): lists of (3, H, W) uint8, sizes may differ."""
        good = [(lo, hi) for lo, hi, _ in samples if lo is not None]
        return [g[0] for g in good], [g[1] for g in good], [p for _, _, p in samples if p]

    def _loss(self, output: Tensor, target: Tensor) -> Tensor:
        loss = (output - target).abs().mean()
        if self.settings.ssim_weight > 0:
            loss = loss + self.settings.ssim_weight * (1 - metrics.ssim_map(output * 255, target * 255).mean())
        return loss

    def loss(self, model: nn.Module, batch: tuple) -> tuple[Tensor, int]:
        lows, highs, _ = batch
        h, w = min(t.shape[-2] for t in lows), min(t.shape[-1] for t in lows)     # a batch shares its smallest size
        device = self.process.device
        low = torch.stack([t[:, :h, :w] for t in lows]).to(device, non_blocking=True).float() / 255
        high = torch.stack([t[:, :h, :w] for t in highs]).to(device, non_blocking=True).float() / 255
        return self._loss(model(low).float(), high), len(lows)

    def evaluate_batch(self, model: nn.Module, batch: tuple) -> dict[str, float]:
        lows, highs, _ = batch
        sums = dict.fromkeys(self.metrics, 0.0)
        for low, high in zip(lows, highs):                    # whole images, one at a time (sizes differ)
            low = low[None].to(self.process.device).float() / 255
            high = high[None].to(self.process.device).float() / 255
            output = model(low).float()
            rescaled = metrics.gt_mean(output, high)
            sums["loss"] += self._loss(output.clamp(0, 1), high).item()
            sums["psnr"] += metrics.psnr(output, high)[0]
            sums["ssim"] += metrics.ssim(output, high)[0]
            sums["psnr_gt_mean"] += metrics.psnr(rescaled, high)[0]
            sums["ssim_gt_mean"] += metrics.ssim(rescaled, high)[0]
        return {**sums, "count": len(lows)}

    def finish(self, sums: dict[str, float]) -> dict[str, float]:
        return {k: sums.get(k, 0.0) / sums["count"] for k in self.metrics}

    def describe(self, metrics: dict[str, float]) -> str:
        return (f"PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.4f} (GT-mean {metrics['psnr_gt_mean']:.2f} dB, "
                f"{metrics['ssim_gt_mean']:.4f}), loss {metrics['loss']:.4f}")

