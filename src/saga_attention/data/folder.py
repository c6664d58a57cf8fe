"""ImageNet-layout folders (`<root>/<split>/<class>/<image>`) and the in-memory built-in tasks,
as datasets of (image (3, S, S) uint8, label, problem). An unreadable file gives a problem text and,
for evaluation, image None: `collate` drops it from the batch and passes the text on. A training
set replaces it by the next readable file instead, so every process keeps its batch size and all
take the same steps."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

Sample = tuple["Tensor | None", int, str]


def class_folders(root: str | os.PathLike) -> list[str]:
    """The sorted class folder names of an ImageNet-layout split folder. ValueError if there are none,
    if one is empty, or if one is a link back into the split folder (its images would count twice)."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"image folder {str(root)!r} does not exist; expected <root>/<class>/<image> "
                         "folders (ImageNet layout)")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise ValueError(f"{str(root)!r} has no class folders; expected <root>/<class>/<image>")
    real = root.resolve()
    for name in found:
        target = (root / name).resolve()
        if target == real or real.is_relative_to(target):
            raise ValueError(f"class folder {str(root / name)!r} links to {str(target)!r}, which holds the split "
                             "folder itself; its images would be counted twice: remove the link")
        if not any(p.is_file() and not p.name.startswith(".") for p in target.rglob("*")):
            raise ValueError(f"class folder {str(root / name)!r} is empty: remove it, or add its images "
                             "(an empty folder would still be a class that no image teaches)")
    return found


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Open an image file as 8-bit RGB. 16-bit grayscale (PNG, TIFF) is scaled to 8 bits, not clipped."""
    with Image.open(path) as image:
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
            pixels = np.asarray(image, dtype=np.float64)
            return Image.fromarray(np.clip(np.round(pixels / 257), 0, 255).astype(np.uint8)).convert("RGB")
        if image.mode == "F":
            raise ValueError(f"{path}: floating-point images (mode F) have no fixed range; convert to 8 or 16 bit")
        return image.convert("RGB")


class ImageFolder(Dataset):
    """`root/<class>/<file>` for every class folder; any file Pillow opens is an image.

    classes: the class names in label order (pass the training set's to a validation set, so the
    labels agree); by default the sorted folder names. An unreadable file gives image None and the
    problem text (wrap the set in ReplaceUnreadable for training).
    """

    def __init__(self, root: str | os.PathLike, transform: Callable[[Image.Image], Tensor],
                 classes: Sequence[str] | None = None) -> None:
        self.root = Path(root)
        found = class_folders(self.root)
        self.classes = list(classes) if classes is not None else found
        unknown = sorted(set(found) - set(self.classes))
        if unknown:
            raise ValueError(f"{str(self.root)!r} has class folders the training set lacks: {', '.join(unknown[:5])}")
        self.samples = [(path, label) for label, name in enumerate(self.classes) if (self.root / name).is_dir()
                        for path in sorted((self.root / name).rglob("*"))
                        if path.is_file() and not path.name.startswith(".")]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Sample:
        path, label = self.samples[index]
        try:
            return self.transform(load_rgb(path)), label, ""
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            return None, label, f"{path}: {type(err).__name__}: {err}"


class ReplaceUnreadable(Dataset):
    """A training set whose unreadable samples (first item None) are replaced by the next readable one, with the
    problem text kept: every batch stays full, so every process takes the same steps. ValueError, naming the
    files, when not one sample can be read."""

    def __init__(self, dataset: Dataset, where: str) -> None:
        self.dataset = dataset
        problems = []
        for i in range(len(dataset)):
            sample = dataset[i]
            if sample[0] is not None:
                return
            problems.append(sample[-1].split(": ")[0].rsplit("/", 1)[-1])
        raise ValueError(f"none of the {len(dataset)} files under {where} is a readable image: "
                         + ", ".join(problems[:5]) + (" ..." if len(problems) > 5 else ""))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple:
        sample = self.dataset[index]
        problem, step = sample[-1], 1
        while sample[0] is None and step < len(self.dataset):
            sample, step = self.dataset[(index + step) % len(self.dataset)], step + 1
        return (*sample[:-1], problem)


class TensorImages(Dataset):
    """Images already in memory, (N, 3, S, S) uint8 with labels (N,); `hflip` is the flip probability."""

    def __init__(self, images: Tensor, labels: Tensor, classes: Sequence[str], hflip: float = 0.0) -> None:
        self.images, self.labels, self.classes, self.hflip = images, labels, list(classes), hflip

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Sample:
        image = self.images[index]
        if self.hflip and torch.rand(()).item() < self.hflip:
            image = image.flip(-1)
        return image, int(self.labels[index]), ""


def collate(samples: list[Sample]) -> tuple[Tensor, Tensor, list[str]]:
    """A batch of readable images (B, 3, S, S) uint8, their labels (B,), and the problems met (files left out,
    or replaced by others in a training set)."""
    good = [(image, label) for image, label, _ in samples if image is not None]
    problems = [problem for _, _, problem in samples if problem]
    if not good:
        return torch.empty(0, 3, 0, 0, dtype=torch.uint8), torch.empty(0, dtype=torch.int64), problems
    return torch.stack([g[0] for g in good]), torch.tensor([g[1] for g in good]), problems
