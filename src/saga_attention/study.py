"""`saga rank`: the rank of attention states and maps across layers, for trained runs or fresh models."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor, nn

from .analysis import load_photos
from .analysis.rank import model_ranks, plot_rank_curves, summarize
from .data import TASKS, EvalTransform, ImageFolder, collate, generate, normalize
from .models import create_model, list_models, load_checkpoint
from .train.data import class_names
from .train.loop import BEST, build_model, run_config


def folder_images(root: str | Path, size: int, count: int) -> Tensor:
    """The first `count` readable images of an ImageNet-layout split folder, (B, 3, size, size) uint8."""
    dataset = ImageFolder(root, EvalTransform(size))
    step = max(1, len(dataset) // count)
    images, _, problems = collate([dataset[i] for i in range(0, len(dataset), step)][:count])
    if problems:
        print(f"skipped {len(problems)} unreadable file(s): {'; '.join(problems[:3])}")
    return images


def source_model(source: str, size: int, count: int, images_dir: str | None) -> tuple[nn.Module, Tensor]:
    """A trained run folder (its best weights and validation images) or a registered model name (fresh
    weights; images from `images_dir` or scikit-image's photographs)."""
    path = Path(source)
    if path.is_dir():
        config = run_config(path)
        model = load_checkpoint(build_model(config, len(class_names(config))), path / BEST)
        if images_dir:
            return model, folder_images(images_dir, config.img_size, count)
        if config.data in TASKS:
            return model, generate(config.data, "val", config.img_size, count, config.data_seed)[0]
        return model, folder_images(Path(config.data) / "val", config.img_size, count)
    if source not in list_models():
        raise ValueError(f"{source!r} is neither a run folder nor a model; models: {', '.join(list_models())}")
    torch.manual_seed(0)
    model = create_model(source, img_size=size)
    if images_dir:
        return model, folder_images(images_dir, size, count)
    return model, (load_photos(size) * 255).round().to(torch.uint8)


def run_rank(sources: Sequence[str], out_dir: str | Path, size: int = 224, count: int = 8,
             images_dir: str | None = None, map_tokens: int = 64, device: str = "cpu") -> dict[str, list[dict]]:
    """rank.json, rank.md and rank.png (one curve per source) in out_dir; returns the per-layer rows."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for source in sources:
        model, images = source_model(source, size, count, images_dir)
        label = Path(source).name if Path(source).is_dir() else source
        results[label] = model_ranks(model.to(device), normalize(images.to(device)), map_tokens)
        print(f"{label}: {len(results[label])} attention layers on {len(images)} images", flush=True)
    (out / "rank.json").write_text(json.dumps(results, indent=2) + "\n")
    table = summarize(results)
    (out / "rank.md").write_text(table)
    plot_rank_curves(results, out / "rank.png", "effective rank across layers")
    print(table + f"wrote {out / 'rank.json'}, {out / 'rank.md'} and {out / 'rank.png'}")
    return results
