"""The equal-budget table of the low-light nets: every model trained with the same optimizer steps, batch and crop
on the built-in pairs (data=lowlight), for several seeds; then each best checkpoint on the held-out photographs.
Runs are `saga train` / `saga eval` processes, several at a time. Writes runs/, results.json and table.md.
`--variant NAME SETTING...` (repeatable) trains every model once more per variant with those settings added.

    PYTHONPATH=src python3 benchmarks/llie_equal_budget.py --out OUT --device cuda --parallel 7
    PYTHONPATH=src python3 benchmarks/llie_equal_budget.py --out OUT --models saga_llie_tiny --steps 2000 --epochs 8 \
        --variant no-hubble photos=[astronaut,coffee,immunohistochemistry,retina,stereo_motorcycle]

The default budget (400 steps of 4 crops of 128 x 128, tiny nets) takes about 8 minutes a run on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODELS = ["saga_llie_tiny", "llie_channel_tiny", "llie_window_tiny", "llie_global_tiny", "llie_linear_tiny",
          "llie_focused_tiny", "retinexformer"]


def command(model: str, seed: int, run: Path, args: argparse.Namespace, extra: list[str]) -> list[str]:
    per_epoch = args.steps // args.epochs * args.batch
    return [sys.executable, "-m", "saga_attention.cli", "train", "--config", "lowlight-cpu", f"model={model}",
            f"seed={seed}", f"epochs={args.epochs}", f"samples_per_epoch={per_epoch}", f"batch_size={args.batch}",
            f"crop={args.crop}", f"device={args.device}", "workers=1", f"out={run}", "resumable=false", *extra]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--parallel", type=int, default=1, help="runs at a time")
    parser.add_argument("--variant", nargs="+", action="append", default=[], metavar=("NAME", "SETTING"),
                        help="train every model also with these settings added (the plain runs are variant '-')")
    args = parser.parse_args()
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    variants = {"-": [], **{v[0]: v[1:] for v in args.variant}}
    jobs = [(m, v, int(s)) for s in args.seeds.split(",") for v in variants for m in args.models.split(",")]
    pending, running, results = list(jobs), [], []
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // args.parallel))}
    start = time.time()
    while pending or running:
        while pending and len(running) < args.parallel:
            model, variant, seed = pending.pop(0)
            name = f"{model}-seed{seed}" if variant == "-" else f"{model}-{variant}-seed{seed}"
            run, log = out / "runs" / name, open(out / "runs" / f"{name}.log", "w")
            proc = subprocess.Popen(command(model, seed, run, args, variants[variant]), stdout=log,
                                    stderr=subprocess.STDOUT, env=env)
            running.append((model, variant, seed, run, proc, time.time(), None))
        time.sleep(2)
        for item in [r for r in running if r[4].poll() is not None]:
            running.remove(item)
            model, variant, seed, run, proc, began, row = item
            if row is None:                       # training ended: score the best checkpoint held out, in its slot
                row = {"model": model, "variant": variant, "settings": variants[variant], "seed": seed,
                       "rc": proc.returncode, "train_s": round(time.time() - began, 1)}
                if proc.returncode == 0:
                    row.update(val_psnr=json.loads((run / "summary.json").read_text())["best_psnr"])
                    held = subprocess.Popen([sys.executable, "-m", "saga_attention.cli", "eval", str(run),
                                             "data=lowlight-heldout", f"device={args.device}", "workers=0", "--json",
                                             str(run / "heldout.json")], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, env=env)
                    running.append((model, variant, seed, run, held, began, row))
                    continue
            elif proc.returncode == 0:
                metrics = json.loads((run / "heldout.json").read_text())
                row.update(heldout_psnr=metrics["psnr"], heldout_ssim=metrics["ssim"])
            results.append(row)
            print(json.dumps(row), flush=True)
    setup = {k: getattr(args, k) for k in ("steps", "epochs", "batch", "crop", "device", "seeds")}
    (out / "results.json").write_text(json.dumps({"setup": setup, "wall_s": round(time.time() - start),
                                                  "runs": results}, indent=2) + "\n")
    (out / "table.md").write_text(table(results, setup))
    print(table(results, setup))


def _mean_sd(values: list[float], digits: int = 2) -> str:
    if len(values) < 2:
        return f"{values[0]:.{digits}f} (one seed)" if values else "-"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def table(results: list[dict], setup: dict) -> str:
    lines = [f"Equal budget: {setup['steps']} steps of {setup['batch']} crops of {setup['crop']}x{setup['crop']} on "
             f"the built-in pairs, seeds {setup['seeds']} ({setup['device']}). PSNR in dB, mean ± sd over seeds.", "",
             "| model | variant | seeds | val PSNR (built-in, best epoch) | held-out PSNR | held-out SSIM |",
             "|---|---|---|---|---|---|"]
    for model, variant in dict.fromkeys((r["model"], r.get("variant", "-")) for r in results):
        rows = [r for r in results if (r["model"], r.get("variant", "-")) == (model, variant) and r["rc"] == 0]
        lines.append(f"| {model} | {variant} | {len(rows)} | {_mean_sd([r['val_psnr'] for r in rows])} | "
                     f"{_mean_sd([r['heldout_psnr'] for r in rows if 'heldout_psnr' in r])} | "
                     f"{_mean_sd([r['heldout_ssim'] for r in rows if 'heldout_ssim' in r], 4)} |")
    settings = {r.get("variant", "-"): r.get("settings", []) for r in results}
    notes = [f"* variant `{v}`: {' '.join(extra)}" for v, extra in settings.items() if extra]
    lines += ["", *notes] if notes else []
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
