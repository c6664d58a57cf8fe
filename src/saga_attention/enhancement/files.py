"""`saga enhance IN... -o OUT`: files, folders (sub-folders mirrored) and globs in, the same names out.

Everything is checked before the first file is written: inputs exist, no output would replace an input,
the output folder can be written. Then each photo is enhanced and written; an unreadable photo is named
and skipped, and `enhance_files` reports how many failed (the command's exit code says so).
"""
from __future__ import annotations

import glob
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .api import Enhancer
from .images import DEFAULT_MAX_PIXELS, SUFFIXES, read_photo, side_by_side, write_photo


@dataclass
class Job:
    source: Path
    target: Path


def find_inputs(inputs: list[str]) -> list[tuple[Path, Path]]:
    """(file, name relative to the output folder) for every image of the inputs: a file keeps its name, a folder's
    images keep their path below it, a glob's matches keep their names. ValueError for an input with no image."""
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.is_file():
            found.append((path, Path(path.name)))
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not files:
                raise ValueError(f"folder {item!r} holds no images ({', '.join(sorted(SUFFIXES))})")
            found += [(p, p.relative_to(path)) for p in files]
        else:
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True) if Path(m).is_file())
            if not matches:
                raise ValueError(f"{item!r} is no file, folder or pattern that matches a file")
            found += [(p, Path(p.name)) for p in matches]
    return found


def plan_jobs(inputs: list[str], out: str) -> list[Job]:
    """Where each input goes. OUT is a folder; for a single input file it may also be a file name with an image
    suffix. ValueError when an output would be an input, two inputs share an output, or OUT cannot be written."""
    found = find_inputs(inputs)
    out_path = Path(out)
    if len(found) == 1 and out_path.suffix.lower() in SUFFIXES and not out_path.is_dir():
        jobs = [Job(found[0][0], out_path)]
    else:
        if out_path.exists() and not out_path.is_dir():
            raise ValueError(f"-o {out!r} is a file; give a folder for {len(found)} inputs")
        jobs = [Job(source, out_path / name) for source, name in found]
    sources = {job.source.resolve() for job in jobs}
    seen: dict[Path, Path] = {}
    for job in jobs:
        target = job.target.resolve()
        if target in sources:
            raise ValueError(f"the output for {str(job.source)!r} would be {str(job.target)!r}, an input; "
                             "give another -o")
        if target in seen:
            raise ValueError(f"{str(seen[target])!r} and {str(job.source)!r} would both be written to "
                             f"{str(job.target)!r}")
        seen[target] = job.source
    _check_writable(jobs[0].target.parent)
    return jobs


def _check_writable(folder: Path) -> None:
    """Make the output folder (and its parents) or fail with one line; probe that a file can be created in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".saga-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"cannot write to the output folder {str(folder)!r}: {err.strerror or err}") from None


def compare_path(target: Path) -> Path:
    return target.with_name(f"{target.stem}.compare.jpg")


def enhance_files(jobs: list[Job], enhancer: Enhancer, overwrite: bool = False, compare: bool = False,
                  max_pixels: int = DEFAULT_MAX_PIXELS) -> dict[str, int]:
    """Enhance every job; returns counts of written, skipped (output exists) and failed photos."""
    counts = {"written": 0, "skipped": 0, "failed": 0}
    bar = tqdm(jobs, desc="enhance", unit="photo", disable=len(jobs) == 1)
    for job in bar:
        if job.target.exists() and not overwrite:
            counts["skipped"] += 1
            continue
        try:
            photo = read_photo(job.source, max_pixels)
            enhanced = enhancer(photo.rgb, progress=True)
            job.target.parent.mkdir(parents=True, exist_ok=True)
            write_photo(photo, enhanced, job.target)
            if compare:
                side_by_side(photo.rgb, enhanced).save(compare_path(job.target), quality=90)
            counts["written"] += 1
        except (ValueError, OSError) as err:
            counts["failed"] += 1
            tqdm.write(f"skipped {job.source}: {err}", file=sys.stderr)
    return counts
