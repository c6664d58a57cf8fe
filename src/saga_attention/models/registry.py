"""A model registry in the spirit of timm: register_model, list_models, create_model."""
from __future__ import annotations

import difflib
import fnmatch
from typing import Any, Callable

from torch import nn

from .checkpoint import load_checkpoint

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str, fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register `fn(**kwargs) -> nn.Module` under `name`."""
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered")
    _MODELS[name] = fn
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style pattern, sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def model_entrypoint(name: str) -> Callable[..., nn.Module]:
    """The builder registered as `name`; ValueError naming close matches otherwise."""
    if name not in _MODELS:
        close = difflib.get_close_matches(name, list(_MODELS), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(list_models())}"
        raise ValueError(f"unknown model {name!r}{hint}")
    return _MODELS[name]


def create_model(name: str, num_classes: int = 1000, checkpoint_path: str | None = None, **overrides: Any) -> nn.Module:
    """Build a registered model; `overrides` change its architecture arguments.

    checkpoint_path: a safetensors file written by `save_checkpoint` for this model.
    features_only=True returns a model whose forward gives the four stage maps.
    """
    model = model_entrypoint(name)(num_classes=num_classes, **overrides)
    model.model_name = name
    if checkpoint_path is not None:
        load_checkpoint(model, checkpoint_path)
    return model
