"""Low-light enhancement of anyone's photos: the `enhance` function and the `Enhancer` (api.py), photo files
(files.py), photo I/O (images.py, no torch) and plans of tiles and bands (tiles.py). Names load on first use."""
from __future__ import annotations

import importlib
from typing import Any

_NAMES = {"DEFAULT_MODEL": "api", "Enhancer": "api", "enhance": "api", "load_enhancer": "api",
          "enhance_files": "files", "plan_jobs": "files", "Photo": "images", "read_photo": "images",
          "write_photo": "images"}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
