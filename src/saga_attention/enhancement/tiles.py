"""Whole-image inference when it fits in memory; otherwise the exact banded pass of the low-light nets that have
one (SAGA and linear mixers: models/llie_bands.py), or overlapping tiles blended without seams.

Tiles overlap by `overlap` pixels; each tile's output is weighted by a ramp that rises across the overlap
(never at the image border) and the weighted outputs are averaged, so no tile edge shows. The memory a
forward pass needs is measured on the device at two small sizes and extrapolated linearly in pixels.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
from torch import Tensor, nn

from ..measure import MIB, peak_memory_mib
from ..models.llie_bands import stages
from ..progress import progress as progress_bar

CALIBRATION_SIDES = (128, 256)
MIN_TILE = 64
MIN_BAND = 8
CPU_BAND = 32      # rows of a banded pass on the CPU, where it beats one pass: see the README's bench
GPU_BAND = 256     # rows of a banded pass on a GPU: as fast as one pass at 3840x2160, faster above (H200)
GPU_WHOLE_PIXELS = 3840 * 2160   # above this a GPU runs bands even when one pass fits


class Plan(NamedTuple):
    """How one image runs: "whole" (size 0), "bands" of `size` rows, or "tiles" of `size` x `size`."""

    kind: str
    size: int = 0


@dataclass(frozen=True)
class MemoryModel:
    """Peak bytes of one forward pass: fixed + per_pixel * H * W (measured at two sizes)."""

    fixed: float
    per_pixel: float

    def bytes(self, h: int, w: int) -> float:
        return self.fixed + self.per_pixel * h * w

    def largest_band(self, budget: float, h: int, w: int, resident: float, multiple: int = MIN_BAND) -> int:
        """The most rows (a multiple of `multiple`) of a banded pass over an h x w image that fit in `budget` bytes,
        0 if none: `resident` bytes per pixel stay for the whole image, and a band of r rows is taken to need
        twice what a one-pass image of r x w needs (its halo and the mixers' second read)."""
        left = budget - self.fixed - resident * h * w
        rows = int(left / (2 * max(self.per_pixel, 1.0) * w)) if left > 0 else 0
        return rows // multiple * multiple

    def largest_tile(self, budget: float, multiple: int = MIN_TILE) -> int:
        """The largest square tile side (a multiple of `multiple`) whose pass fits in `budget` bytes; 0 if none."""
        side = int(((budget - self.fixed) / max(self.per_pixel, 1.0)) ** 0.5) if budget > self.fixed else 0
        return side // multiple * multiple


def calibrate(run: Callable[[Tensor], Tensor], device: torch.device, dtype: torch.dtype) -> MemoryModel:
    """Measure the peak memory of `run` on noise images at CALIBRATION_SIDES and fit fixed + per-pixel."""
    peaks = []
    for side in CALIBRATION_SIDES:
        x = torch.rand(1, 3, side, side, device=device, dtype=dtype)
        peak, _ = peak_memory_mib(lambda: run(x), device)
        peaks.append((peak or 0.0) * MIB)
    (s0, s1), (p0, p1) = CALIBRATION_SIDES, peaks
    per_pixel = max((p1 - p0) / (s1 * s1 - s0 * s0), p1 / (s1 * s1) / 2)      # never below half the average
    return MemoryModel(max(p1 - per_pixel * s1 * s1, 0.0), per_pixel)


def available_bytes(device: torch.device) -> int:
    """Memory free for one pass: 80% of the GPU's free memory, or 70% of the RAM the system calls available."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * 0.8)
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(int(fields["MemAvailable"].split()[0]) * 1024 * 0.7)
    except (OSError, KeyError, ValueError):
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") * 0.7)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of `tile` pixels covering `length`, overlapping by at least `overlap`."""
    if length <= tile:
        return [0]
    step = max(tile - overlap, 1)
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def ramp(length: int, overlap: int, rise: bool, fall: bool, device: torch.device) -> Tensor:
    """(length,) weights: rising over the first `overlap` pixels (if `rise`), falling over the last (if `fall`)."""
    weights = torch.ones(length, device=device)
    n = min(overlap, length // 2)
    if n:
        edge = (torch.arange(n, device=device, dtype=torch.float32) + 0.5) / n
        if rise:
            weights[:n] = edge
        if fall:
            weights[-n:] = edge.flip(0)
    return weights


@torch.inference_mode()
def run_tiled(run: Callable[[Tensor], Tensor], image: Tensor, tile: int, overlap: int,
              progress: bool = False) -> Tensor:
    """`run` over overlapping tile x tile windows of image (1, 3, H, W), blended; the result stays on the image's
    device in float32."""
    _, c, h, w = image.shape
    th, tw = min(tile, h), min(tile, w)
    ys, xs = tile_starts(h, th, overlap), tile_starts(w, tw, overlap)
    out = torch.zeros(1, c, h, w, dtype=torch.float32, device=image.device)
    total = torch.zeros(1, 1, h, w, dtype=torch.float32, device=image.device)
    windows = [(y, x) for y in ys for x in xs]
    for y, x in progress_bar(windows, enabled=progress and len(windows) > 1, desc="tiles", unit="tile", leave=False):
        pred = run(image[..., y:y + th, x:x + tw]).float()
        wy = ramp(th, overlap, y > 0, y + th < h, image.device)
        wx = ramp(tw, overlap, x > 0, x + tw < w, image.device)
        weight = wy[:, None] * wx[None, :]
        out[..., y:y + th, x:x + tw] += pred * weight
        total[..., y:y + th, x:x + tw] += weight
    return out / total


def plan_tile(memory: MemoryModel, h: int, w: int, budget: float, tile: int | None) -> int | None:
    """None for one whole-image pass, or the tile side: `tile` when forced, else the largest that fits."""
    if tile:
        return tile
    if memory.bytes(h, w) <= budget:
        return None
    side = memory.largest_tile(budget)
    if side < MIN_TILE:
        raise ValueError(f"even a {MIN_TILE} x {MIN_TILE} tile needs {memory.bytes(MIN_TILE, MIN_TILE) / MIB:.0f} MiB, "
                         f"above the memory limit of {budget / MIB:.0f} MiB; raise --max-memory")
    return side


def plan_bands(memory: MemoryModel, h: int, w: int, budget: float, resident: float, device: torch.device) -> Plan:
    """For a net with a banded pass: bands of CPU_BAND rows on the CPU (faster than one pass there, and leaner);
    on a GPU one pass up to GPU_WHOLE_PIXELS when it fits, else bands of GPU_BAND rows or as many as fit."""
    rows = memory.largest_band(budget, h, w, resident)
    if device.type != "cpu" and memory.bytes(h, w) <= budget and h * w <= GPU_WHOLE_PIXELS:
        return Plan("whole")
    if rows < MIN_BAND:
        raise ValueError(f"a banded pass over {w} x {h} needs more than the memory limit of {budget / MIB:.0f} MiB "
                         f"(about {(memory.fixed + resident * h * w) / MIB:.0f} MiB stay for the whole image); "
                         "raise --max-memory")
    return Plan("bands", min(rows, CPU_BAND if device.type == "cpu" else GPU_BAND))


def run_plan(model: nn.Module, image: Tensor, plan: Plan, overlap: int, progress: bool) -> Tensor:
    """The model on image (1, 3, H, W) as planned; float32 on the image's device."""
    if plan.kind == "tiles":
        return run_tiled(model, image, plan.size, overlap, progress)
    with torch.inference_mode():
        if plan.kind == "whole":
            return model(image).float()
        with progress_bar(enabled=progress, total=stages(model), desc="blocks", unit="block", leave=False) as bar:
            return model(image, band_rows=plan.size, progress=bar.update).float()
