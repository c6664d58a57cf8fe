"""Run folders: named, created only when a run gets going, refused when they hold something else.

A run folder of `saga train` holds config.yaml (the resolved settings) and command.txt (every
command that wrote to it, one entry per start or resume), beside what the run writes.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

CONFIG, COMMANDS = "config.yaml", "command.txt"


def new_run_dir(root: str | os.PathLike, prefix: str, create: bool = True) -> Path:
    """root/prefix-YYYYmmdd-HHMMSS (with a counter if that exists already); created unless create=False."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = Path(root) / f"{prefix}-{stamp}", 1
    while path.exists():
        path, n = Path(root) / f"{prefix}-{stamp}-{n}", n + 1
    if create:
        make_dir(path)
    return path


def make_dir(path: Path) -> Path:
    """mkdir -p, with a ValueError that names the folder when it cannot be made."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"cannot create the folder {str(path)!r}: {err.strerror or err}") from err
    return path


def is_run_dir(path: str | os.PathLike) -> bool:
    return (Path(path) / CONFIG).is_file()


def check_new_run_dir(path: Path, own: tuple[str, ...] = ()) -> Path:
    """`path`, or a ValueError unless it is absent or an empty folder (or holds only the files named in `own`,
    which the command writes again), and can be written: a probe makes the folder (or a file in it) and
    removes it again, so a refused or failed run leaves nothing behind."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"out={str(path)!r} is a file, not a folder; choose another out=")
    if path.is_dir() and any(p.name not in own for p in path.iterdir()):
        hint = (f"resume it with `saga train --resume {path}`" if is_run_dir(path)
                else "it holds files that this command did not write")
        raise ValueError(f"out={str(path)!r} is not empty ({hint}); choose another out= or leave it out")
    missing = [p for p in (path, *path.parents) if not p.exists()]          # deepest first
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError as err:
        raise ValueError(f"out={str(path)!r} cannot be written ({err.strerror or err}); choose another out=") \
            from None
    finally:
        for p in missing:
            if p.is_dir():
                p.rmdir()
    return path


def start_run(path: Path, config_yaml: str, command: str) -> None:
    """Create the folder, write config.yaml (settings changed on resume land there too) and append `command`
    to command.txt, the run's history."""
    make_dir(path)
    (path / CONFIG).write_text(config_yaml)
    with open(path / COMMANDS, "a") as f:
        f.write(command.rstrip("\n") + "\n")


def clean_partial_writes(path: Path) -> list[Path]:
    """Remove the temporary files of checkpoint writes that were killed midway (.<name>.*.tmp); return them."""
    orphans = sorted(path.glob(".*.tmp"))
    for orphan in orphans:
        orphan.unlink(missing_ok=True)
    return orphans


def folder_sizes(path: Path) -> dict[str, int]:
    """Bytes of each file directly in `path` (what a person may want to delete or keep)."""
    return {p.name: p.stat().st_size for p in sorted(path.iterdir()) if p.is_file()}


def human_bytes(size: float) -> str:
    """1536 -> '1.5 KB'."""
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
