"""Accuracy tables from run folders' summary.json files: best validation top-1 per run, mean and sample
standard deviation over seeds.

Usage: python benchmarks/accuracy_table.py RESULTS_DIR   (writes RESULTS_DIR/accuracy.md and accuracy.json)
Runs are named <task>-<label>-seed<N> (label: a model name or a study's short name, no dashes).
"""
import csv
import json
import re
import statistics
import sys
from pathlib import Path

NAMES = {"pvt_tiny": "softmax (PVT, spatial reduction)", "global_pvt_tiny": "softmax, global (sr=1)",
         "linear_pvt_tiny": "linear (ReLU)", "focused_pvt_tiny": "focused (FLatten)", "saga_pvt_tiny": "SAGA"}


def run_files(root: Path, name: str):
    """(task, label, seed, path) of every file `name` in a run folder <task>-<label>-seed<N> under root."""
    for path in sorted(root.glob(f"**/{name}")):
        match = re.fullmatch(r"(\w+)-(\w+)-seed(\d+)", path.parent.name)
        if match:
            yield match[1], match[2], int(match[3]), path


def collect(root: Path) -> dict[str, dict[str, dict[int, float]]]:
    """{task: {label: {seed: best top-1}}} of every finished run folder under root."""
    table: dict = {}
    for task, label, seed, summary in run_files(root, "summary.json"):
        table.setdefault(task, {}).setdefault(label, {})[seed] = json.loads(summary.read_text())["best_top1"]
    return table


def collect_curves(root: Path) -> dict[str, dict[str, dict[int, tuple[float, int]]]]:
    """{task: {label: {seed: (best validation top-1 so far, epochs done)}}} of every run folder under root, from its
    metrics.csv, finished or stopped."""
    table: dict = {}
    for task, label, seed, metrics in run_files(root, "metrics.csv"):
        top1 = [float(row["val_top1"]) for row in csv.DictReader(metrics.read_text().splitlines())]
        if top1:
            table.setdefault(task, {}).setdefault(label, {})[seed] = (max(top1), len(top1))
    return table


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else float("nan")


def markdown(table: dict, names: dict[str, str] = NAMES) -> str:
    """One row per (task, label) in the order of `names`: every seed, then mean ± standard deviation."""
    seeds = sorted({s for models in table.values() for runs in models.values() for s in runs})
    lines = ["| task | model | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± std |",
             "|---|---|" + "---|" * (len(seeds) + 1)]
    for task, models in table.items():
        for label in (n for n in names if n in models):
            runs = models[label]
            mean, std = mean_std(list(runs.values()))
            cells = " | ".join(f"{runs[s]:.2f}" if s in runs else "-" for s in seeds)
            lines.append(f"| {task} | {names[label]} | {cells} | {mean:.2f} ± {std:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    root = Path(sys.argv[1])
    table = collect(root)
    (root / "accuracy.json").write_text(json.dumps(table, indent=2) + "\n")
    (root / "accuracy.md").write_text(markdown(table) + "\nBest validation top-1 (%) per run.\n")
    print(markdown(table))
