"""`saga demo`: the gate decomposition on real photographs, pvt_tiny against saga_pvt_tiny, a short
training run of saga_pvt_tiny and linear_pvt_tiny on a built-in task with their rank curves, then low-light
enhancement of a built-in photograph with the shipped weights and the enhancement nets' bench."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from . import metrics
from .analysis import check_decomposition, load_photos
from .bench.report import markdown, plot, write_json
from .bench.runner import run_sweep
from .data.darkening import Degradation, name_seed
from .data.lowlight import builtin_photos
from .enhancement import Enhancer
from .enhancement.images import side_by_side
from .measure import environment, resolve_device
from .models import check_input_size
from .runs import make_dir, new_run_dir
from .study import run_rank
from .train import load_config, train
from .train.enhance import BUILTIN_MAX_SIDE

DEMO_MODELS = ("pvt_tiny", "saga_pvt_tiny")
DEMO_RESOLUTIONS = (224, 512, 1024)
DEMO_TRAINED = ("linear_pvt_tiny", "saga_pvt_tiny")
DEMO_TRAINING = ["data=match", "img_size=64", "train_size=1000", "val_size=250", "batch_size=50", "warmup_epochs=1",
                 "workers=0", "resumable=false"]      # the demo never resumes: its runs keep no optimiser state
DEMO_PHOTO = "chelsea"                 # held out: the shipped enhancement weights never saw it
DEMO_ENHANCE_MODELS = ("saga_llie_tiny", "llie_channel_tiny", "retinexformer")
DEMO_ENHANCE_RESOLUTIONS = ("400x600",)  # LOL's size


def run_demo(run_dir: str | Path | None = None, device: str = "auto", resolutions: Sequence[int] | None = None,
             dtype: str = "fp32", repeats: int = 5, command: str = "saga demo", train_epochs: int = 4,
             enhance_resolutions: Sequence[str] | None = None) -> Path:
    """Write decomposition.json, bench.json/.md/.png, train-<model>/ and rank/ folders, enhance.png,
    enhance-bench.json/.md/.png and report.md into `run_dir` (default runs/demo-<time>); return it.
    train_epochs=0 leaves the training part out; resolutions default to DEMO_RESOLUTIONS, enhance_resolutions
    to DEMO_ENHANCE_RESOLUTIONS."""
    resolutions = resolutions or DEMO_RESOLUTIONS
    enhance_resolutions = enhance_resolutions or DEMO_ENHANCE_RESOLUTIONS
    dev = resolve_device(device)
    for name in DEMO_MODELS:                        # every size is checked before anything is written
        for res in resolutions:
            check_input_size(name, res, res)
    run_dir = make_dir(Path(run_dir)) if run_dir else new_run_dir("runs", "demo")
    print(f"[1/4] gate decomposition on real photographs ({dev})", flush=True)
    decomposition = check_decomposition(load_photos(), device=dev)
    (run_dir / "decomposition.json").write_text(json.dumps(decomposition, indent=2) + "\n")
    print(f"      decomposed vs materialized: relative error {decomposition['relative_error']:.2e}", flush=True)

    print(f"[2/4] benchmark {' vs '.join(DEMO_MODELS)} at {', '.join(map(str, resolutions))} ({dev}, {dtype})",
          flush=True)
    records = run_sweep(DEMO_MODELS, resolutions, [1], [dtype], dev, ["inference"], warmup=2, repeats=repeats)
    env = environment(dev)
    write_json(run_dir / "bench.json", records, env, command)
    table = markdown(records)
    (run_dir / "bench.md").write_text(table)
    plot(records, run_dir / "bench.png")
    print(table)
    training = ""
    if train_epochs > 0:
        print(f"[3/4] {train_epochs} epochs of {' and '.join(DEMO_TRAINED)} on the built-in task 'match', then their "
              "rank curves", flush=True)
        summaries = {}
        for name in DEMO_TRAINED:
            config = load_config(None, [*DEMO_TRAINING, f"model={name}", f"epochs={train_epochs}", f"device={dev}"])
            summaries[name] = train(config, run_dir / f"train-{name}", command=command)
        ranks = run_rank([str(run_dir / f"train-{name}") for name in DEMO_TRAINED], run_dir / "rank", device=str(dev))
        training = _training_report(summaries, ranks, config)
    print(f"[4/4] low-light enhancement of '{DEMO_PHOTO}' with the shipped weights, then "
          f"{', '.join(DEMO_ENHANCE_MODELS)} at {', '.join(enhance_resolutions)}", flush=True)
    enhancement = _enhancement_part(run_dir, dev, enhance_resolutions, repeats, command)
    (run_dir / "report.md").write_text(_report(decomposition, table, env, command) + training + enhancement)
    print(f"report: {run_dir / 'report.md'}  (plot: {run_dir / 'bench.png'})")
    return run_dir


def _enhancement_part(run_dir: Path, device: torch.device, resolutions: Sequence[str], repeats: int,
                      command: str) -> str:
    """Darken a held-out built-in photograph the synthetic way, enhance it with the shipped weights, score and
    save before/after (enhance.png); bench the enhancement nets (enhance-bench.*). Returns the report part."""
    photo = builtin_photos([DEMO_PHOTO], BUILTIN_MAX_SIDE)[DEMO_PHOTO]  # (H, W, 3) uint8
    low = Degradation()(photo, np.random.default_rng(name_seed(0, DEMO_PHOTO)))
    out = Enhancer(device=str(device))(low.astype(np.float32) / 255)  # the shipped weights; (H, W, 3) in [0, 1]
    target = torch.from_numpy(photo).permute(2, 0, 1)[None].double() / 255
    low_psnr, low_ssim = metrics.image_scores(low / 255, target)
    out_psnr, out_ssim = metrics.image_scores(out, target)
    side_by_side(low / 255, out).save(run_dir / "enhance.png")
    print(f"      darkened {low_psnr:.2f} dB / SSIM {low_ssim:.3f} -> enhanced {out_psnr:.2f} dB / SSIM {out_ssim:.3f}",
          flush=True)
    records = run_sweep(DEMO_ENHANCE_MODELS, resolutions, [1], ["fp32"], device, ["inference"], warmup=1,
                        repeats=min(repeats, 3))
    write_json(run_dir / "enhance-bench.json", records, environment(device), command)
    table = markdown(records)
    (run_dir / "enhance-bench.md").write_text(table)
    plot(records, run_dir / "enhance-bench.png")
    print(table)
    height, width = photo.shape[:2]
    return f"""
