"""The datasets and loaders of a training run: a built-in task or an ImageNet-layout folder, sharded
over processes, in an order fixed by (seed, epoch)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from ..data import TASKS, EvalTransform, ImageFolder, TensorImages, TrainTransform, collate, generate
from ..models.checkpoint import read_checkpoint, write_safetensors
from .config import TrainConfig
from .distributed import Process


@dataclass
class Datasets:
    train: Dataset
    val: Dataset
    classes: list[str]
    source: str           # what a person reads in the log


def cache_dir() -> Path:
    return Path(os.environ.get("SAGA_CACHE", Path.home() / ".cache" / "saga-attention"))


def builtin_split(task: str, split: str, size: int, count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A built-in task's split, generated once and cached (safetensors) under $SAGA_CACHE."""
    path = cache_dir() / f"{task}-{split}-{size}px-{count}-seed{seed}.safetensors"
    if path.is_file():
        try:
            tensors, _ = read_checkpoint(path)
            return tensors["images"], tensors["labels"]
        except (ValueError, KeyError) as err:
            print(f"regenerating {path}: the cached file is unreadable ({err})", flush=True)
    images, labels = generate(task, split, size, count, seed)
    write_safetensors({"images": images, "labels": labels}, path, {"task": task, "split": split})
    return images, labels


def build_datasets(config: TrainConfig) -> Datasets:
    """config.data names a built-in task, or a folder holding train/ and val/ (ImageNet layout)."""
    if config.data in TASKS:
        classes = [str(i) for i in range(TASKS[config.data][1])]
        parts = [builtin_split(config.data, split, config.img_size, count, config.data_seed)
                 for split, count in (("train", config.train_size), ("val", config.val_size))]
        return Datasets(TensorImages(*parts[0], classes, hflip=config.hflip), TensorImages(*parts[1], classes),
                        classes, f"built-in task {config.data!r} (seed {config.data_seed})")
    root = Path(config.data)
    if not (root / "train").is_dir() or not (root / "val").is_dir():
        raise ValueError(f"data={config.data!r} is neither a built-in task ({', '.join(TASKS)}) nor a folder "
                         "with train/ and val/ subfolders (ImageNet layout: <split>/<class>/<image>)")
    train = ImageFolder(root / "train", TrainTransform(config.img_size, tuple(config.crop_scale), config.hflip))
    val = ImageFolder(root / "val", EvalTransform(config.img_size), classes=train.classes)
    return Datasets(train, val, train.classes, f"folder {str(root)!r}")


def shard(length: int, process: Process, shuffle_seed: int | None) -> list[int]:
    """This process's indices. Shuffled: a permutation fixed by the seed, padded to equal shards (every
    process takes the same number of steps); not shuffled: every index exactly once."""
    if shuffle_seed is None:
        return list(range(process.rank, length, process.world))
    order = torch.randperm(length, generator=torch.Generator().manual_seed(shuffle_seed)).tolist()
    order += order[:(-length) % process.world]
    return order[process.rank::process.world]


def loader(dataset: Dataset, config: TrainConfig, process: Process, epoch_seed: int | None) -> DataLoader:
    """Training loader (epoch_seed given: shuffled, full batches only) or evaluation loader (None)."""
    train = epoch_seed is not None
    generator = torch.Generator().manual_seed(epoch_seed if train else config.seed)   # worker seeds
    return DataLoader(dataset, batch_size=config.batch_size, sampler=shard(len(dataset), process, epoch_seed),
                      num_workers=config.workers, collate_fn=collate, drop_last=train, generator=generator,
                      pin_memory=process.device.type == "cuda", persistent_workers=False)
