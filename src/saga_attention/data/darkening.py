"""The ways a real photo ends up dark, and the synthetic darkening that trains the enhancement nets.

Four families, each an 8-bit image as a camera or a file would give:

* sensor: a raw exposure in linear light pushed down (and a power for deeper shadows), shot and read noise;
* srgb-scale: the sRGB values scaled down (an underexposed JPEG);
* gamma: the sRGB values raised to a power (a tone curve that sinks the shadows);
* exposure: linear light scaled down, without noise.

`Degradation` draws one family per image, a colour cast and (for families other than sensor) noise with a
probability each, and JPEG with a probability: the training mixture. `darken` gives one named family (or its
JPEG variant) at the evaluation strengths, fixed by (seed, family, photo name):

    dark = darken(photo, "srgb-scale", seed=0, name="chelsea")     # (H, W, 3) uint8 -> (H, W, 3) uint8
"""
from __future__ import annotations

import hashlib
import io
import math
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from PIL import Image

PLAIN = ("sensor", "srgb-scale", "gamma", "exposure")
FAMILIES = [*PLAIN, *(f"{name}+jpeg" for name in PLAIN)]
JPEG_QUALITY = 75                        # the evaluation's JPEG: a phone's or a web page's


Array = TypeVar("Array", np.ndarray, torch.Tensor)


def srgb_to_linear(x: Array) -> Array:
    """sRGB values in [0, 1] -> linear light, for numpy arrays and torch tensors (traced ones included)."""
    lib = np if isinstance(x, np.ndarray) else torch
    return lib.where(x <= 0.04045, x / 12.92, ((lib.clip(x, 0, None) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: Array) -> Array:
    """Linear light in [0, 1] -> sRGB values, for numpy arrays and torch tensors (traced ones included); the clip
    keeps the unused branch finite, so that gradients through torch.where stay finite too."""
    lib = np if isinstance(x, np.ndarray) else torch
    return lib.where(x <= 0.0031308, x * 12.92, 1.055 * lib.clip(x, 1e-12, None) ** (1 / 2.4) - 0.055)


MID_SRGB = 0.45                          # the mean sRGB value that gamma_to_mid_gray aims at


def gamma_to_mid_gray(x: Array, mean: Array | float) -> Array:
    """x ** p in [0, 1], the one p in [0.05, 1] that brings an image of mean sRGB value `mean` to MID_SRGB (for
    numpy arrays and torch tensors; `mean` a float, or a tensor that broadcasts against x, one mean per image)."""
    lib = np if isinstance(x, np.ndarray) else torch
    power = lib.clip(math.log(MID_SRGB) / lib.log(lib.clip(mean, 1e-4, 0.999)), 0.05, 1.0)
    return lib.clip(x, 0, 1) ** power


def name_seed(seed: int, name: str) -> int:
    """A seed fixed by (seed, name), the same on every machine."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "little")


def jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
    """(H, W, 3) uint8 -> the same image saved and read back as JPEG."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


@dataclass(frozen=True)
class Degradation:
    """A random darkening: a family drawn from `families`, its strength from the family's range (uniform), then
    a colour cast with probability `cast_prob`, sensor noise always for 'sensor' and with probability
    `noise_prob` for the others, rounding to 8 bits, and JPEG with probability `jpeg_prob`."""

    families: tuple[str, ...] = PLAIN
    exposure: tuple[float, float] = (0.02, 0.35)     # sensor, exposure: scale of linear light
    gamma: tuple[float, float] = (1.0, 1.4)          # sensor: linear ** gamma after the exposure
    srgb_scale: tuple[float, float] = (0.04, 0.35)   # srgb-scale: sRGB values x k
    tone_gamma: tuple[float, float] = (1.8, 4.5)     # gamma: sRGB values ** g
    cast: tuple[float, float] = (0.85, 1.15)         # per-channel gain in linear light
    cast_prob: float = 0.5
    photons: tuple[float, float] = (300.0, 3000.0)   # photons at full scale: Poisson shot noise
    read_noise: tuple[float, float] = (0.001, 0.01)  # Gaussian read noise, linear units
    noise_prob: float = 0.25
    jpeg_prob: float = 0.3
    jpeg_quality: tuple[int, int] = (60, 95)

    def __post_init__(self) -> None:
        unknown = [f for f in self.families if f not in PLAIN]
        if unknown or not self.families:
            raise ValueError(f"darkening families are one or more of {', '.join(PLAIN)}; got {list(self.families)}")

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(H, W, 3) uint8 normal-light -> (H, W, 3) uint8 low-light."""
        family = self.families[int(rng.integers(len(self.families)))]
        srgb = image.astype(np.float64) / 255
        if family == "srgb-scale":
            dark = srgb_to_linear(srgb * rng.uniform(*self.srgb_scale))
        elif family == "gamma":
            dark = srgb_to_linear(srgb ** rng.uniform(*self.tone_gamma))
        else:
            dark = srgb_to_linear(srgb) * rng.uniform(*self.exposure)
            if family == "sensor":
                dark = dark ** rng.uniform(*self.gamma)
        if rng.uniform() < self.cast_prob:
            dark = np.clip(dark * rng.uniform(*self.cast, size=3), 0, 1)
        if family == "sensor" or rng.uniform() < self.noise_prob:
            photons = rng.uniform(*self.photons)
            dark = rng.poisson(dark * photons) / photons + rng.normal(0, rng.uniform(*self.read_noise), dark.shape)
        low = np.round(linear_to_srgb(np.clip(dark, 0, 1)) * 255).astype(np.uint8)
        if rng.uniform() < self.jpeg_prob:
            low = jpeg(low, int(rng.integers(*self.jpeg_quality, endpoint=True)))
        return low


# The evaluation families: one family each, no random cast, noise only where the family has it, no JPEG
# (the '+jpeg' variants add JPEG_QUALITY). Their ranges sit inside the training mixture's.
EVALUATION = {
    "sensor": Degradation(families=("sensor",), exposure=(0.03, 0.3), cast_prob=1.0, noise_prob=0.0, jpeg_prob=0.0),
    "srgb-scale": Degradation(families=("srgb-scale",), srgb_scale=(0.05, 0.3), cast_prob=0.0, noise_prob=0.0,
                              jpeg_prob=0.0),
    "gamma": Degradation(families=("gamma",), tone_gamma=(2.0, 4.0), cast_prob=0.0, noise_prob=0.0, jpeg_prob=0.0),
    "exposure": Degradation(families=("exposure",), exposure=(0.03, 0.3), cast_prob=0.0, noise_prob=0.0,
                            jpeg_prob=0.0),
}


def darken(image: np.ndarray, family: str, seed: int = 0, name: str = "") -> np.ndarray:
    """`image` (H, W, 3) uint8 darkened by `family` (one of FAMILIES), its strength fixed by (seed, family,
    name); (H, W, 3) uint8."""
    if family not in FAMILIES:
        raise ValueError(f"darkening family must be one of {', '.join(FAMILIES)}; got {family!r}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image; got {image.dtype} {image.shape}")
    base = family.removesuffix("+jpeg")
    dark = EVALUATION[base](image, np.random.default_rng(name_seed(seed, f"{base}:{name}")))
    return jpeg(dark) if family.endswith("+jpeg") else dark
