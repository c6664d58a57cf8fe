"""The cache of generated data sets: $SAGA_CACHE, by default ~/.cache/saga-attention.

The built-in tasks are generated once per (task, split, size, count, seed) and kept there as
safetensors (a demo leaves about 300 MB); `saga cache` shows it and `saga cache --clear` empties it.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path


def cache_dir() -> Path:
    return Path(os.environ.get("SAGA_CACHE", Path.home() / ".cache" / "saga-attention"))


def cache_files() -> list[Path]:
    root = cache_dir()
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


def clear_cache() -> tuple[int, int]:
    """Delete the cache folder; (files, bytes) removed."""
    files = cache_files()
    size = sum(p.stat().st_size for p in files)
    if cache_dir().is_dir():
        shutil.rmtree(cache_dir())
    return len(files), size
