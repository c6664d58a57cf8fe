"""Where the time goes on a GPU: the CUDA kernels of a model's step (torch.profiler), how busy the GPU is over
a few steps (kernel time against wall time: a low fraction means the host sets the pace), and where the host
time of one SAGA op call goes (cProfile).

    PYTHONPATH=src python3 benchmarks/profiling.py kernels --model pvt_tiny,saga_pvt_tiny --res 1280 --batch 8
    PYTHONPATH=src python3 benchmarks/profiling.py busy --model pvt_tiny,saga_pvt_tiny@compile --mode train --batch 2
    PYTHONPATH=src python3 benchmarks/profiling.py host

Each takes under a minute on a GPU. Models are specs as `saga bench` takes them (`@compile`,
`@reduce-overhead`); steps are `saga bench`'s (--mode inference, train or fwd-bwd), in bf16.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

import torch
from common import out_argument, write_results
from torch.profiler import ProfilerActivity, profile

import saga_attention as sa
from saga_attention.bench.runner import COMPILE_RUNNERS, MODES, parse_bench_entry, step_fn
from saga_attention.measure import DTYPES
from saga_attention.models import create_model, split_specs

STEPS = 5


def prepared_step(entry: str, res: int, batch: int, mode: str):
    """saga bench's step of a model spec (with its runner) on one random batch, warmed up."""
    spec, runner = parse_bench_entry(entry)
    model = create_model(spec).cuda()
    x = torch.randn(batch, 3, res, res, device="cuda")
    if mode == "inference":
        model, x = model.eval().bfloat16(), x.bfloat16()
    if runner is not None:
        model = torch.compile(model, fullgraph=True, mode=COMPILE_RUNNERS[runner])
    step = step_fn(model, x, mode, DTYPES["bf16"], graphs=runner == "reduce-overhead")
    for _ in range(3):
        step()
    torch.cuda.synchronize()
    return step


def kernels(args: argparse.Namespace) -> None:
    """The 25 kernels with the most GPU time in one step, per model; a text file."""
    lines = []
    for entry in split_specs(args.models):
        step = prepared_step(entry, args.res, args.batch, args.mode)
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            step()
            torch.cuda.synchronize()
        table = prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=25, max_name_column_width=110)
        lines += [f"== {entry}, {args.res}x{args.res}, batch {args.batch}, bf16 {args.mode}", table]
        torch.cuda.empty_cache()
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).with_suffix(".txt").write_text(text)


def busy(args: argparse.Namespace) -> None:
    """Per model: wall time of a step, the GPU's kernel time in it, their ratio and the launches."""
    rows = []
    for entry in split_specs(args.models):
        step = prepared_step(entry, args.res, args.batch, args.mode)
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            start = time.perf_counter()
            for _ in range(STEPS):
                step()
            torch.cuda.synchronize()
            wall_ms = (time.perf_counter() - start) * 1e3
        events = [e for e in prof.key_averages() if e.self_device_time_total > 0]
        kernel_ms = sum(e.self_device_time_total for e in events) / 1e3
        rows.append({"model": entry, "res": args.res, "batch": args.batch, "mode": args.mode,
                     "busy": kernel_ms / wall_ms, "step_ms": wall_ms / STEPS, "kernel_ms": kernel_ms / STEPS,
                     "kernels_per_step": sum(e.count for e in events) / STEPS})
        torch.cuda.empty_cache()
    write_results(args.out, rows, torch.device("cuda"), ("model", "res", "batch", "mode"),
                  ("busy", "step_ms", "kernel_ms", "kernels_per_step"), "GPU busy fraction of a step")


def host(args: argparse.Namespace) -> None:
    """cProfile of 200 forward + backward calls of the op on (1, 256, 1, 64) bf16 inputs; a text file."""
    q, k, v, g_k, g_v = (torch.randn(1, 256, 1, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
                         for _ in range(5))
    grad = torch.randn_like(q)
    call = lambda: torch.autograd.grad(sa.saga_attention(q, k, v, g_k, g_v), (q, k, v, g_k, g_v), grad)  # noqa: E731
    for _ in range(20):
        call()
    torch.cuda.synchronize()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(200):
        call()
    profiler.disable()
    torch.cuda.synchronize()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(30)
    print(text.getvalue())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).with_suffix(".txt").write_text("200 calls of forward + backward, (1, 256, 1, 64) bf16\n"
                                                  + text.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("kernels", "busy", "host"))
    parser.add_argument("--model", "--models", dest="models",
                        default="pvt_tiny,saga_pvt_tiny", help="comma-separated specs, '@compile' etc.")
    parser.add_argument("--res", type=int, default=1280)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--mode", default="inference", choices=MODES)
    out_argument(parser, "runs/profile/profile.json")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("profiling.py: error: profiles are of CUDA kernels and need a GPU; use `saga bench --device cpu` "
              "for CPU timings", file=sys.stderr)
        sys.exit(2)
    {"kernels": kernels, "busy": busy, "host": host}[args.what](args)


if __name__ == "__main__":
    main()
