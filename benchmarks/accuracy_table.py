"""The accuracy table of issue 4 from the run folders' summary.json files.

Usage: python benchmarks/accuracy_table.py RESULTS_DIR   (writes RESULTS_DIR/accuracy.md and accuracy.json)
Runs are named <task>-<model>-seed<N>; the best validation top-1 of each run is used.
"""
import json
import re
import statistics
import sys
from pathlib import Path

KINDS = {"pvt_tiny": "softmax (PVT)", "linear_pvt_tiny": "linear (ReLU)", "focused_pvt_tiny": "focused (FLatten)",
         "saga_pvt_tiny": "SAGA"}


def collect(root: Path) -> dict:
    table: dict = {}
    for summary in sorted(root.glob("**/summary.json")):
        match = re.fullmatch(r"(\w+)-(\w+)-seed(\d+)", summary.parent.name)
        if match and match[2] in KINDS:
            task, model, seed = match[1], match[2], int(match[3])
            table.setdefault(task, {}).setdefault(model, {})[seed] = json.loads(summary.read_text())["best_top1"]
    return table


def markdown(table: dict) -> str:
    lines = ["| task | model | " + " | ".join(f"seed {s}" for s in (0, 1)) + " | mean |", "|---|---|---|---|---|"]
    verdicts = []
    for task, models in table.items():
        means = {m: statistics.mean(seeds.values()) for m, seeds in models.items()}
        for model in KINDS:
            if model in models:
                cells = " | ".join(f"{models[model].get(s, float('nan')):.2f}" for s in (0, 1))
                lines.append(f"| {task} | {KINDS[model]} | {cells} | {means[model]:.2f} |")
        saga, focused, softmax = means["saga_pvt_tiny"], means["focused_pvt_tiny"], means["pvt_tiny"]
        verdicts.append(f"* {task}: SAGA - focused = {saga - focused:+.2f} points (target >= +1: "
                        f"{'met' if saga - focused >= 1 else 'missed'}); SAGA - softmax = {saga - softmax:+.2f} "
                        f"(target >= -0.5: {'met' if saga - softmax >= -0.5 else 'missed'})")
    return "\n".join(lines) + "\n\nBest validation top-1 (%) per run.\n\n" + "\n".join(verdicts) + "\n"


if __name__ == "__main__":
    root = Path(sys.argv[1])
    table = collect(root)
    (root / "accuracy.json").write_text(json.dumps(table, indent=2) + "\n")
    (root / "accuracy.md").write_text(markdown(table))
    print(markdown(table))
