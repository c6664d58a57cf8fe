"""Training configuration: the engine's settings (shared by every task) and the task's own, from the
task's default recipe (or a named recipe or preset, or a YAML file), then `key=value` overrides, in that order.

Every field is checked by type and range, the model spec against the model's options and the data
against what exists, before anything touches the disk. Numbers parse in every spelling (`lr=1e-3`).
"""
from __future__ import annotations

import dataclasses
import difflib
import os
from pathlib import Path
from typing import Any, Sequence

import yaml

from ..configs import read_recipe, recipe_names
from ..measure import DEVICE
from ..models import check_buildable, model_config, parse_model_spec
from ..settings import check_fields, coerce, field_default, load_yaml, parse_value, short
from .engine_settings import EngineSettings, TrainConfig
from .task import TASKS, get_task


def _names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _task_of(values: dict[str, Any]) -> str:
    if values.get("task"):
        return str(values["task"])
    if values.get("model"):
        return model_config(parse_model_spec(str(values["model"])).name).task
    return "classify"


def preset_names() -> list[str]:
    """The recipes shipped in saga_attention/configs, then the presets that registered tasks declare."""
    return recipe_names() + [p for task in TASKS.values() for p in task.presets]


def preset(name: str) -> dict[str, Any] | None:
    """The settings of a recipe or a task's preset (with its task), or None when there is none of that name."""
    if name in recipe_names():
        return read_recipe(name)
    for task in TASKS.values():
        if name in task.presets:
            return {"task": task.name, **task.presets[name]}
    return None


def _read_source(source: str) -> dict[str, Any]:
    values = preset(source)
    if values is not None:
        return values
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"--config must be a recipe ({', '.join(preset_names())}) or a YAML file; "
                         f"{short(source)} is neither")
    values = load_yaml(path.read_text(errors="replace"), f"settings file {str(path)!r}")
    if values is None:
        raise ValueError(f"{str(path)!r} holds no settings; give key: value lines, or leave --config out")
    if not isinstance(values, dict):
        raise ValueError(f"{str(path)!r} must hold a mapping of settings (key: value lines); got "
                         f"{type(values).__name__}")
    return values


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """['lr=1e-3', 'crop_scale=[0.5, 1]'] -> {'lr': 0.001, 'crop_scale': [0.5, 1]} (values read as YAML)."""
    values = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key or key != key.strip() or text != text.strip():
            raise ValueError(f"settings are key=value without spaces around '=', e.g. lr=1e-3 or "
                             f"model=saga_pvt_tiny; got {short(item)}")
        values[key] = parse_value(text, f"the value of {key}")
    return values


def _build(cls: type, values: dict[str, Any]) -> Any:
    """An instance of the settings dataclass `cls`, each value coerced to its field's type."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    return cls(**{k: coerce(k, v, field_default(fields[k])) for k, v in values.items()})


def make_config(values: dict[str, Any]) -> TrainConfig:
    """A checked config from flat settings (engine and task keys mixed); ValueError listing every problem."""
    values = dict(values)
    task = get_task(_task_of(values))
    values["task"] = task.name
    values["model"] = str(values.get("model") or task.default_model)
    engine_keys, task_keys = _names(EngineSettings), _names(task.Settings)
    unknown = sorted(set(values) - set(engine_keys) - set(task_keys))
    if unknown:
        close = difflib.get_close_matches(unknown[0], engine_keys + task_keys, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ValueError(f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                         f"{hint}known: {', '.join(engine_keys + task_keys)} (saga train --print-config shows them)")
    engine = _build(EngineSettings, {k: v for k, v in values.items() if k in engine_keys})
    settings = _build(task.Settings, {k: v for k, v in values.items() if k in task_keys})
    config = TrainConfig(engine, settings)
    problems = check_fields(engine) + check_fields(settings)
    if not problems and engine.min_lr > engine.lr:
        problems.append(f"min_lr ({engine.min_lr:g}) must not be above lr ({engine.lr:g})")
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
        task = get_task(_task_of(extra))
        values = (preset(task.default_preset) or {}) if task.default_preset else {}
    else:
        values = _read_source(str(source))
    return make_config({**values, **extra})


def as_dict(config: TrainConfig) -> dict[str, Any]:
    """The flat settings (engine's, then the task's): what config.yaml holds."""
    return {**dataclasses.asdict(config.engine), **dataclasses.asdict(config.task)}


def to_yaml(config: TrainConfig) -> str:
    return yaml.safe_dump(as_dict(config), sort_keys=False)
