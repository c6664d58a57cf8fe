"""ImageNet-layout folders (`<root>/<split>/<class>/<image>`) and the in-memory built-in tasks,
as datasets of (image (3, S, S) uint8, label, problem). An unreadable file gives image None and a
problem text; `collate` drops it from the batch and passes the text on, so training reports it
and goes on."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

Sample = tuple["Tensor | None", int, str]


def class_folders(root: str | os.PathLike) -> list[str]:
    """The sorted class folder names of an ImageNet-layout split folder (ValueError if there are none)."""
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"image folder {str(root)!r} does not exist; expected <root>/<class>/<image> "
                         "folders (ImageNet layout)")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise ValueError(f"{str(root)!r} has no class folders; expected <root>/<class>/<image>")
    return found


class ImageFolder(Dataset):
    """`root/<class>/<file>` for every class folder; any file Pillow opens is an image.

    classes: the class names in label order (pass the training set's to a validation set, so the
    labels agree); by default the sorted folder names.
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
        if not self.samples:
            raise ValueError(f"{str(self.root)!r} holds no files under its class folders")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Sample:
        path, label = self.samples[index]
        try:
            with Image.open(path) as image:
                return self.transform(image.convert("RGB")), label, ""
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            return None, label, f"{path}: {type(err).__name__}: {err}"


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
    """A batch of readable images (B, 3, S, S) uint8, their labels (B,), and the problems of the rest."""
    good = [(image, label) for image, label, _ in samples if image is not None]
    problems = [problem for image, _, problem in samples if image is None]
    if not good:
        return torch.empty(0, 3, 0, 0, dtype=torch.uint8), torch.empty(0, dtype=torch.int64), problems
    return torch.stack([g[0] for g in good]), torch.tensor([g[1] for g in good]), problems
