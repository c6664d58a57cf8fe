"""One process per GPU through torchrun (PyTorch DDP); the same code runs as a single process."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Process:
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup(device: str = "auto") -> Process:
    """Join the process group torchrun describes (WORLD_SIZE > 1), or run alone. NCCL on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device=cuda was asked for, but torch sees no CUDA GPU; use device=cpu")
        dev = torch.device("cuda", local_rank if world > 1 else (dev.index or 0))
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Process(rank, world, dev)


def all_sum(values: list[float], process: Process) -> list[float]:
    """Element-wise sum of `values` over every process (float64)."""
    if process.world == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=process.device)
    dist.all_reduce(t)
    return t.tolist()


def all_gather(value: float, process: Process) -> list[float]:
    """`value` from every process, in rank order."""
    if process.world == 1:
        return [value]
    t = torch.tensor([value], dtype=torch.float64, device=process.device)
    out = [torch.zeros_like(t) for _ in range(process.world)]
    dist.all_gather(out, t)
    return [float(o) for o in out]


def all_gather_objects(value: object, process: Process) -> list:
    """`value` (any picklable object) from every process, in rank order."""
    if process.world == 1:
        return [value]
    out: list = [None] * process.world
    dist.all_gather_object(out, value)
    return out


def broadcast_text(text: str | None, process: Process) -> str:
    """Rank 0's `text`, on every process."""
    if process.world == 1:
        return text
    box = [text]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(process: Process) -> None:
    if process.world > 1:
        dist.barrier()


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
