"""Training configuration: the engine's settings (shared by every task) and the task's own, from the
task's default preset (or a named preset, or a YAML file), then `key=value` overrides, in that order.

Every field is checked by type and range, the model spec against the model's options and the data
against what exists, before anything touches the disk. Numbers parse in every spelling (`lr=1e-3`).
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from ..models import ModelSpec, check_buildable, model_config, parse_model_spec
from ..models.registry import check_options
from ..settings import check_fields, coerce, field_default, load_yaml, parse_value, setting, short
from .task import TASKS, get_task

COMPILE_MODES = ("false", "true", "reduce-overhead")
DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


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
    epochs: int = setting(300, low=1)
    lr: float = setting(5e-4, above=0, doc="peak learning rate (a task may scale it with the batch)")
    min_lr: float = setting(1e-5, low=0, doc="the cosine schedule's floor")
    warmup_epochs: float = setting(5.0, low=0, doc="linear warmup; at most a fifth of the run")
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


def _names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _legacy(values: dict[str, Any]) -> dict[str, Any]:
    """Run folders written before model specs kept architecture overrides in `model_kwargs`
    ({attn_kwargs: {...}, other: ...}); fold them into the model spec."""
    values = dict(values)
    kwargs = values.pop("model_kwargs", None) or {}
    if not isinstance(kwargs, dict):
        raise ValueError(f"model_kwargs must be a mapping; got {short(kwargs)}")
    flat = {**{k: v for k, v in kwargs.items() if k != "attn_kwargs"}, **(kwargs.get("attn_kwargs") or {})}
    if flat:
        spec = parse_model_spec(str(values.get("model", "")) or "saga_pvt_tiny")
        values["model"] = str(ModelSpec(spec.name, {**spec.options, **check_options(spec.name, flat)}))
    return values


def _task_of(values: dict[str, Any]) -> str:
    if values.get("task"):
        return str(values["task"])
    if values.get("model"):
        return model_config(parse_model_spec(str(values["model"])).name).task
    return "classify"


def _find_preset(name: str) -> tuple[str, dict[str, Any]]:
    for task in TASKS.values():
        if name in task.presets:
            return task.name, dict(task.presets[name])
    return "", {}


def preset_names() -> list[str]:
    return [p for task in TASKS.values() for p in task.presets]


def _read_source(source: str) -> dict[str, Any]:
    task, values = _find_preset(source)
    if task:
        return {"task": task, **values}
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"--config must be a preset ({', '.join(preset_names())}) or a YAML file; "
                         f"{short(source)} is neither")
    values = load_yaml(path.read_text(errors="replace"), f"settings file {str(path)!r}") or {}
    if not isinstance(values, dict):
        raise ValueError(f"{str(path)!r} must hold a mapping of settings (key: value lines); got "
                         f"{type(values).__name__}")
    return values


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """['lr=1e-3', 'crop_scale=[0.5, 1]'] -> {'lr': 0.001, 'crop_scale': [0.5, 1]} (values read as YAML)."""
    values = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"settings are key=value, e.g. lr=1e-3 or model=linear_pvt_tiny; got {short(item)}")
        values[key.strip()] = parse_value(text, f"the value of {key.strip()}")
    return values


def _build(cls: type, values: dict[str, Any]) -> Any:
    """An instance of the settings dataclass `cls`, each value coerced to its field's type."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    return cls(**{k: coerce(k, v, field_default(fields[k])) for k, v in values.items()})


def make_config(values: dict[str, Any]) -> TrainConfig:
    """A checked config from flat settings (engine and task keys mixed); ValueError listing every problem."""
    values = _legacy(values)
    task = get_task(_task_of(values))
    values["task"] = task.name
    values["model"] = str(values.get("model") or task.default_model)
    engine_keys, task_keys = _names(EngineSettings), _names(task.Settings)
    unknown = sorted(set(values) - set(engine_keys) - set(task_keys))
    if unknown:
        raise ValueError(f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                         f"known: {', '.join(engine_keys + task_keys)} (saga train --print-config shows them)")
    engine = _build(EngineSettings, {k: v for k, v in values.items() if k in engine_keys})
    settings = _build(task.Settings, {k: v for k, v in values.items() if k in task_keys})
    config = TrainConfig(engine, settings)
    problems = check_fields(engine) + check_fields(settings)
    if not DEVICE.match(engine.device):
        problems.append(f"device must be auto, cpu, cuda or cuda:N; got {short(engine.device)}")
    spec = parse_model_spec(engine.model)
    if spec.config.task != task.name:
        problems.append(f"model {spec.name} is built for task {spec.config.task!r}, not {task.name!r}; models for "
                        f"{task.name}: see saga models --task {task.name}")
    if not problems:
        problems = task.check(config)
    if not problems:
        try:
            check_buildable(spec)       # a bad option value, before any data is made or written
        except ValueError as err:
            problems.append(str(err))
    if problems:
        raise ValueError("; ".join(problems))
    engine.model = str(spec)
    return config


def load_config(source: str | os.PathLike | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    """The task's default preset (or `source`: a preset name or a YAML file), then `overrides`."""
    extra = parse_overrides(overrides)
    if source is None:
        task = get_task(_task_of(_legacy(extra)))
        values = dict(task.presets.get(task.default_preset, {})) if task.default_preset else {}
    else:
        values = _read_source(str(source))
    return make_config({**values, **extra})


def as_dict(config: TrainConfig) -> dict[str, Any]:
    """The flat settings (engine's, then the task's): what config.yaml holds."""
    return {**dataclasses.asdict(config.engine), **dataclasses.asdict(config.task)}


def to_yaml(config: TrainConfig) -> str:
    return yaml.safe_dump(as_dict(config), sort_keys=False)
