"""Where the time goes: the CUDA kernels of one inference forward, per model, from torch.profiler.

Run from the repository root: PYTHONPATH=src python3 benchmarks/profile_models.py --out profile.txt
"""
from __future__ import annotations

import argparse

import torch
from torch.profiler import ProfilerActivity, profile

import saga_attention as sa
from saga_attention.models import split_specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--models", default="pvt_tiny,saga_pvt_tiny,linear_pvt_tiny")
    parser.add_argument("--res", type=int, default=1280)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--compile", action="store_true", help="profile torch.compile(model, fullgraph=True)")
    parser.add_argument("--ops", action="store_true",
                        help="also a table of the aten ops by input shape (which op launched which kernels)")
    args = parser.parse_args()
    lines = []
    for spec in split_specs(args.models):
        model = sa.create_model(spec).cuda().eval().bfloat16()
        if args.compile:
            model = torch.compile(model, fullgraph=True)
        x = torch.randn(args.batch, 3, args.res, args.res, device="cuda", dtype=torch.bfloat16)
        with torch.inference_mode():
            for _ in range(3):
                model(x)
            torch.cuda.synchronize()
            activities = [ProfilerActivity.CUDA] + ([ProfilerActivity.CPU] if args.ops else [])
            with profile(activities=activities, record_shapes=args.ops) as prof:
                model(x)
                torch.cuda.synchronize()
        kernels = prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=25, max_name_column_width=110)
        mode = "compiled" if args.compile else "eager"
        lines += [f"== {spec}, {args.res}x{args.res}, batch {args.batch}, bf16 inference, {mode}", kernels]
        if args.ops:
            lines.append(prof.key_averages(group_by_input_shape=True).table(
                sort_by="self_cuda_time_total", row_limit=30, max_name_column_width=40, max_shapes_column_width=90))
        del model, x
        torch.cuda.empty_cache()
    text = "\n".join(lines)
    print(text)
    with open(args.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
