"""Built-in procedural tasks that need global context and selective retrieval.

Every image is generated from (task seed, split, index) alone, so a split is the same on every
machine, and train and validation never share an image. Images are uint8 (3, S, S), S in 64..224.

pathfinder (2 classes), after the Long Range Arena's Pathfinder: two smooth white curves that
  never touch each other; two red dots mark curve ends. Label 1 when both dots end the same curve,
  0 when they end different curves. Both classes have the same curves, ink and dots, and the same
  spread of distances between the dots (a scene is kept only when an end of the distractor is about as far
  from the first curve's start as its own end): only following a curve from one dot to the other tells
  them apart. (Version 1 had four curves, white dots and no distance matching: no model learned it
  in 15 epochs, and the dots' distance alone gave 60%.)
match (4 classes), a retrieval task: a white query glyph in the top-left corner, four candidate
  glyphs elsewhere, in four colours (a random order of a fixed palette). Exactly one candidate has
  the query's shape; the label is its colour. Every image holds every colour and five glyphs, so a
  model that averages its features and reads them out linearly cannot tell the classes apart: it
  must find the candidate that matches the query, then read its colour.
symmetry (2 classes), a task of whole-image interactions: a 16 x 16 grid of coloured cells whose right half
  mirrors its left half (label 1), or mirrors it with two cells of the right half recoloured (label 0). Each
  cell must be compared with its mirror image across the whole width; colour counts and any pooled statistic
  are alike in both classes.

A stream (StreamedTask) draws fresh training images for every epoch from (seed, epoch, index): no image is seen
twice, and a run is still reproducible from its seed.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

MIN_SIZE, MAX_SIZE = 64, 224
SPLITS = {"train": 0, "val": 1, "stream": 2}     # a stream's images never repeat a fixed split's
GENERATOR_VERSION = 2          # part of the cache's file names: a changed generator never reads old files

PATHFINDER_CURVES = 2          # the curve both dots may end, and a distractor
PATHFINDER_LENGTH = (0.4, 0.7)  # curve length, as a fraction of the image side
PATHFINDER_DOT = np.array([255, 40, 40], dtype=np.uint8)
MATCH_GLYPHS = 8               # glyph shapes in the bank
MATCH_CANDIDATES = 4           # candidates per image, one per palette colour
MATCH_PALETTE = np.array([[230, 40, 40], [40, 200, 60], [50, 90, 240], [240, 210, 40]], dtype=np.uint8)


def _rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, SPLITS[split], index])


def _curve(rng: np.random.Generator, size: int, length: float) -> np.ndarray:
    """(P, 2) points of a smooth random curve, about 0.5 px apart, bouncing off the canvas's margins."""
    low, span = size * 0.06, size * 0.88
    steps = int(length / 0.5)
    turn = np.cumsum(rng.normal(0.0, 0.06, steps)) + rng.uniform(0, 2 * np.pi)
    points = rng.uniform(0, span, 2) + np.cumsum(0.5 * np.stack([np.cos(turn), np.sin(turn)], 1), axis=0)
    return low + span - np.abs(np.mod(points, 2 * span) - span)


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a (H, W) mask by `radius` pixels (a square): a pixel is set when its (2r+1)^2 window, clipped to the
    canvas, holds a set pixel; the window sums come from a summed-area table."""
    table = np.pad(mask.astype(np.int32), ((1, 0), (1, 0))).cumsum(0).cumsum(1)      # (H+1, W+1)
    rows = np.arange(mask.shape[0])
    cols = np.arange(mask.shape[1])
    r0, r1 = np.clip(rows - radius, 0, None), np.clip(rows + radius + 1, None, mask.shape[0])
    c0, c1 = np.clip(cols - radius, 0, None), np.clip(cols + radius + 1, None, mask.shape[1])
    window = table[r1][:, c1] - table[r0][:, c1] - table[r1][:, c0] + table[r0][:, c0]
    return window > 0


def _dots(curves: list[np.ndarray], label: int, tolerance: float) -> list[np.ndarray] | None:
    """The two dots: the start of curve 0 and its end (label 1) or the end of curve 1 whose distance from that
    start is closest to curve 0's end-to-end distance (label 0). None, whatever the label, when that end of
    curve 1 is more than `tolerance` pixels off: both labels then come from the same scenes."""
    start, end = curves[0][0], curves[0][-1]
    reach = np.hypot(*(end - start))
    other = min((curves[1][0], curves[1][-1]), key=lambda p: abs(np.hypot(*(p - start)) - reach))
    if abs(np.hypot(*(other - start)) - reach) > tolerance:
        return None
    return [start, end if label else other]


def pathfinder_scene(rng: np.random.Generator, size: int) -> tuple[np.ndarray, int, list[np.ndarray]]:
    """A pathfinder image (3, size, size) uint8, its label and the two dots' centres (x, y)."""
    width, radius = max(1, size // 64), size / 20          # line half-width and dot radius, in pixels
    gap = int(radius) + width + 1                           # centre lines keep this far apart: nothing touches
    label = int(rng.integers(2))
    dots = None
    while dots is None:
        taken = np.zeros((size, size), bool)
        curves: list[np.ndarray] = []
        while len(curves) < PATHFINDER_CURVES:
            points = _curve(rng, size, rng.uniform(*PATHFINDER_LENGTH) * size)
            pix = np.round(points).astype(int)
            if taken[pix[:, 1], pix[:, 0]].any():
                if rng.random() < 0.02:           # a crowded canvas: start it again
                    taken[:], curves = False, []
                continue
            curves.append(points)
            if len(curves) < PATHFINDER_CURVES:            # the last curve's surroundings are never looked at
                line = np.zeros((size, size), bool)
                line[pix[:, 1], pix[:, 0]] = True
                taken |= _dilate(line, gap)
        dots = _dots(curves, label, tolerance=radius)
    canvas = np.zeros((size, size), bool)
    for points in curves:
        pix = np.round(points).astype(int)
        canvas[pix[:, 1], pix[:, 0]] = True
    image = np.repeat(_dilate(canvas, width)[None].astype(np.uint8) * 255, 3, axis=0)
    yy, xx = np.mgrid[:size, :size]
    for x, y in dots:
        image[:, (xx - x) ** 2 + (yy - y) ** 2 <= radius ** 2] = PATHFINDER_DOT[:, None]
    return image, label, dots


def _pathfinder(rng: np.random.Generator, size: int) -> tuple[np.ndarray, int]:
    return pathfinder_scene(rng, size)[:2]


def _glyph_bank() -> np.ndarray:
    """(MATCH_GLYPHS, 5, 5) distinct binary shapes, the same in every run."""
    rng = np.random.default_rng(1234)
    bank: list[np.ndarray] = []
    while len(bank) < MATCH_GLYPHS:
        glyph = rng.random((5, 5)) < 0.5
        if 8 <= glyph.sum() <= 17 and all((glyph != g).sum() >= 6 for g in bank):
            bank.append(glyph)
    return np.stack(bank)


_GLYPHS = _glyph_bank()


def _match(rng: np.random.Generator, size: int) -> tuple[np.ndarray, int]:
    cell = size // 8                          # an 8 x 8 grid; a glyph fills most of a cell
    scale = max(1, (cell - 2) // 5)
    shapes = rng.choice(MATCH_GLYPHS, MATCH_CANDIDATES, replace=False)
    target = int(rng.integers(MATCH_CANDIDATES))
    colours = rng.permutation(MATCH_CANDIDATES)
    free = [(r, c) for r in range(8) for c in range(8) if r >= 2 or c >= 2]   # the corner 2 x 2 cells hold the query
    cells = rng.choice(len(free), MATCH_CANDIDATES, replace=False)
    image = np.zeros((3, size, size), np.uint8)

    def draw(shape: int, row: int, col: int, colour: np.ndarray, jitter: bool) -> None:
        pixels = np.kron(_GLYPHS[shape], np.ones((scale, scale), bool))
        room = cell - pixels.shape[0]
        dy, dx = rng.integers(0, room + 1, 2) if jitter else (room // 2, room // 2)
        y, x = row * cell + dy, col * cell + dx
        image[:, y:y + pixels.shape[0], x:x + pixels.shape[1]][:, pixels] = colour[:, None]

    draw(int(shapes[target]), 0, 0, np.array([255, 255, 255], np.uint8), jitter=False)
    for i, cell_index in enumerate(cells):
        row, col = free[cell_index]
        draw(int(shapes[i]), row, col, MATCH_PALETTE[colours[i]], jitter=True)
    return image, int(colours[target])


SYMMETRY_GRID = 16             # cells per side
SYMMETRY_CHANGED = 2           # cells of the right half recoloured in an asymmetric image


def _symmetry(rng: np.random.Generator, size: int) -> tuple[np.ndarray, int]:
    half = SYMMETRY_GRID // 2
    colours = np.concatenate([np.zeros((1, 3), np.uint8), MATCH_PALETTE])    # black and the four colours
    left = rng.integers(len(colours), size=(SYMMETRY_GRID, half))
    cells = np.concatenate([left, left[:, ::-1]], axis=1)
    label = int(rng.integers(2))
    if not label:
        for flat in rng.choice(SYMMETRY_GRID * half, SYMMETRY_CHANGED, replace=False):
            row, col = divmod(int(flat), half)
            cells[row, half + col] = (cells[row, half + col] + rng.integers(1, len(colours))) % len(colours)
    cell = size // SYMMETRY_GRID
    image = np.zeros((3, size, size), np.uint8)
    pixels = colours[cells].repeat(cell, 0).repeat(cell, 1)                     # (G*cell, G*cell, 3)
    margin = (size - cell * SYMMETRY_GRID) // 2
    image[:, margin:margin + pixels.shape[0], margin:margin + pixels.shape[1]] = pixels.transpose(2, 0, 1)
    return image, label


TASKS = {"pathfinder": (_pathfinder, 2), "match": (_match, MATCH_CANDIDATES), "symmetry": (_symmetry, 2)}


def _generate_range(task: str, split: str, size: int, seed: int, start: int, stop: int) -> tuple[np.ndarray, list[int]]:
    pairs = [TASKS[task][0](_rng(seed, split, i), size) for i in range(start, stop)]
    return np.stack([p[0] for p in pairs]), [p[1] for p in pairs]


def generate(task: str, split: str, size: int, count: int, seed: int = 0,
             processes: int | None = None) -> tuple[Tensor, Tensor]:
    """Images (count, 3, size, size) uint8 and labels (count,) int64 of a built-in task's split.

    Large splits are drawn in `processes` worker processes (default: the CPU count); the result is the
    same for any number, since each image depends on (seed, split, index) alone."""
    if task not in TASKS:
        raise ValueError(f"unknown built-in task {task!r}; choose one of {', '.join(TASKS)}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    if not MIN_SIZE <= size <= MAX_SIZE or size % 32:
        raise ValueError(f"built-in tasks have sizes {MIN_SIZE}..{MAX_SIZE} divisible by 32; got {size}")
    if count < 1:
        raise ValueError(f"count must be >= 1; got {count}")
    processes = min(processes or os.cpu_count() or 1, max(1, count // 500))
    bounds = np.linspace(0, count, processes + 1).astype(int)
    jobs = [(task, split, size, seed, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    if processes == 1:
        parts = [_generate_range(*jobs[0])]
    else:
        with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = list(pool.map(_generate_range, *zip(*jobs)))
    images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    return images, torch.tensor([label for p in parts for label in p[1]], dtype=torch.int64)


class StreamedTask(Dataset):
    """Training images of a built-in task drawn anew every epoch: item i of epoch e is image e * length + i of
    the task's stream, generated in the loader's workers. set_epoch(e) before each epoch's loader is made."""

    def __init__(self, task: str, size: int, length: int, seed: int = 0) -> None:
        if task not in TASKS:
            raise ValueError(f"unknown built-in task {task!r}; choose one of {', '.join(TASKS)}")
        self.task, self.size, self.length, self.seed, self.epoch = task, size, length, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def stream_index(self, index: int) -> int:
        return self.epoch * self.length + index

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[Tensor, int, str]:
        image, label = TASKS[self.task][0](_rng(self.seed, "stream", self.stream_index(index)), self.size)
        return torch.from_numpy(image), label, ""


def num_classes(task: str) -> int:
    if task not in TASKS:
        raise ValueError(f"unknown built-in task {task!r}; choose one of {', '.join(TASKS)}")
    return TASKS[task][1]
