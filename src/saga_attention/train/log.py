"""Per-epoch metrics: JSONL and CSV in the run folder, TensorBoard when installed, a PNG of the curves."""
from __future__ import annotations

import csv
import json
from pathlib import Path


class MetricsLog:
    """Rows of metrics, one per epoch, kept in `<run>/metrics.jsonl` and `<run>/metrics.csv`."""

    def __init__(self, run_dir: Path, keep_epochs: int = 0) -> None:
        """keep_epochs: on resume, rows of later epochs (from after the checkpoint) are dropped."""
        self.run_dir = run_dir
        self.jsonl = run_dir / "metrics.jsonl"
        self.rows: list[dict] = []
        if self.jsonl.exists():
            self.rows = [r for r in map(json.loads, self.jsonl.read_text().splitlines()) if r["epoch"] <= keep_epochs]
        self.tensorboard = _tensorboard(run_dir)

    def add(self, row: dict) -> None:
        self.rows.append(row)
        self.jsonl.write_text("".join(json.dumps(r) + "\n" for r in self.rows))
        with open(self.run_dir / "metrics.csv", "w", newline="") as f:
            names = list(dict.fromkeys(k for r in self.rows for k in r))       # rows of older runs may differ
            writer = csv.DictWriter(f, fieldnames=names, restval="")
            writer.writeheader()
            writer.writerows(self.rows)
        if self.tensorboard is not None:
            for key, value in row.items():
                if key != "epoch" and isinstance(value, (int, float)):
                    self.tensorboard.add_scalar(key, value, row["epoch"])
            self.tensorboard.flush()

    def plot(self, title: str, metric: str) -> Path:
        """Losses and the validation `metric` (and its EMA) against epoch, in `<run>/curves.png`."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from ..plots import integer_x

        epochs = [r["epoch"] for r in self.rows]
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        for key, label, ax in (("train_loss", "train", left), ("val_loss", "validation", left),
                               (f"val_{metric}", "model", right), (f"ema_{metric}", "EMA", right)):
            if self.rows and key in self.rows[0]:
                ax.plot(epochs, [r[key] for r in self.rows], marker="o" if len(epochs) < 20 else None, label=label)
        left.set(xlabel="epoch", ylabel="loss", title="loss")
        right.set(xlabel="epoch", ylabel=f"validation {metric}", title=metric)
        for ax in (left, right):
            integer_x(ax)
            ax.grid(alpha=0.3)
            ax.legend()
        fig.suptitle(title)
        fig.tight_layout()
        path = self.run_dir / "curves.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def _tensorboard(run_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(run_dir / "tensorboard"))
