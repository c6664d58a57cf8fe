"""A model registry in the spirit of timm: register_model, list_models, create_model, and model specs.

As in timm, each model file defines `default_cfgs` (model name -> `ModelConfig`) and one function per
variant, decorated with `@register_model`, whose name is the model's name (so `grep "def saga_pvt_tiny"`
finds it). A `ModelConfig` says what the model is for: the task it is built for, its input and output
channels, default input size and stride, the options a spec may set and the weights shipped for it.
A spec names a model and options in one string, `saga_pvt_tiny:gate_bias_init=2.0,value_gate=false`,
and is checked against those options before any model is built.
"""
from __future__ import annotations

import contextlib
import difflib
import fnmatch
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import nn

from ..settings import coerce, parse_value, short
from .checkpoint import load_checkpoint

RUNNER_SETTINGS = ("compile", "dtype", "batch", "device")    # settings of a run, never of a model
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"   # the shipped weights; each file's metadata gives
                                                                    # its training data and command


@dataclass(frozen=True)
class ModelConfig:
    """What a registered model is for and what can be set on it."""

    task: str                                     # the training task it is built for: "classify", ...
    in_chans: int = 3
    out_chans: int = 1000                         # a classifier's default classes; an image model's channels
    img_size: int = 224                           # default (training) input size
    stride: int = 32                              # input sides must be multiples of this
    options: Mapping[str, Any] = field(default_factory=dict)   # spec options: name -> default (gives the type)
    arguments: frozenset[str] = frozenset()       # further keywords of create_model (num_classes, features_only)
    weights: str = ""                             # the file in saga_attention/weights shipped for it ("": none)


@dataclass(frozen=True)
class ModelSpec:
    """A model name with option values, checked against the model's declared options."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        opts = ",".join(f"{k}={_spell(v)}" for k, v in self.options.items())
        return f"{self.name}:{opts}" if opts else self.name

    @property
    def config(self) -> ModelConfig:
        return model_config(self.name)


class Unscriptable(nn.Module):
    """Base of the models: torch.jit.script (deprecated in PyTorch) is refused with a clear error; torch.jit.trace,
    torch.export, torch.compile, ONNX and FX take the models."""

    def __prepare_scriptable__(self) -> nn.Module:
        raise TypeError(f"{type(self).__name__} cannot be scripted with torch.jit.script (deprecated in PyTorch); "
                        f"use torch.jit.trace, torch.export or torch.compile instead")

_MODELS: dict[str, tuple[Callable[..., nn.Module], ModelConfig]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register `fn(**kwargs) -> nn.Module` under its name, with the ModelConfig of that name in the
    `default_cfgs` of fn's module."""
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered")
    _MODELS[name] = (fn, sys.modules[fn.__module__].default_cfgs[name])
    return fn


def list_models(pattern: str = "*", task: str | None = None) -> list[str]:
    """Registered model names matching a shell-style pattern (and built for `task`), sorted."""
    return sorted(n for n, (_, cfg) in _MODELS.items()
                  if fnmatch.fnmatch(n, pattern) and (task is None or cfg.task == task))


def model_tasks() -> list[str]:
    return sorted({cfg.task for _, cfg in _MODELS.values()})


def shipped_models() -> list[str]:
    """The models whose weights ship in the package (create_model(name, pretrained=True))."""
    return sorted(n for n, (_, cfg) in _MODELS.items() if cfg.weights)


