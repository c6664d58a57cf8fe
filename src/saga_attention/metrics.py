"""Image quality as the low-light enhancement papers report it: PSNR and SSIM of the output as it would be saved
(clamped to [0, 1], rounded to 8 bits), and their "GT-mean" variants. Pure functions: tensors in, floats out.

SSIM is Wang et al.'s: an 11x11 Gaussian window (sigma 1.5), per RGB channel on the 0-255 range, averaged
over the window positions that lie inside the image and over channels; it equals scikit-image's
`structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)`.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

SSIM_SIGMA, SSIM_RADIUS = 1.5, 5          # scikit-image's window: radius int(3.5 * sigma + 0.5) = 5, 11 x 11
GRAY = (0.299, 0.587, 0.114)


def _check(output: Tensor, target: Tensor) -> None:
    if output.shape != target.shape or output.dim() != 4 or output.shape[1] != 3:
        raise ValueError(f"output and target must both be (B, 3, H, W) images; got {tuple(output.shape)} and "
                         f"{tuple(target.shape)}")


def to_8bit(images: Tensor) -> Tensor:
    """(B, 3, H, W) in [0, 1] -> the 0-255 values an 8-bit file would hold, float64."""
    return (images.detach().double().clamp(0, 1) * 255).round()


def psnr(output: Tensor, target: Tensor) -> list[float]:
    """PSNR (dB) of each image of the batch: 8-bit output against 8-bit target, RGB, no border crop."""
    _check(output, target)
    mse = (to_8bit(output) - to_8bit(target)).square().flatten(1).mean(1)
    return [math.inf if m == 0 else 10 * math.log10(255 ** 2 / m) for m in mse.tolist()]


def _gaussian_window(device: torch.device) -> Tensor:
    x = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=torch.float64, device=device)
    g = torch.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(3, 1, -1, -1)          # (3, 1, 11, 11), one per channel


def ssim_map(x: Tensor, y: Tensor) -> Tensor:
    """SSIM of every window position inside the image, (B, 3, H-10, W-10), for float images on the 0-255 range;
    differentiable (the loss uses it on unrounded outputs)."""
    window = _gaussian_window(x.device).to(x.dtype)

    def blur(t: Tensor) -> Tensor:       # only window positions inside the image, as scikit-image averages
        return F.conv2d(t, window, groups=3)

    mx, my = blur(x), blur(y)
    vx, vy, vxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    return ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def ssim(output: Tensor, target: Tensor) -> list[float]:
    """SSIM of each image of the batch (8-bit values, per channel, mean over channels)."""
    _check(output, target)
    if min(output.shape[-2:]) < 2 * SSIM_RADIUS + 1:
        raise ValueError(f"SSIM needs images of at least {2 * SSIM_RADIUS + 1} x {2 * SSIM_RADIUS + 1} pixels; got "
                         f"{output.shape[-2]} x {output.shape[-1]}")
    return ssim_map(to_8bit(output), to_8bit(target)).flatten(2).mean(2).mean(1).tolist()


def gt_mean(output: Tensor, target: Tensor) -> Tensor:
    """The output rescaled so that its mean gray level equals the target's (the "GT-mean" protocol), per image;
    only for the extra columns, never in place of the plain metrics."""
    _check(output, target)
    weights = output.new_tensor(GRAY).view(1, 3, 1, 1)
    gray_out = (output.clamp(0, 1) * weights).sum(1).flatten(1).mean(1)
    gray_target = (target.clamp(0, 1) * weights).sum(1).flatten(1).mean(1)
    scale = gray_target / gray_out.clamp_min(1e-8)
    return (output.clamp(0, 1) * scale.view(-1, 1, 1, 1)).clamp(0, 1)


def image_scores(output: np.ndarray, target: Tensor) -> tuple[float, float]:
    """PSNR and SSIM of one (H, W, 3) image in [0, 1] against a (1, 3, H, W) target."""
    x = torch.from_numpy(np.ascontiguousarray(output, dtype=np.float32)).permute(2, 0, 1)[None]
    return psnr(x, target)[0], ssim(x, target)[0]


# Colour and smoothness, on (H, W, 3) float images in [0, 1] (what a person sees in an enhanced photo).
# Gradients are taken of the luminance averaged over 5 x 5 pixels (in 8-bit levels per pixel): grain averages out,
# the step between two flat blotches stays.
SMOOTH_LEVELS = 0.5        # the target's gradient below this (its 5 x 5 maximum): a smooth region
EDGE_LEVELS = 2.0          # the output's gradient above this, where the target is smooth: a false edge


def ciede2000(output: np.ndarray, target: np.ndarray) -> float:
    """The mean CIEDE2000 colour difference (1: just noticeable; above 10: another colour)."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    return float(deltaE_ciede2000(rgb2lab(np.clip(output, 0, 1)), rgb2lab(np.clip(target, 0, 1))).mean())


