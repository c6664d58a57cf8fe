"""The ways a real photo ends up dark, as named families for evaluation: a sensor's raw exposure with noise and
a colour cast, a plain scaling of the sRGB values, a gamma (tone-curve) darkening, and an exposure in linear
light without noise; each also saved as JPEG. Every family gives an 8-bit image, as a camera or a file would.

    dark = darken(photo, "srgb-scale", seed=0, name="chelsea")     # (H, W, 3) uint8 -> (H, W, 3) uint8

A family's strength is drawn from its range by (seed, family, photo name), so a gallery is the same on every
machine.
"""
from __future__ import annotations

import io
from typing import Callable

import numpy as np
from PIL import Image

from .lowlight import Degradation, linear_to_srgb, name_seed, srgb_to_linear

JPEG_QUALITY = 75                        # a phone's or a web page's JPEG
SRGB_SCALE = (0.05, 0.3)                 # sRGB values x k
GAMMA = (2.0, 4.0)                       # sRGB values ** g: the shadows sink faster than the highlights
EXPOSURE = (0.03, 0.3)                   # linear light x e, no noise


def _bytes(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)


def sensor(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The training pipeline's model: linear exposure and gamma, colour cast, shot and read noise, no JPEG."""
    return Degradation(jpeg_prob=0.0)(image, rng)


def srgb_scale(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _bytes(image / 255 * rng.uniform(*SRGB_SCALE))


def gamma(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _bytes((image / 255) ** rng.uniform(*GAMMA))


def exposure(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _bytes(linear_to_srgb(srgb_to_linear(image / 255) * rng.uniform(*EXPOSURE)))


def jpeg(image: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


PLAIN: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "sensor": sensor, "srgb-scale": srgb_scale, "gamma": gamma, "exposure": exposure}
FAMILIES = [*PLAIN, *(f"{name}+jpeg" for name in PLAIN)]


def darken(image: np.ndarray, family: str, seed: int = 0, name: str = "") -> np.ndarray:
    """`image` (H, W, 3) uint8 darkened by `family` (one of FAMILIES), its strength fixed by (seed, family,
    name); (H, W, 3) uint8."""
    if family not in FAMILIES:
        raise ValueError(f"darkening family must be one of {', '.join(FAMILIES)}; got {family!r}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image; got {image.dtype} {image.shape}")
    base = family.removesuffix("+jpeg")
    dark = PLAIN[base](image, np.random.default_rng(name_seed(seed, f"{base}:{name}")))
    return jpeg(dark) if family.endswith("+jpeg") else dark
