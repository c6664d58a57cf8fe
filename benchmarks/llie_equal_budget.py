"""The equal-budget table of the low-light nets: every model trained with the same optimizer steps, batch and crop
on the built-in pairs (data=lowlight), for several seeds; then each best checkpoint on the held-out photographs.
Runs are `saga train` / `saga eval` processes, several at a time. Writes runs/, results.json and table.md.

    PYTHONPATH=src python3 benchmarks/llie_equal_budget.py --out OUT --device cuda --parallel 7

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


def command(model: str, seed: int, run: Path, args: argparse.Namespace) -> list[str]:
    per_epoch = args.steps // args.epochs * args.batch
    return [sys.executable, "-m", "saga_attention.cli", "train", "--config", "lowlight-cpu", f"model={model}",
            f"seed={seed}", f"epochs={args.epochs}", f"samples_per_epoch={per_epoch}", f"batch_size={args.batch}",
            f"crop={args.crop}", f"device={args.device}", "workers=1", f"out={run}", "resumable=false"]


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
    args = parser.parse_args()
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    jobs = [(m, int(s)) for s in args.seeds.split(",") for m in args.models.split(",")]
    pending, running, results = list(jobs), [], []
    start = time.time()
    while pending or running:
        while pending and len(running) < args.parallel:
            model, seed = pending.pop(0)
            run = out / "runs" / f"{model}-seed{seed}"
            log = open(out / "runs" / f"{model}-seed{seed}.log", "w")
            env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // args.parallel))}
            running.append((model, seed, run, subprocess.Popen(command(model, seed, run, args), stdout=log,
                                                               stderr=subprocess.STDOUT, env=env), time.time()))
        time.sleep(2)
        for item in [r for r in running if r[3].poll() is not None]:
            running.remove(item)
            model, seed, run, proc, began = item
            row = {"model": model, "seed": seed, "rc": proc.returncode, "train_s": round(time.time() - began, 1)}
            if proc.returncode == 0:
                summary = json.loads((run / "summary.json").read_text())
                row.update(val_psnr=summary["best_psnr"])
                held = subprocess.run([sys.executable, "-m", "saga_attention.cli", "eval", str(run),
                                       "data=lowlight-heldout", f"device={args.device}", "workers=0", "--json",
                                       str(run / "heldout.json")], capture_output=True, text=True)
                if held.returncode == 0:
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
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {sd:.{digits}f}"


def table(results: list[dict], setup: dict) -> str:
    lines = [f"Equal budget: {setup['steps']} steps of {setup['batch']} crops of {setup['crop']}x{setup['crop']} on "
             f"the built-in pairs, seeds {setup['seeds']} ({setup['device']}). PSNR in dB, mean ± sd over seeds.", "",
             "| model | seeds | val PSNR (built-in, best epoch) | held-out PSNR | held-out SSIM |", "|---|---|---|---|---|"]
    for model in dict.fromkeys(r["model"] for r in results):
        rows = [r for r in results if r["model"] == model and r["rc"] == 0]
        lines.append(f"| {model} | {len(rows)} | {_mean_sd([r['val_psnr'] for r in rows])} | "
                     f"{_mean_sd([r['heldout_psnr'] for r in rows if 'heldout_psnr' in r])} | "
                     f"{_mean_sd([r['heldout_ssim'] for r in rows if 'heldout_ssim' in r], 4)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
