"""Low-light / normal-light image pairs: the paired folder layouts people have, synthetic pairs made from any
folder of ordinary photographs, and a built-in set from scikit-image's photographs.

Pairs are (low (3, H, W) uint8, normal (3, H, W) uint8, problem) samples. Synthetic training pairs are darkened
by `darkening.Degradation` (a mixture of the ways photos end up dark, rounded to 8 bits), drawn anew each time;
each validation photograph is darkened once by each of the mixture's families at the evaluation strengths
(`darkening.darken`, fixed by seed, family and file name), so that a checkpoint is chosen on every family alike.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from .darkening import Degradation, darken
from .folder import load_rgb

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
# scikit-image's colour photographs, and its grayscale ones (used as gray RGB): more scenes and textures.
COLOUR_PHOTOS = ("hubble_deep_field", "immunohistochemistry", "retina", "stereo_motorcycle")
GRAY_PHOTOS = ("camera", "coins", "moon", "brick", "grass", "gravel", "clock", "page", "text")
TRAINABLE_PHOTOS = COLOUR_PHOTOS + GRAY_PHOTOS
# data=lowlight's training photographs (the `photos` setting): all but hubble_deep_field, a black sky whose
# darkened crops teach that dark input stays dark.
BUILTIN_TRAIN = tuple(name for name in TRAINABLE_PHOTOS if name != "hubble_deep_field")
BUILTIN_VAL = ("grace_hopper",)                  # validation: picks the best checkpoint, never trained on
# the held-out gallery: no run trains on these or picks a checkpoint by them
BUILTIN_HELD_OUT = ("chelsea", "rocket", "astronaut", "coffee")
SAMPLE_PHOTOS = {"grace_hopper": "grace_hopper.jpg"}     # photographs matplotlib ships (sample_data)
VAL_SHARE = 0.15                # of a plain photo folder, by file-name hash
PairSample = tuple["Tensor | None", "Tensor | None", str]


def is_validation(name: str) -> bool:
    """The fixed validation split of a plain photo folder: a photo lands in one split only, by name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little") / 2**32 < VAL_SHARE


def to_tensor(image: np.ndarray) -> Tensor:
    """(H, W, 3) uint8 -> (3, H, W) uint8."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)      # a copy: PIL arrays are read-only


class PairTransform:
    """The same random resize (a factor drawn from `scale`, antialiased), crop (crop x crop, or the whole image
    when smaller), flips, 90-degree rotation and, with `shuffle_channels`, order of the RGB channels on both
    (3, H, W) uint8 images of a pair; crop 0 keeps the whole image (validation)."""

    def __init__(self, crop: int = 128, augment: bool = True, scale: tuple[float, float] = (1.0, 1.0),
                 shuffle_channels: bool = False) -> None:
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"scale is [low, high] with 0 < low <= high <= 1; got {list(scale)}")
        self.crop, self.augment, self.scale, self.shuffle_channels = crop, augment, scale, shuffle_channels

    def __call__(self, low: Tensor, high: Tensor) -> tuple[Tensor, Tensor]:
        if self.augment and self.scale != (1.0, 1.0):
            factor = float(torch.empty(()).uniform_(*self.scale))
            size = [max(1, round(n * factor)) for n in low.shape[-2:]]
            low, high = (F.interpolate(t[None].float(), size=size, mode="bilinear", antialias=True)[0]
                         .round().clamp(0, 255).to(torch.uint8) for t in (low, high))
        if self.augment and self.shuffle_channels:
            order = torch.randperm(3)
            low, high = low[order], high[order]
        h, w = low.shape[-2:]
        if self.crop and (h > self.crop or w > self.crop):
            ch, cw = min(self.crop, h), min(self.crop, w)
            y, x = int(torch.randint(0, h - ch + 1, ())), int(torch.randint(0, w - cw + 1, ()))
            low, high = low[:, y:y + ch, x:x + cw], high[:, y:y + ch, x:x + cw]
        if self.augment:
            if torch.rand(()) < 0.5:
                low, high = low.flip(-1), high.flip(-1)
            if torch.rand(()) < 0.5:
                low, high = low.flip(-2), high.flip(-2)
            k = int(torch.randint(0, 4, ()))
            low, high = low.rot90(k, (-2, -1)), high.rot90(k, (-2, -1))
        return low.contiguous(), high.contiguous()


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith("."))


def match_pairs(low_dir: Path, high_dir: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Pairs matched by file stem (and sub-folder), and the names of the files that have no partner."""
    low = {p.relative_to(low_dir).with_suffix(""): p for p in _images(low_dir)}
    high = {p.relative_to(high_dir).with_suffix(""): p for p in _images(high_dir)}
    pairs = [(low[k], high[k]) for k in sorted(low.keys() & high.keys())]
    unmatched = [str(low[k]) for k in sorted(low.keys() - high.keys())] + \
                [str(high[k]) for k in sorted(high.keys() - low.keys())]
    return pairs, unmatched


# (split folder, low folder, normal folder) of each layout, for the training and the validation split.
LAYOUTS = {
    "LOL-v1": {"train": ("our485", "low", "high"), "val": ("eval15", "low", "high")},
    "LOL-v2": {"train": ("Train", "Low", "Normal"), "val": ("Test", "Low", "Normal")},
    "input/target": {"train": ("train", "input", "target"), "val": ("val", "input", "target")},
}


