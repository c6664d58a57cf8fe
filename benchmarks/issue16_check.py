"""Issue 16's checks over the folder benchmarks/issue16_two_gpus.sh fills: ranks agree, 1 vs 2 GPU final loss,
the killed-and-resumed run against the uninterrupted one, 2 vs 1 GPU throughput. Prints a table, writes check.json."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file


def summary(run: Path) -> dict | None:
    path = run / "summary.json"
    return json.loads(path.read_text()) if path.exists() else None


def same_weights(a: Path, b: Path) -> dict:
    """Tensor-by-tensor comparison of two training checkpoints: bit-identical, and the largest difference."""
    if not (a.exists() and b.exists()):
        return {"compared": False}
    left, right = load_file(str(a)), load_file(str(b))
    diffs = [(left[k].double() - right[k].double()).abs().max().item() for k in left if left[k].numel()]
    return {"compared": True, "same_keys": left.keys() == right.keys(),
            "bit_identical": left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left),
            "max_abs_diff": max(diffs, default=0.0)}


def main() -> None:
    root = Path(sys.argv[1])
    result = {}
    for task in ("cls", "enh"):
        two, one = summary(root / f"{task}-2"), summary(root / f"{task}-1")
        row = {"ranks_agree": two and two["ranks_agree"]}
        if two and one:
            loss2, loss1 = two["last"]["train_loss"], one["last"]["train_loss"]
            row.update(loss_2gpu=loss2, loss_1gpu=loss1, loss_gap=abs(loss1 - loss2) / loss2)
        tp1, tp2 = root / f"tp-{task}-1.json", root / f"tp-{task}-2.json"
        if tp1.exists() and tp2.exists():
            row["speedup_2_vs_1"] = (json.loads(tp2.read_text())["samples_per_s"]
                                     / json.loads(tp1.read_text())["samples_per_s"])
        result[task] = row
    result["resume"] = same_weights(root / "cls-2" / "last.safetensors", root / "cls-killed" / "last.safetensors")
    print(json.dumps(result, indent=1))
    (root / "check.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
