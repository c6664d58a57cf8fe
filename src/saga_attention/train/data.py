"""The datasets and loaders of a training run: a built-in task or an ImageNet-layout folder, sharded
over processes, in an order fixed by (seed, epoch)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from ..data import TASKS, EvalTransform, ImageFolder, TensorImages, TrainTransform, class_folders, collate, generate
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


def _folder_root(config: TrainConfig) -> Path:
    root = Path(config.data)
    if not (root / "train").is_dir() or not (root / "val").is_dir():
        raise ValueError(f"data={config.data!r} is neither a built-in task ({', '.join(TASKS)}) nor a folder "
                         "with train/ and val/ subfolders (ImageNet layout: <split>/<class>/<image>)")
    return root


def class_names(config: TrainConfig) -> list[str]:
    """The classes in label order: a built-in task's, or the training folder's class folders."""
    if config.data in TASKS:
        return [str(i) for i in range(TASKS[config.data][1])]
    return class_folders(_folder_root(config) / "train")


def val_dataset(config: TrainConfig, classes: list[str]) -> Dataset:
    if config.data in TASKS:
        split = builtin_split(config.data, "val", config.img_size, config.val_size, config.data_seed)
        return TensorImages(*split, classes)
    return ImageFolder(_folder_root(config) / "val", EvalTransform(config.img_size), classes=classes)


def build_datasets(config: TrainConfig) -> Datasets:
    """config.data names a built-in task, or a folder holding train/ and val/ (ImageNet layout)."""
    classes = class_names(config)
    if config.data in TASKS:
        split = builtin_split(config.data, "train", config.img_size, config.train_size, config.data_seed)
        train, source = TensorImages(*split, classes, hflip=config.hflip), f"built-in task {config.data!r}"
    else:
        transform = TrainTransform(config.img_size, tuple(config.crop_scale), config.hflip)
        train, source = ImageFolder(_folder_root(config) / "train", transform, classes), f"folder {config.data!r}"
    return Datasets(train, val_dataset(config, classes), classes, f"{source} (data seed {config.data_seed})")


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
