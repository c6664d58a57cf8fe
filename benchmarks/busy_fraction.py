"""How much of a step the GPU is busy: the summed CUDA kernel time of a few steps over their wall time,
from torch.profiler, for training steps and inference (a low fraction means the host sets the pace).

Run from the repository root:
PYTHONPATH=src python3 benchmarks/busy_fraction.py --models pvt_tiny,saga_pvt_tiny --res 1280 --batch 2 --out busy.json
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from torch.profiler import ProfilerActivity, profile

from saga_attention.bench import DTYPES, MODES, parse_bench_entry
from saga_attention.bench.runner import COMPILE_RUNNERS, step_fn
from saga_attention.models import create_model, split_specs

STEPS = 5


def busy(spec: str, res: int, batch: int, mode: str) -> dict:
    model_spec, runner = parse_bench_entry(spec)
    model = create_model(model_spec).cuda()
    x = torch.randn(batch, 3, res, res, device="cuda")
    if mode == "inference":
        model, x = model.eval().bfloat16(), x.bfloat16()
    if runner is not None:
        model = torch.compile(model, fullgraph=True, mode=COMPILE_RUNNERS[runner])
    step = step_fn(model, x, mode, DTYPES["bf16"], graphs=runner == "reduce-overhead")
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        start = time.perf_counter()
        for _ in range(STEPS):
            step()
        torch.cuda.synchronize()
        wall_ms = (time.perf_counter() - start) * 1e3
    kernel_ms = sum(e.self_device_time_total for e in prof.key_averages() if e.self_device_time_total > 0) / 1e3
    launches = sum(e.count for e in prof.key_averages() if e.self_device_time_total > 0) / STEPS
    return {"model": spec, "res": res, "batch": batch, "mode": mode, "step_ms": wall_ms / STEPS,
            "kernel_ms": kernel_ms / STEPS, "busy": kernel_ms / wall_ms, "kernels_per_step": launches}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="pvt_tiny,saga_pvt_tiny")
    parser.add_argument("--res", type=int, default=1280)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--mode", default="train", choices=MODES)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    rows = []
    for spec in split_specs(args.models):
        rows.append(busy(spec, args.res, args.batch, args.mode))
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()}, flush=True)
        torch.cuda.empty_cache()
    with open(args.out, "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
