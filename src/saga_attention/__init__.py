"""saga-attention: SAGA (Selective Adaptive Gating) linear attention for vision transformers.

    import saga_attention as sa
    sa.saga_attention(q, k, v, g_k, g_v)       # the op, (B, N, H, D)
    sa.create_model("saga_pvt_tiny")            # a model of the registry (sa.list_models())
    sa.enhance(dark_photo)                      # low-light enhancement with the shipped weights

Submodules load on first use, so `import saga_attention` stays light (no matplotlib, no triton).
"""
from __future__ import annotations

import importlib
from typing import Any

from .version import __version__

_SUBMODULES = ("analysis", "bench", "data", "enhancement", "layers", "metrics", "models", "ops", "train")
_NAMES = {"create_model": "models", "list_models": "models", "enhance": "enhancement", "saga_attention": "ops"}

__all__ = ["__version__", "create_model", "enhance", "layers", "list_models", "models", "ops", "saga_attention"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SUBMODULES, *_NAMES})
