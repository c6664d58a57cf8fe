"""A/B of a change: run one benchmark command against the library at a git ref (the base) and at the working tree,
in that order, and set their records side by side: for each record of both runs (matched by its text and integer
fields), each measured number at the base, with the change, and their ratio.

    python3 benchmarks/ab.py --base main -- saga bench --model saga_pvt_tiny --res 1280 --device cuda --json r/b.json
    python3 benchmarks/ab.py --base HEAD~3 -- python3 benchmarks/ops.py --no-sweep --out r/ops.json

The command must write its results with --json or --out (JSON with "records", as every script of the suite and
`saga bench` do); the base run writes NAME.base.json beside NAME.json, and the comparison goes to NAME.ab.md and
NAME.ab.json. Only the library changes between the two runs: the benchmark script is the working tree's in both.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fail(message: str) -> None:
    print(f"ab.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def output_path(command: list[str]) -> tuple[int, Path]:
    """The index of the value of --json or --out in the command, and that path."""
    for flag in ("--json", "--out"):
        if flag in command[:-1]:
            i = command.index(flag) + 1
            return i, Path(command[i])
    fail("the command must write its results with --json PATH or --out PATH")


def run(command: list[str], src: Path, label: str) -> None:
    if command[0] == "saga":
        command = [sys.executable, "-m", "saga_attention.cli", *command[1:]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(ROOT / "benchmarks")])}
    print(f"== {label}: {' '.join(command)}", flush=True)
    if subprocess.run(command, env=env, cwd=ROOT).returncode != 0:
        fail(f"the {label} run failed (its output is above)")


def key(record: dict) -> tuple:
    return tuple((k, v) for k, v in record.items() if isinstance(v, (str, int)) and not isinstance(v, bool)
                 and k not in ("status", "error", "mem_method"))


def compare(base: list[dict], new: list[dict]) -> tuple[list[dict], str]:
    """Rows of the records both runs have: their key fields, then base / new / ratio of every measured float."""
    at_base = {key(r): r for r in base}
    rows, lines = [], []
    for record in new:
        old = at_base.get(key(record))
        if old is None:
            continue
        numbers = {k: (old[k], v) for k, v in record.items()
                   if isinstance(v, float) and isinstance(old.get(k), float)}
        row = {"key": dict(key(record)), "base": {k: b for k, (b, _) in numbers.items()},
               "new": {k: n for k, (_, n) in numbers.items()},
               "ratio": {k: n / b for k, (b, n) in numbers.items() if b}}
        rows.append(row)
        label = ", ".join(f"{k} {v}" for k, v in row["key"].items())
        cells = "; ".join(f"{k} {b:.4g} -> {n:.4g} ({row['ratio'].get(k, float('nan')):.3f}x)"
                          for k, (b, n) in numbers.items())
        lines.append(f"| {label} | {cells} |")
    table = "| record | base -> change (ratio) |\n|---|---|\n" + "\n".join(lines) + "\n"
    return rows, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], usage="ab.py --base REF -- COMMAND ...")
    parser.add_argument("--base", required=True, help="the git ref to compare against (a branch, tag or commit)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the benchmark command, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        fail("give the benchmark command after --")
    index, out = output_path(command)
    if subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{args.base}^{{commit}}"], cwd=ROOT,
                      capture_output=True).returncode != 0:
        fail(f"--base {args.base!r} is not a commit of this repository")
    base_out = out.with_suffix(".base.json")
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(tree), args.base], cwd=ROOT, check=True)
        try:
            run([*command[:index], str(base_out.resolve()), *command[index + 1:]], tree / "src", f"base {args.base}")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
            shutil.rmtree(tree, ignore_errors=True)
    run([*command[:index], str(out.resolve()), *command[index + 1:]], ROOT / "src", "working tree")
    rows, table = compare(json.loads(base_out.read_text())["records"], json.loads(out.read_text())["records"])
    header = f"# A/B: {args.base} -> working tree\n\n`{' '.join(command)}`\n\n"
    out.with_suffix(".ab.md").write_text(header + table)
    out.with_suffix(".ab.json").write_text(json.dumps({"base": args.base, "command": command, "rows": rows},
                                                      indent=1) + "\n")
    print(header + table)


if __name__ == "__main__":
    main()
