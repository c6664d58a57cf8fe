"""The loaders of a run: a dataset sharded over processes, in an order fixed by (seed, epoch)."""
from __future__ import annotations

from typing import Callable

import torch
from torch.utils.data import DataLoader, Dataset

from .distributed import Process
from .engine_settings import TrainConfig


def shard(length: int, process: Process, shuffle_seed: int | None) -> list[int]:
    """This process's indices. Shuffled: a permutation fixed by the seed, padded to equal shards (every
    process takes the same number of steps); not shuffled: every index exactly once."""
    if shuffle_seed is None:
        return list(range(process.rank, length, process.world))
    order = torch.randperm(length, generator=torch.Generator().manual_seed(shuffle_seed)).tolist()
    order += order[:(-length) % process.world]
    return order[process.rank::process.world]


def loader(dataset: Dataset, config: TrainConfig, process: Process, epoch_seed: int | None,
           collate: Callable[[list], tuple]) -> DataLoader:
    """Training loader (epoch_seed given: shuffled, full batches only) or evaluation loader (None)."""
    train = epoch_seed is not None
    engine = config.engine
    generator = torch.Generator().manual_seed(epoch_seed if train else engine.seed)   # worker seeds
    return DataLoader(dataset, batch_size=engine.batch_size, sampler=shard(len(dataset), process, epoch_seed),
                      num_workers=engine.workers, collate_fn=collate, drop_last=train, generator=generator,
                      pin_memory=process.device.type == "cuda", persistent_workers=False)
