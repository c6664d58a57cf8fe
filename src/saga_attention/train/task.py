"""The Task protocol: what a task tells the training engine, which knows nothing of images or labels.

A task owns its settings (a dataclass; its fields join the engine's as `key=value` settings), its
presets, its datasets and model, the loss of a batch and the metrics of an evaluation pass. A batch
is whatever the task's `collate` returns, a tuple whose last item is the list of files that could
not be read (empty when all were). Register a task with `register_task`; `saga train task=NAME`
then runs it, and a model registered for that task picks it by default.
"""
from __future__ import annotations

import abc
import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor, nn
from torch.utils.data import Dataset

from .distributed import Process
from .engine_settings import EngineSettings, TrainConfig


@dataclass
class Datasets:
    train: Dataset
    val: Dataset
    source: str           # what a person reads in the log, e.g. "built-in task 'match' (data seed 0)"


class Task(abc.ABC):
    """One kind of training: settings, data, model, loss and metrics."""

    name: ClassVar[str]
    Settings: ClassVar[type]                        # a dataclass of this task's own settings
    presets: ClassVar[dict[str, dict[str, Any]]] = {}   # named settings (engine's and task's), for --config,
                                                    # beside the recipe files of saga_attention/configs
    default_preset: ClassVar[str | None] = None     # a recipe or preset applied when --config is not given
    default_model: ClassVar[str]                    # the model when none is named
    metrics: ClassVar[tuple[str, ...]]              # what `evaluate_batch` sums become, in log order
    best_metric: ClassVar[str]                      # the metric that picks best.safetensors
    higher_is_better: ClassVar[bool] = True

    def __init__(self, config: TrainConfig, process: Process) -> None:
        self.config, self.settings, self.process = config, config.task, process

    @classmethod
    def check(cls, config: TrainConfig) -> list[str]:
        """Problems that span several settings or need a look outside (does `data` exist?)."""
        return []

    @abc.abstractmethod
    def datasets(self) -> Datasets:
        """The training and validation sets."""

    @abc.abstractmethod
    def eval_dataset(self) -> Dataset:
        """The validation set alone (for `saga eval`, without building the training set)."""

    @abc.abstractmethod
    def build_model(self) -> nn.Module:
        """The model of `config.engine.model` (a spec), built for this task's data."""

    def model_for_weights(self) -> nn.Module:
        """The model that trained weights of this task load into (build_model without initial weights)."""
        return self.build_model()

    @abc.abstractmethod
    def collate(self, samples: list) -> tuple:
        """Samples of the datasets -> a batch (tensors on the CPU ..., problems)."""

    @abc.abstractmethod
    def loss(self, model: nn.Module, batch: tuple) -> tuple[Tensor, int]:
        """(mean loss of the batch, samples in it); the engine runs it under autocast and back-propagates."""

    @abc.abstractmethod
    def evaluate_batch(self, model: nn.Module, batch: tuple) -> dict[str, float]:
        """Sums over one batch, keyed as the task likes, with 'count' (samples); no gradients."""

    @abc.abstractmethod
    def finish(self, sums: dict[str, float]) -> dict[str, float]:
        """Sums over every batch of every process -> the metrics named in `metrics`."""

    @classmethod
    def run_label(cls, config: TrainConfig) -> str:
        """What names a new run folder after the model, e.g. the data set."""
        return cls.name

    def lr_scale(self, total_batch: int) -> float:
        """The factor on lr and min_lr for a total batch (over all processes); 1 by default."""
        return 1.0

    def describe(self, metrics: dict[str, float]) -> str:
        """One line for the log, e.g. 'top-1 71.20%'."""
        return ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k in self.metrics)


TASKS: dict[str, type[Task]] = {}


def register_task(task: type[Task]) -> type[Task]:
    """Make `task` available as task=<task.name>; its settings may not reuse the engine's names."""
    clash = {f.name for f in dataclasses.fields(task.Settings)} & {f.name for f in dataclasses.fields(EngineSettings)}
    if clash:
        raise ValueError(f"task {task.name!r} reuses the engine's setting names: {', '.join(sorted(clash))}")
    if task.best_metric not in task.metrics:
        raise ValueError(f"task {task.name!r}: best_metric {task.best_metric!r} is not one of its metrics")
    TASKS[task.name] = task
    return task


def get_task(name: str) -> type[Task]:
    if name not in TASKS:
        raise ValueError(f"task must be one of {', '.join(sorted(TASKS))}; got {name!r}")
    return TASKS[name]
