"""`saga enhance IN... -o OUT`: files, folders (sub-folders mirrored) and globs in, the same names out.

Everything is checked before the first file is written: inputs exist, no output would replace an input or a
file that saga enhance did not write, the output folder can be written. The output folder's `.saga-enhance`
lists the files saga enhance wrote there: only those are ever replaced (with --overwrite), and they are never
read back as inputs. Then each photo is enhanced and written; an unreadable photo is named and skipped, and
`enhance_files` reports how many failed (the command's exit code says so).
"""
from __future__ import annotations

import glob
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ..progress import progress
from .api import Enhancer
from .images import DEFAULT_MAX_PIXELS, SUFFIXES, read_photo, side_by_side, write_photo

MANIFEST = ".saga-enhance"      # in the output folder: the files saga enhance wrote there, one path per line


@dataclass
class Job:
    source: Path
    target: Path
    compare: Path | None = None     # the before | after image, when asked for
    run: bool = True                # False: the output exists and is kept


def written_here(root: Path) -> set[Path]:
    """The files saga enhance wrote below `root` (resolved), from its manifest."""
    manifest = root / MANIFEST
    if not manifest.is_file():
        return set()
    return {(root / line).resolve() for line in manifest.read_text(errors="replace").splitlines() if line.strip()}


def _record(root: Path, path: Path) -> None:
    with open(root / MANIFEST, "a") as f:
        f.write(path.resolve().relative_to(root.resolve()).as_posix() + "\n")


def find_inputs(inputs: list[str], skip: set[Path] = frozenset()) -> list[tuple[Path, Path]]:
    """(file, name relative to the output folder) for every image of the inputs: a file keeps its name, a folder's
    images keep their path below it, a glob's matches keep their names. Files in `skip` (earlier outputs) are left
    out of folders and globs. ValueError for an input with no image."""
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        path = Path(item)
        if path.is_file():
            found.append((path, Path(path.name)))
        elif path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                           and not any(part.startswith(".") for part in p.relative_to(path).parts)
                           and p.resolve() not in skip)
            if not files:
                raise ValueError(f"folder {item!r} holds no images ({', '.join(sorted(SUFFIXES))}) other than "
                                 "outputs of saga enhance")
            found += [(p, p.relative_to(path)) for p in files]
        else:
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True)
                             if Path(m).is_file() and Path(m).resolve() not in skip)
            if not matches:
                raise ValueError(f"{item!r} is no file, folder or pattern that matches a file")
            found += [(p, Path(p.name)) for p in matches]
    return found


def output_root(inputs_found: int, out: str) -> Path:
    """The output folder: OUT, or OUT's folder when OUT names the one output file."""
    out_path = Path(out)
    single = inputs_found == 1 and out_path.suffix.lower() in SUFFIXES and not out_path.is_dir()
    return out_path.parent if single else out_path


def plan_jobs(inputs: list[str], out: str, overwrite: bool = False, compare: bool = False) -> list[Job]:
    """Where each input goes. OUT is a folder; for a single input file it may also be a file name with an image
    suffix. An existing output is kept, or replaced with `overwrite` if saga enhance wrote it. ValueError when an
    output would be an input or a file saga enhance did not write, two outputs collide, or OUT cannot be written."""
    out_path = Path(out)
    ours = written_here(out_path if out_path.is_dir() else out_path.parent)
    found = find_inputs(inputs, skip=ours | _below(out_path, inputs))
    root = output_root(len(found), out)
    if root == out_path and out_path.exists() and not out_path.is_dir():
        raise ValueError(f"-o {out!r} is a file; give a folder for {len(found)} inputs")
    targets = [out_path] if root != out_path else [root / name for _, name in found]
    jobs = [Job(source, target, target.with_name(target.name + ".compare.jpg") if compare else None)
            for (source, _), target in zip(found, targets)]
    sources = {job.source.resolve() for job in jobs}
    seen: dict[Path, Path] = {}
    for job in jobs:
        job.run = not job.target.exists() or overwrite
        for path in filter(None, (job.target, job.compare)):
            resolved = path.resolve()
            if resolved in sources:
                raise ValueError(f"the output for {str(job.source)!r} would be {str(path)!r}, an input; "
                                 "give another -o")
            if resolved in seen:
                raise ValueError(f"{str(seen[resolved])!r} and {str(job.source)!r} would both be written to "
                                 f"{str(path)!r}")
            seen[resolved] = job.source
            if job.run and path.exists() and resolved not in ours:
                raise ValueError(f"{str(path)!r} exists and saga enhance did not write it; it is never replaced: "
                                 "give another -o")
    _check_writable(root)
    return jobs


def _below(out_path: Path, inputs: list[str]) -> set[Path]:
    """The files below the output folder when it lies inside an input folder: never read as inputs."""
    root = out_path.resolve()
    inside = any(Path(item).is_dir() and root.is_relative_to(Path(item).resolve()) for item in inputs)
    return {p.resolve() for p in out_path.rglob("*")} if inside and out_path.is_dir() else set()


def _check_writable(folder: Path) -> None:
    """Make the output folder (and its parents) or fail with one line; probe that a file can be created in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".saga-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"cannot write to the output folder {str(folder)!r}: {err.strerror or err}") from None


def enhance_files(jobs: list[Job], enhancer: Enhancer, root: Path, max_pixels: int = DEFAULT_MAX_PIXELS
                  ) -> dict[str, int]:
    """Enhance every job that runs, recording each written file in root's manifest; returns counts of written,
    skipped (output exists) and failed photos."""
    counts = {"written": 0, "skipped": 0, "failed": 0}
    bar = progress(jobs, enabled=len(jobs) > 1, desc="enhance", unit="photo")
    for job in bar:
        if not job.run:
            counts["skipped"] += 1
            continue
        try:
            photo = read_photo(job.source, max_pixels)
            enhanced = enhancer(photo.rgb, progress=True)
            job.target.parent.mkdir(parents=True, exist_ok=True)
            write_photo(photo, enhanced, job.target)
            _record(root, job.target)
            if job.compare:
                after = f"after: {enhancer.model.model_name}" + (
                    f", strength {enhancer.strength:g}" if enhancer.strength != 1 else "")
                side_by_side(photo.rgb, enhanced, labels=(f"before: {job.source.name}", after)).save(
                    job.compare, quality=90)
                _record(root, job.compare)
            counts["written"] += 1
        except (ValueError, OSError) as err:
            counts["failed"] += 1
            tqdm.write(f"skipped {job.source}: {err}", file=sys.stderr)
    return counts
