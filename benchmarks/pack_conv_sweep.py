"""Can the output kernel take packed heads *with* the local conv faster than a program per head? Sweeps the launch
shape of "output_conv_packed" (ops/saga/triton.py's PACK_WITH_CONV) on the low-light net's first level (4.67M
tokens, 2 heads of 20, 3x3 conv, slices of one 5C projection, bf16, inference), then times saga_llie_small at
2160x3840 with the fastest shape against a program per head, in one process. Prints and saves ms and the largest
difference from the per-head output. On a GPU, about two minutes.

    PYTHONPATH=src python3 benchmarks/pack_conv_sweep.py --out pack_conv_sweep.json
"""
from __future__ import annotations

import argparse
import itertools
import json

import torch

import saga_attention as sa
from saga_attention.bench.measure import resolve_device, time_ms
from saga_attention.ops.saga import triton as kernels

from pack_heads_ab import op_inputs

DEFAULT_LAUNCH = kernels.launch_config


def use(packed: bool, shape: dict[str, int] | None = None) -> None:
    """Pack heads with the conv or not; with `shape`, the packed output kernel's launch shape."""
    kernels.PACK_WITH_CONV = packed
    kernels.launch_config = (lambda kernel, *a: dict(shape) if kernel == "output_conv_packed" else
                             DEFAULT_LAUNCH(kernel, *a)) if shape else DEFAULT_LAUNCH
    kernels._kernel_flags.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=2160, help="the op's map is side x side tokens")
    parser.add_argument("--res", default="2160x3840", help="the model's HxW")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    try:
        h, w = (int(n) for n in args.res.split("x"))
    except ValueError:
        parser.error(f"--res takes HxW; got {args.res!r}")
    if min(h, w, args.side) < 1:
        parser.error("--side and --res must be at least 1")
    device = resolve_device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    inputs = op_inputs(args.side * args.side, 2, 20, device, dtype)
    conv = dict(conv_weight=torch.randn(40, 1, 3, 3, device=device, dtype=dtype),
                conv_bias=torch.randn(40, device=device, dtype=dtype), hw=(args.side, args.side))
    run = lambda: sa.saga_attention(*inputs, backend="triton", **conv)  # noqa: E731
    rows = []
    with torch.inference_mode():
        use(False)
        ref = run().float()
        rows.append({"case": "op, a program per head", "ms": round(time_ms(run, device, 2, args.repeats), 3)})
        print(json.dumps(rows[-1]), flush=True)
        for block_n, warps, stages in itertools.product((32, 64, 128), (4, 8), (2, 3)):
            shape = {"BLOCK_N": block_n, "num_warps": warps, "num_stages": stages}
            use(True, shape)
            diff = (run().float() - ref).abs().max().item()
            rows.append({"case": "op, packed", **shape, "ms": round(time_ms(run, device, 2, args.repeats), 3),
                         "max_abs_diff": diff})
            print(json.dumps(rows[-1]), flush=True)
        best = min((r for r in rows if r["case"] == "op, packed"), key=lambda r: r["ms"])
        best_shape = {k: best[k] for k in ("BLOCK_N", "num_warps", "num_stages")}
        model = sa.create_model("saga_llie_small").to(device, dtype).eval()
        x = torch.rand(1, 3, h, w, device=device, dtype=dtype)
        outs = {}
        for packed in (False, True):
            use(packed, best_shape if packed else None)
            outs[packed] = model(x).float()
            ms = time_ms(lambda: model(x), device, 2, args.repeats)
            rows.append({"case": f"saga_llie_small {args.res}", "packed_with_conv": packed, **(best_shape if packed
                         else {}), "ms": round(ms, 2), "img_per_s": round(1000 / ms, 2),
                         "max_abs_diff": (outs[packed] - outs[False]).abs().max().item()})
            print(json.dumps(rows[-1]), flush=True)
    use(False)
    with open(args.out, "w") as f:
        json.dump({"device": str(device), "dtype": str(dtype), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
