"""What every script of the benchmark suite shares: the device, a record of the machine, and writing results as
JSON (command, environment, records), a Markdown table and a PNG bar chart beside it."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from saga_attention.measure import environment, resolve_device  # noqa: E402


def device_argument(parser) -> None:
    parser.add_argument("--device", default="auto", help="auto (cuda when there is one), cpu, cuda or cuda:N")


def out_argument(parser, default: str) -> None:
    parser.add_argument("--out", default=default, help=f"the results' JSON path; .md and .png go beside it "
                                                        f"(default {default})")


def the_device(name: str) -> torch.device:
    """resolve_device, with a one-line exit 2 for a device that is not there."""
    try:
        return resolve_device(name)
    except (ValueError, RuntimeError) as err:
        print(f"{Path(sys.argv[0]).name}: error: {err}", file=sys.stderr)
        sys.exit(2)


def _label(record: dict[str, Any], keys: Sequence[str]) -> str:
    return ", ".join(f"{k} {record[k]}" for k in keys if record.get(k) is not None)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return "-" if value is None else str(value)


def markdown_table(records: list[dict[str, Any]], keys: Sequence[str], metrics: Sequence[str]) -> str:
    """A row per record: its key fields, then its metrics."""
    lines = ["| " + " | ".join([*keys, *metrics]) + " |", "|---" * (len(keys) + len(metrics)) + "|"]
    lines += ["| " + " | ".join(_cell(r.get(k)) for k in [*keys, *metrics]) + " |" for r in records]
    return "\n".join(lines) + "\n"


def bar_chart(records: list[dict[str, Any]], keys: Sequence[str], metric: str, path: Path, title: str) -> None:
    """One horizontal bar per record with a value of `metric`."""
    rows = [r for r in records if isinstance(r.get(metric), (int, float))]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.2))
    ax.barh([_label(r, keys) for r in rows], [r[metric] for r in rows], color="tab:blue")
    ax.invert_yaxis()
    ax.set_xlabel(metric)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_results(out: str | Path, records: list[dict[str, Any]], device: torch.device, keys: Sequence[str],
                  metrics: Sequence[str], title: str, extra: dict[str, Any] | None = None) -> Path:
    """OUT.json ({command, environment, records, ...extra}), OUT.md (the table) and OUT.png (metrics[0] per
    record); prints the table and returns the JSON path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = shlex.join(["python3", *sys.argv])
    env = environment(device)
    out.write_text(json.dumps({"command": command, "environment": env, "records": records, **(extra or {})},
                              indent=1) + "\n")
    table = markdown_table(records, keys, metrics)
    machine = f"{env['device_name']}, torch {env['torch']}, triton {env['triton']}"
    out.with_suffix(".md").write_text(f"# {title}\n\n{machine}. `{command}`\n\n{table}")
    bar_chart(records, keys, metrics[0], out.with_suffix(".png"), f"{title} ({env['device_name']})")
    print(table)
    print(f"wrote {out} (.md, .png beside it)")
    return out