def _entry(name: str) -> tuple[Callable[..., nn.Module], ModelConfig]:
    if name not in _MODELS:
        close = difflib.get_close_matches(name, list(_MODELS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(list_models())}"
        raise ValueError(f"unknown model {name!r}{hint}")
    return _MODELS[name]


def model_entrypoint(name: str) -> Callable[..., nn.Module]:
    """The builder registered as `name`; ValueError naming close matches otherwise."""
    return _entry(name)[0]


def model_config(name: str) -> ModelConfig:
    """The ModelConfig registered with `name`; ValueError naming close matches otherwise."""
    return _entry(name)[1]


def _spell(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def check_options(name: str, options: Mapping[str, Any], extra: frozenset[str] = frozenset()) -> dict[str, Any]:
    """`options` typed by the model's declared defaults; ValueError for an unknown name or a wrong type.
    `extra` names further keywords that pass unchecked (create_model's arguments)."""
    config = model_config(name)
    checked = {}
    for key, value in options.items():
        if key in config.options:
            checked[key] = coerce(f"option {key!r} of {name}", value, config.options[key])
        elif key in extra:
            checked[key] = value
        elif key in RUNNER_SETTINGS:
            raise ValueError(f"{key} is a setting of the run, not an option of model {name}; set it where the "
                             f"command takes it (e.g. saga bench {name}@compile, or {key}=... for saga train)")
        else:
            known = sorted(config.options) + sorted(extra)
            close = difflib.get_close_matches(key, known, n=2)
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            raise ValueError(f"model {name} has no option {key!r}; {hint}its options: {', '.join(known)}")
    return checked


def parse_model_spec(spec: str | ModelSpec) -> ModelSpec:
    """'saga_pvt_tiny:gate_bias_init=2.0,value_gate=false' -> ModelSpec, checked against the model's options."""
    if isinstance(spec, ModelSpec):
        return spec
    text = str(spec).strip()
    name, colon, opts = text.partition(":")
    model_config(name)                       # an unknown name: the registry's error, with suggestions
    options = {}
    for item in (o.strip() for o in opts.split(",")) if colon else []:
        key, eq, value = item.partition("=")
        if not eq or not key or any(c.isspace() for c in key.strip()):
            raise ValueError(f"model spec options are key=value, e.g. saga_pvt_tiny:gate_bias_init=2.0; got "
                             f"{short(str(spec))}")
        options[key.strip()] = parse_value(value, f"option {key.strip()!r} of {name}")
    return ModelSpec(name, check_options(name, options))


def check_input_size(name: str | ModelSpec, height: int, width: int) -> None:
    """ValueError unless (height, width) is an input size the model takes: positive multiples of its stride."""
    spec = parse_model_spec(name)
    stride = spec.config.stride
    if height <= 0 or width <= 0 or height % stride or width % stride:
        near = [max(1, -(-side // stride)) * stride for side in (height, width)]
        raise ValueError(f"{spec.name} takes heights and widths that are positive multiples of {stride}; got "
                         f"{height}x{width} (e.g. {near[0]}x{near[1]})")


def split_specs(text: str) -> list[str]:
    """'pvt_tiny,saga_pvt_tiny:a=1,b=2' -> ['pvt_tiny', 'saga_pvt_tiny:a=1,b=2']: a comma starts a new spec
    unless what follows is another key=value of the one before."""
    specs: list[str] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if specs and ":" in specs[-1] and "=" in part and ":" not in part.split("=", 1)[0]:
            specs[-1] += "," + part
        else:
            specs.append(part)
    return specs


def create_model(name: str | ModelSpec, pretrained: bool = False, checkpoint_path: str | None = None,
                 **kwargs: Any) -> nn.Module:
    """Build a registered model from a name or spec; `kwargs` are spec options or the model's other
    arguments (num_classes, features_only, ...), checked before anything is built.

    pretrained: load the weights shipped in the package (ValueError for a model without any).
    checkpoint_path: a safetensors file written by `save_checkpoint` for this model.
    device, dtype: where and in what the parameters are made (timm's create_model passes them; 'meta' builds
    without memory).
    """
    spec = parse_model_spec(name)
    fn, config = _entry(spec.name)
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    options = {**spec.options, **check_options(spec.name, kwargs, config.arguments)}
    if pretrained and not config.weights:                                 # before building: fail fast
        raise ValueError(f"no weights are shipped for {spec.name}; models with shipped weights: "
                         f"{', '.join(shipped_models()) or 'none'}")
    weights = WEIGHTS_DIR / config.weights if pretrained else None
    try:
        place = torch.device(device) if device is not None else None
    except RuntimeError:
        raise ValueError(f"device must be a torch device such as cpu, cuda or meta; got {device!r}") from None
    if place is not None and place.type == "meta" and (weights or checkpoint_path):
        raise ValueError("weights cannot be loaded into a model on the meta device; build it elsewhere")
    with place if place is not None else contextlib.nullcontext():
        model = fn(**options)
    if dtype is not None:
        model.to(dtype=dtype)
    model.model_name = spec.name
    own = getattr(model, "pretrained_cfg", None)                     # timm's hub functions read the architecture
    base = own if isinstance(own, dict) else {"input_size": (config.in_chans, config.img_size, config.img_size),
                                               "license": "apache-2.0"}
    model.pretrained_cfg = model.default_cfg = {**base, "architecture": spec.name}
    if not hasattr(model, "num_classes"):             # an image-to-image net: no classes (timm's hub config)
        model.num_classes, model.num_features = 0, config.out_chans
    for path in filter(None, (weights, checkpoint_path)):
        load_checkpoint(model, path)
    return model


def check_buildable(spec: str | ModelSpec) -> None:
    """Build the model on the meta device (no memory, no time), so that a bad option value is a ValueError before
    anything runs or is written; what meta tensors cannot build is left to the real run."""
    try:
        with torch.device("meta"):
            create_model(spec)
    except (NotImplementedError, RuntimeError):
        pass