def saturation_ratio(output: np.ndarray, target: np.ndarray) -> float:
    """Mean CIELAB chroma of the output over the target's: 1 keeps the colours, below 1 washes them out (NaN
    for a target without colour)."""
    from skimage.color import rgb2lab

    def chroma(x: np.ndarray) -> float:
        lab = rgb2lab(np.clip(x, 0, 1))
        return float(np.hypot(lab[..., 1], lab[..., 2]).mean())

    wanted = chroma(target)
    return chroma(output) / wanted if wanted >= 1.0 else float("nan")


def _luma_levels(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) in [0, 1] -> (H, W) luma (Rec. 601 weights) in 8-bit levels."""
    return np.clip(image, 0, 1) @ np.array([0.299, 0.587, 0.114]) * 255


def _gradient_levels(image: np.ndarray) -> np.ndarray:
    """Gradient magnitude of the 5 x 5 mean of the luminance, in 8-bit levels per pixel, (H, W)."""
    from scipy.ndimage import uniform_filter

    y = uniform_filter(_luma_levels(image), size=5)
    gy, gx = np.gradient(y)
    return np.hypot(gx, gy)


def _smooth(target: np.ndarray) -> np.ndarray:
    """(H, W) bool: where the target is smooth, its luminance gradient under SMOOTH_LEVELS within 5 x 5."""
    from scipy.ndimage import maximum_filter

    return maximum_filter(_gradient_levels(target), size=5) < SMOOTH_LEVELS


def grid(output: np.ndarray, target: np.ndarray) -> float:
    """The amplitude (8-bit levels) of a checkerboard in the output where the target is smooth: the pattern of
    alternate rows or columns that strided convolutions and pixel shuffles can leave, which banding's 5 x 5 mean
    does not see. Per pixel and axis, the second difference signed by the pixel's parity, its median over 9
    pixels along the axis (a pattern of period 2 keeps its value, a single step or noise does not) and its mean
    over 8 across; the mean over the target's smooth pixels."""
    from scipy.ndimage import correlate1d, median_filter, uniform_filter1d

    smooth = _smooth(target)
    if not smooth.any():
        return 0.0
    y = _luma_levels(output)
    parity = np.indices(y.shape)
    parts = []
    for axis in (0, 1):
        signed = correlate1d(y, [-1.0, 2.0, -1.0], axis=axis, mode="reflect") * (-1.0) ** parity[axis]
        along = median_filter(signed, size=(9, 1) if axis == 0 else (1, 9), mode="reflect")
        parts.append(uniform_filter1d(along, 8, axis=1 - axis, mode="reflect") / 2)
    return float(np.hypot(*parts)[smooth].mean())


def banding(output: np.ndarray, target: np.ndarray) -> float:
    """The share (%) of the target's smooth pixels where the output has an edge: the blotches and steps that
    posterised skies and flat walls show."""
    smooth = _smooth(target)
    if not smooth.any():
        return 0.0
    return float((_gradient_levels(output)[smooth] > EDGE_LEVELS).mean() * 100)
