"""Benchmark reports: JSON records, a Markdown table with ratios, and a PNG plot against resolution."""
from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..plots import log_y  # noqa: E402

GROUP_KEYS = ("device", "dtype", "mode", "batch")
APART = " (†)"   # marks a ratio between records of different runs


def write_json(path: str | os.PathLike, records: list[dict[str, Any]], environment: dict[str, Any],
               command: str) -> Path:
    """{"command", "environment", "records"} as indented JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"command": command, "environment": environment, "records": records}, indent=2) + "\n")
    return path


def _groups(records: list[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[tuple(r[k] for k in GROUP_KEYS)].append(r)
    return groups


def _ordered(values) -> list:
    return list(dict.fromkeys(values))


def _cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return "-"
    if r["status"] != "ok":
        return r["status"]
    mem = "n/a" if r["peak_mem_mib"] is None else f"{r['peak_mem_mib']:.0f} MiB"
    return f"{r['img_per_s']:.1f} img/s, {mem}"


def _ratio(r: dict[str, Any] | None, base: dict[str, Any] | None) -> str:
    if not r or not base or r["status"] != "ok" or base["status"] != "ok":
        return "-"
    apart = APART if r.get("source") != base.get("source") else ""
    speed = f"{r['img_per_s'] / base['img_per_s']:.2f}x speed"
    if r["peak_mem_mib"] and base["peak_mem_mib"]:
        return f"{speed}, {r['peak_mem_mib'] / base['peak_mem_mib']:.2f}x memory{apart}"
    return speed + apart


def markdown(records: list[dict[str, Any]]) -> str:
    """One table per (device, dtype, mode, batch): throughput and peak memory per model and resolution,
    then each model's ratios against the first model listed (throughput and peak memory, model / first)."""
    lines = []
    for key, rows in _groups(records).items():
        models, resolutions = _ordered(r["model"] for r in rows), _ordered(r["res"] for r in rows)
        at = {(r["model"], r["res"]): r for r in rows}
        header = "| model | " + " | ".join(resolutions) + " |"
        rule = "|---" * (len(resolutions) + 1) + "|"
        lines += [f"### {', '.join(f'{k} {v}' for k, v in zip(GROUP_KEYS, key))}", "", header, rule]
        lines += [f"| {m} | " + " | ".join(_cell(at.get((m, res))) for res in resolutions) + " |" for m in models]
        if len(models) > 1:
            lines += ["", f"Ratios to {models[0]} (throughput: higher is better; peak memory: lower is better):",
                      "", header, rule]
            lines += [f"| {m} | " + " | ".join(_ratio(at.get((m, res)), at.get((models[0], res)))
                                               for res in resolutions) + " |" for m in models[1:]]
        failed = [r for r in rows if r["status"] == "error"]
        lines += [f"- {r['model']} at {r['res']}: {r['error']}" for r in failed]
        lines.append("")
    if any(APART in line for line in lines):
        runs = ", ".join(_ordered(r["source"] for r in records))
        lines.append(f"{APART.strip()} The two records come from different runs ({runs}): they were not measured "
                     "side by side, so the ratio carries the difference between the runs too.\n")
    method = _ordered(r["mem_method"] for r in records if r["mem_method"])
    if method:
        lines.append("Peak memory: " + "; ".join(method) + ".")
    return "\n".join(lines) + "\n"


def plot(records: list[dict[str, Any]], path: str | os.PathLike, title: str = "") -> Path:
    """Throughput and peak memory against resolution (log scales): a row per (device, dtype, mode,
    batch) group, a line per model, each model one colour throughout."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    groups = _groups(records)
    models = _ordered(r["model"] for r in records)
    colours = {m: plt.cm.tab10(i % 10) for i, m in enumerate(models)}
    fig, axes = plt.subplots(len(groups), 2, figsize=(12, 4.2 * len(groups)), squeeze=False)
    for (ax_speed, ax_mem), (key, rows) in zip(axes, groups.items()):
        for model in _ordered(r["model"] for r in rows):
            ok = [r for r in rows if r["model"] == model and r["status"] == "ok"]
            heights = [int(r["res"].split("x")[0]) for r in ok]
            style = {"marker": "o", "label": model, "color": colours[model]}
            ax_speed.plot(heights, [r["img_per_s"] for r in ok], **style)
            mem = [(h, r["peak_mem_mib"]) for h, r in zip(heights, ok) if r["peak_mem_mib"]]
            if mem:
                ax_mem.plot(*zip(*mem), **style)
        group = ", ".join(f"{k} {v}" for k, v in zip(GROUP_KEYS, key))
        for ax, ylabel in [(ax_speed, "throughput (images/s)"), (ax_mem, "peak memory (MiB)")]:
            ax.set_title(group, fontsize=10)
            ax.set_xlabel("input height (pixels)")
            ax.set_ylabel(ylabel)
            log_y(ax)
            ax.grid(True, which="both", alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=8)
    fig.suptitle(title or "throughput and peak memory against resolution (missing points: oom or error)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def read_records(paths: list[str | os.PathLike]) -> list[dict[str, Any]]:
    """The records of one or more JSON files written by `write_json`, in order; with several files each record
    names its file under "source", so that ratios across files are marked."""
    records = []
    for path in paths:
        try:
            found = json.loads(Path(path).read_text())["records"]
            if not isinstance(found, list) or not all(isinstance(r, dict) for r in found):
                raise TypeError("records must be a list of objects")
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{str(path)!r} is not a benchmark JSON written by saga bench: {err}") from err
        records += [{**r, "source": str(path)} if len(paths) > 1 else r for r in found]
    return records
