"""The engine's settings (shared by every task) and the config of a run: the engine's and the task's."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..settings import setting

COMPILE_MODES = ("false", "true", "reduce-overhead")


def default_workers() -> int:
    """DataLoader workers per process: what the machine gives this process, at most 4."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(4, cores)


@dataclass
class EngineSettings:
    """The engine's settings: schedule, optimiser, precision, devices, checkpoints. Shared by every task."""

    task: str = setting("", doc="classify, enhance, ...; empty: the task the model is registered for")
    model: str = setting("", doc="a model spec, name[:key=value,...]; empty: the task's default model")
    workers: int = setting(default_workers(), low=0, doc="DataLoader workers per process")
    batch_size: int = setting(128, low=1, doc="per process")
    epochs: int = setting(300, low=1, high=100_000)
    lr: float = setting(5e-4, above=0, doc="peak learning rate (a task may scale it with the batch)")
    min_lr: float = setting(1e-5, low=0, doc="the cosine schedule's floor")
    warmup_epochs: float = setting(5.0, low=0, high=100_000, doc="linear warmup; at most a fifth of the run")
    weight_decay: float = setting(0.05, low=0)
    clip_grad: float = setting(0.0, low=0, doc="max gradient norm; 0 = off")
    ema_decay: float = setting(0.0, low=0, below=1, doc="0 = no EMA; e.g. 0.9998")
    amp: str = setting("auto", choices=("auto", "bf16", "none"), doc="auto: bf16 on CUDA")
    compile: str = setting("false", choices=COMPILE_MODES, doc="torch.compile the model: true, or reduce-overhead "
                           "(CUDA graphs: for small batches, where launches dominate)")
    grad_checkpointing: bool = setting(False, doc="recompute activations in backward: less memory, about a "
                                                  "third more compute (the model's set_grad_checkpointing)")
    seed: int = setting(0, low=0)
    device: str = setting("auto", doc="auto, cpu, cuda or cuda:N")
    out: str = setting("", doc="the run folder; default runs/<model>-<data>-<time>")
    resumable: bool = setting(True, doc="keep the optimiser state in last.safetensors (false: weights only)")


@dataclass
class TrainConfig:
    """The engine's settings and the task's (an instance of the task's Settings dataclass)."""

    engine: EngineSettings
    task: Any

    @property
    def task_name(self) -> str:
        return self.engine.task