def find_layout(root: Path) -> str | None:
    """The paired layout of `root` (by its folder names), or None for a plain folder of photos."""
    for name, splits in LAYOUTS.items():
        if all((root / s / lo).is_dir() and (root / s / hi).is_dir() for s, lo, hi in splits.values()):
            return name
    return None


class PairedFolder(Dataset):
    """Real pairs from one split of a paired layout; unreadable files are named in the sample's problem."""

    def __init__(self, root: str | os.PathLike, split: str, transform: PairTransform) -> None:
        root = Path(root)
        self.layout = find_layout(root)
        if self.layout is None:
            raise ValueError(f"{str(root)!r} has none of the paired layouts: " + "; ".join(
                f"{name} ({', '.join(f'{s}/{lo}, {s}/{hi}' for s, lo, hi in splits.values())})"
                for name, splits in LAYOUTS.items()))
        folder, low, high = LAYOUTS[self.layout][split]
        self.pairs, self.unmatched = match_pairs(root / folder / low, root / folder / high)
        if not self.pairs:
            raise ValueError(f"{str(root / folder)!r}: no {low}/ and {high}/ files share a name")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> PairSample:
        low_path, high_path = self.pairs[index]
        try:
            low, high = np.asarray(load_rgb(low_path)), np.asarray(load_rgb(high_path))
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            return None, None, f"{low_path.name}: {type(err).__name__}: {err}"
        if low.shape != high.shape:
            return None, None, f"{low_path.name}: the pair's sizes differ ({low.shape} vs {high.shape})"
        return (*self.transform(to_tensor(low), to_tensor(high)), "")


class SyntheticPairs(Dataset):
    """Pairs made from normal-light photographs (file paths, or named images already in memory): with fixed_seed
    None (training) one pair per photograph, darkened anew by `degradation` each time; otherwise (validation) one
    pair per photograph and family of `degradation.families`, darkened by that family at the evaluation
    strengths, the same way every time."""

    def __init__(self, photos: Sequence[Path] | dict[str, np.ndarray], transform: PairTransform,
                 degradation: Degradation, fixed_seed: int | None) -> None:
        self.photos = photos if isinstance(photos, dict) else {str(p): p for p in photos}
        if not self.photos:
            raise ValueError("no photographs to make pairs from")
        families = [None] if fixed_seed is None else list(degradation.families)
        self.items = [(name, family) for name in self.photos for family in families]     # (photo, family or None)
        self.transform, self.degradation, self.fixed_seed = transform, degradation, fixed_seed

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> PairSample:
        name, family = self.items[index]
        source = self.photos[name]
        try:
            high = source if isinstance(source, np.ndarray) else np.asarray(load_rgb(source))
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            return None, None, f"{Path(name).name}: {type(err).__name__}: {err}"
        if family is None:
            rng = np.random.default_rng(int(torch.randint(0, 2**62, ())))     # seeded by the loader's worker
            high_t = self.transform(to_tensor(high), to_tensor(high))[1]      # crop first, then darken
            return to_tensor(self.degradation(high_t.permute(1, 2, 0).numpy(), rng)), high_t, ""
        low = darken(high, family, self.fixed_seed, Path(name).name)
        return (*self.transform(to_tensor(low), to_tensor(high)), "")


def builtin_photos(names: Sequence[str], max_side: int | None = None) -> dict[str, np.ndarray]:
    """scikit-image's photographs (and SAMPLE_PHOTOS from matplotlib) by name, (H, W, 3) uint8 (the stereo pair
    gives its left image, a grayscale photograph three equal channels), shrunk (Lanczos) where a side exceeds
    `max_side`."""
    from matplotlib import cbook
    from skimage import data

    photos = {}
    for name in names:
        if name in SAMPLE_PHOTOS:
            image = np.asarray(Image.open(cbook.get_sample_data(SAMPLE_PHOTOS[name], asfileobj=False)).convert("RGB"))
        else:
            image = getattr(data, name)()
            image = image[0] if isinstance(image, tuple) else image
            image = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image
        if max_side and max(image.shape[:2]) > max_side:
            scale = max_side / max(image.shape[:2])
            size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
            image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))
        photos[name] = image
    return photos


class Repeat(Dataset):
    """`length` samples drawn in turn from a smaller set (an epoch of random crops from a few photos)."""

    def __init__(self, dataset: Dataset, length: int) -> None:
        self.dataset, self.length = dataset, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int):
        return self.dataset[index % len(self.dataset)]


def photo_files(root: str | os.PathLike, split: str) -> list[Path]:
    """The photographs of a plain folder that belong to `split` ('train' or 'val', by file-name hash)."""
    return [p for p in _images(Path(root)) if is_validation(p.name) == (split == "val")]


def collate_pairs(samples: list[PairSample]) -> tuple[Tensor, Tensor, list[str]]:
    """Pairs of equal size -> (low (B, 3, H, W) uint8, normal (B, 3, H, W) uint8, problems)."""
    good = [(lo, hi) for lo, hi, _ in samples if lo is not None]
    problems = [p for _, _, p in samples if p]
    if not good:
        return torch.empty(0, 3, 0, 0, dtype=torch.uint8), torch.empty(0, 3, 0, 0, dtype=torch.uint8), problems
    return torch.stack([g[0] for g in good]), torch.stack([g[1] for g in good]), problems


