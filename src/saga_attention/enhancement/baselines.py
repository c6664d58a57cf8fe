"""What a low-light net has to beat, on (H, W, 3) float images in [0, 1]: one global gain or one gamma chosen
from the dark image alone (no target), CLAHE, and the gain that a target in hand would choose (an oracle)."""
from __future__ import annotations

import numpy as np

from ..data.darkening import gamma_to_mid_gray, linear_to_srgb, srgb_to_linear

GRAY = np.array([0.2126, 0.7152, 0.0722])      # linear-light luminance weights (Rec. 709)
MID_GRAY = 0.18                                 # the mean linear luminance a metered exposure aims at


def _luminance(linear: np.ndarray) -> float:
    return float((linear @ GRAY).mean())


def _scaled(dark: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(linear_to_srgb(np.clip(srgb_to_linear(dark) * gain, 0, 1)), 0, 1)


def gain(dark: np.ndarray) -> np.ndarray:
    """One gain in linear light that brings the mean luminance to mid-gray, as an auto-exposure would."""
    return _scaled(dark, MID_GRAY / max(_luminance(srgb_to_linear(dark)), 1e-4))


def gamma(dark: np.ndarray) -> np.ndarray:
    """dark ** p, the one p that brings the mean sRGB value to mid-gray (data.darkening.gamma_to_mid_gray)."""
    return gamma_to_mid_gray(dark, float(dark.mean())).astype(dark.dtype, copy=False)


def clahe(dark: np.ndarray) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (scikit-image's equalize_adapthist, its defaults)."""
    from skimage.exposure import equalize_adapthist

    return equalize_adapthist(dark).astype(np.float32)


def oracle_gain(dark: np.ndarray, target: np.ndarray) -> np.ndarray:
    """One gain in linear light that gives the target's mean luminance: the best a global exposure can do."""
    wanted = _luminance(srgb_to_linear(target))
    return _scaled(dark, wanted / max(_luminance(srgb_to_linear(dark)), 1e-4))


BASELINES = {"gain": gain, "gamma": gamma, "CLAHE": clahe}     # no target needed
