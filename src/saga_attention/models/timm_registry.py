"""Register this library's models with timm when timm is importable (it is optional)."""
from __future__ import annotations

import importlib.util
import warnings
from typing import Any

from .registry import create_model, list_models


def _timm_entrypoint(name: str):
    def entrypoint(pretrained: bool = False, **kwargs: Any):
        for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
            kwargs.pop(key, None)
        return create_model(name, pretrained=pretrained, **kwargs)     # shipped weights, or a ValueError
    entrypoint.__name__ = entrypoint.__qualname__ = name
    entrypoint.__module__ = __name__
    return entrypoint


def register_with_timm() -> list[str]:
    """Add every model to timm's registry (skipping names timm already has); returns those added."""
    if importlib.util.find_spec("timm") is None:
        return []
    try:
        from timm.models import is_model, register_model
    except Exception as err:  # a broken timm install must not break this library
        warnings.warn(f"timm is installed but could not be imported ({err}); models not registered with it")
        return []
    added = []
    for name in list_models():
        if not is_model(name):
            fn = _timm_entrypoint(name)
            globals()[name] = fn
            register_model(fn)
            added.append(name)
    return added
