"""`saga rank`: the rank of attention states and maps across layers, for trained runs or fresh models."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor, nn

from .analysis import load_photos
from .analysis.rank import model_ranks, plot_rank_curves, summarize
from .data import EvalTransform, ImageFolder, collate, normalize
from .models import create_model, parse_model_spec
from .runs import make_dir
from .train.engine import load_run


def folder_images(root: str | Path, size: int, count: int) -> Tensor:
    """The first `count` readable images of an ImageNet-layout split folder, (B, 3, size, size) uint8."""
    dataset = ImageFolder(root, EvalTransform(size))
    step = max(1, len(dataset) // count)
    images, _, problems = collate([dataset[i] for i in range(0, len(dataset), step)][:count])
    if problems:
        print(f"skipped {len(problems)} unreadable file(s): {'; '.join(problems[:3])}")
    return images


def source_model(source: str, size: int, count: int, images_dir: str | None) -> tuple[nn.Module, Tensor, str]:
    """(model, images, label) of a trained run folder (its best weights and validation images) or of a model
    spec (fresh weights; images from `images_dir` or scikit-image's photographs)."""
    path = Path(source)
    if path.is_dir():
        model, task = load_run(path)
        config = task.config
        label = config.engine.model
        if images_dir:
            return model, folder_images(images_dir, config.task.img_size, count), label
        dataset = task.eval_dataset()
        step = max(1, len(dataset) // count)
        return model, task.collate([dataset[i] for i in range(0, len(dataset), step)][:count])[0], label
    torch.manual_seed(0)
    model = create_model(parse_model_spec(source), img_size=size)
    if images_dir:
        return model, folder_images(images_dir, size, count), source
    return model, (load_photos(size) * 255).round().to(torch.uint8), source


def caveats(sources: Sequence[str], images: Sequence[Tensor], count: int) -> list[str]:
    """What makes the sources' curves not like for like: trained runs beside fresh weights, different image
    sizes or numbers, fewer images than asked."""
    notes = []
    trained = [Path(s).is_dir() for s in sources]
    if any(trained) and not all(trained):
        notes.append("trained runs and fresh (untrained) weights are compared: their ranks differ by training as "
                     "well as by attention kind")
    sizes = list(dict.fromkeys(f"{im.shape[-2]}x{im.shape[-1]}" for im in images))
    if len(sizes) > 1:
        notes.append(f"the sources saw images of different sizes ({', '.join(sizes)}), so their token counts differ")
    counts = sorted({len(im) for im in images})
    if min(counts) < count:
        notes.append(f"{count} images were asked for; {' or '.join(map(str, counts))} were available")
    return notes


def run_rank(sources: Sequence[str], out_dir: str | Path, size: int = 224, count: int = 8,
             images_dir: str | None = None, map_tokens: int = 64, device: str = "cpu") -> dict[str, list[dict]]:
    """rank.json, rank.md and rank.png (one curve per source) in out_dir; returns the per-layer rows."""
    loaded = [source_model(source, size, count, images_dir) for source in sources]
    labels = [label for _, _, label in loaded]
    notes = caveats(sources, [images for _, images, _ in loaded], count)
    out = make_dir(Path(out_dir))
    results = {}
    for (model, images, label), source in zip(loaded, sources):
        if labels.count(label) > 1:           # the same model twice (two runs): tell them apart by folder
            label = f"{label} ({Path(source).name})"
        results[label] = model_ranks(model.to(device), normalize(images.to(device)), map_tokens)
        print(f"{label}: {len(results[label])} attention layers on {len(images)} images", flush=True)
    (out / "rank.json").write_text(json.dumps(results, indent=2) + "\n")
    table = summarize(results) + "".join(f"\nNote: {note}\n" for note in notes)
    (out / "rank.md").write_text(table)
    plot_rank_curves(results, out / "rank.png", "effective rank across layers")
    print(table + f"wrote {out / 'rank.json'}, {out / 'rank.md'} and {out / 'rank.png'}")
    return results