## 4. Low-light enhancement

`{DEMO_PHOTO}` from scikit-image ({width}x{height}), a photograph no shipped weights were trained on,
darkened the synthetic way (seed 0, the README's ranges: exposure, gamma, colour cast, sensor noise,
sometimes JPEG), then enhanced by `saga_llie_tiny` with the weights shipped in the package:

| | PSNR | SSIM |
|---|---|---|
| darkened input | {low_psnr:.2f} dB | {low_ssim:.3f} |
| enhanced | {out_psnr:.2f} dB | {out_ssim:.3f} |

![darkened and enhanced](enhance.png)

The enhancement nets at photo size (inference, batch 1, fp32):

{table}
![enhancement throughput and memory](enhance-bench.png)
"""


def chance_verdict(top1: float, chance: float, count: int) -> str:
    """Whether a top-1 (%) on `count` images is more than two standard errors above chance (%)."""
    p = chance / 100
    margin = 200 * math.sqrt(p * (1 - p) / count)
    if top1 > chance + margin:
        return f"above chance ({top1:.1f}% against {chance:.0f}%, more than two standard errors, {margin:.1f} points)"
    return (f"not distinguishable from chance ({top1:.1f}% against {chance:.0f}%, two standard errors are "
            f"{margin:.1f} points)")


def _training_report(summaries: dict[str, dict], ranks: dict[str, list[dict]], config) -> str:
    from .analysis.rank import summarize

    engine, task = config.engine, config.task
    rows = "\n".join(f"| {name} | {s['last']['val_top1']:.1f}% | {s['best_top1']:.1f}% | "
                     f"{s['last']['train_loss']:.3f} | {chance_verdict(s['best_top1'], 25.0, task.val_size)} |"
                     for name, s in summaries.items())
    return f"""
## 3. A short training run on the built-in task 'match', and the rank of the attention states

Both models, {engine.epochs} epochs on {task.train_size} images of the retrieval task (64x64, 4 classes: the
colour of the glyph that matches the query in the corner; chance is 25%), evaluated on {task.val_size} others. This
budget (a few CPU minutes) shows the pipeline (`saga train`, `saga rank`) and where the training loss goes; the
task itself takes far longer to learn, and the accuracy claim is measured by the GPU study in benchmarks/results/.
The last column says whether the best top-1 is above chance at all.

| model | last top-1 | best top-1 | last train loss | best top-1 against chance |
|---|---|---|---|---|
{rows}

Effective rank (entropy of the singular values) and numerical rank of each head's KV state, and the
effective rank of the attention map on 64 query tokens, averaged over layers, in dimensions: a
head's full rank is its width, 64 in every PVT stage (`rank/rank.json` has every layer):

{summarize(ranks)}
![rank curves](rank/rank.png)

Training curves: `train-<model>/curves.png`.
"""


def _report(dec: dict, table: str, env: dict, command: str) -> str:
    def mem(name: str) -> str:
        value = dec[name]["peak_mem_mib"]
        return "n/a" if value is None else f"{value:.1f} MiB"

    return f"""# saga demo

Command: `{command}`. Machine: {env['device_name']} ({env['device']}), torch {env['torch']}.

## 1. The gate decomposition on real photographs

{dec['images']} photographs from scikit-image (astronaut, coffee, chelsea, rocket), resized to
128x128, cut into {dec['tokens']} tokens by a 4x4 patch embedding and projected by a SAGA layer of
PVT stage-1 width ({dec['heads']} head of {dec['head_dim']} channels, random weights). The SAGA op
computed both ways:

| form | peak memory | time |
|---|---|---|
| decomposed: sum_j (a_j * k_j)^T (b_j * v_j) | {mem('decomposed')} | {dec['decomposed']['ms']:.2f} ms |
| materialized: sum_j (a_j^T b_j) * (k_j^T v_j) | {mem('materialized')} | {dec['materialized']['ms']:.2f} ms |

Relative error between the two: {dec['relative_error']:.2e} (max abs difference
{dec['max_abs_diff']:.2e}). The materialized form holds every per-token d x d gate,
{dec['gate_tensor_mib']:.1f} MiB in fp32 here, where the decomposition keeps one d x d state per head
({dec['state_mib']:.4f} MiB). Peak memory: {dec['mem_method']}.

## 2. pvt_tiny against saga_pvt_tiny (inference, batch 1)

{table}
![throughput and memory](bench.png)

On a CPU these numbers only show the shape of the curves; the efficiency claims are for GPUs
and are measured with `saga bench` on one.
"""
