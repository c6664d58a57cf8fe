"""Do narrow heads run faster packed side by side in one program (ops/saga/triton.py's PACK_WIDTH) than one program
per head? In one process, for each PACK_WIDTH: the SAGA op alone on the low-light net's first level (4.67M tokens,
2 heads of 20, slices of one 5C projection; forward, and forward + backward) and each model's inference forward
(batch 1, bf16, eager). Prints and saves ms, peak memory and the largest difference from PACK_WIDTH=0's output.
On the GPU, about a minute.

    PYTHONPATH=src python3 benchmarks/pack_heads_ab.py --widths 0,64,128 --out pack_heads_ab.json
"""
from __future__ import annotations

import argparse
import json

import torch

import saga_attention as sa
from saga_attention.bench.measure import peak_memory_mib, resolve_device, time_ms
from saga_attention.ops.saga import triton as kernels


def op_inputs(tokens: int, heads: int, head_dim: int, device: torch.device, dtype: torch.dtype) -> list[torch.Tensor]:
    """q, k, v, g_k, g_v (1, tokens, heads, head_dim) as slices of one (1, tokens, 5C) projection."""
    fused = torch.randn(1, tokens, 5 * heads * head_dim, device=device, dtype=dtype)
    return [t.unflatten(-1, (heads, head_dim)) for t in fused.split(heads * head_dim, dim=-1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="0,64,128", help="PACK_WIDTH values; the first is the reference")
    parser.add_argument("--models", default="saga_llie_small")
    parser.add_argument("--res", default="1080x1920,2160x3840", help="HxW,HxW,...")
    parser.add_argument("--tokens", type=int, default=2160 * 2160)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    try:
        widths = [int(w) for w in args.widths.split(",")]
        sizes = [tuple(int(n) for n in res.split("x")) for res in args.res.split(",")]
    except ValueError:
        parser.error(f"--widths takes integers and --res HxW sizes, comma-separated; got {args.widths!r}, {args.res!r}")
    if min(widths) < 0 or any(len(size) != 2 or min(size) < 1 for size in sizes) or args.tokens < 1:
        parser.error("--widths must be >= 0, --res sizes HxW of at least 1x1 and --tokens >= 1")
    device = resolve_device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    inputs = op_inputs(args.tokens, 2, 20, device, dtype)
    leaves = [t.detach().requires_grad_() for t in inputs]
    cases = {"op forward": lambda: sa.saga_attention(*inputs, backend="triton"),
             "op forward+backward": lambda: sa.saga_attention(*leaves, backend="triton").sum().backward()}
    images = {}
    for name in args.models.split(","):
        model = sa.create_model(name).to(device, dtype).eval()
        for h, w in sizes:
            images[f"{name} {h}x{w}"] = (model, torch.rand(1, 3, h, w, device=device, dtype=dtype))
    rows, first = [], {}
    for width in widths:
        kernels.PACK_WIDTH = width
        for case, fn in cases.items():
            ms = time_ms(fn, device, warmup=2, repeats=args.repeats)
            rows.append({"case": case, "pack_width": width, "tokens": args.tokens, "heads": 2, "head_dim": 20,
                         "ms": round(ms, 3)})
            print(json.dumps(rows[-1]), flush=True)
        for case, (model, x) in images.items():
            with torch.inference_mode():
                out = model(x).float()
                ms = time_ms(lambda: model(x), device, warmup=2, repeats=args.repeats)
                mib, method = peak_memory_mib(lambda: model(x), device)
            first.setdefault(case, out)
            rows.append({"case": case, "pack_width": width, "ms": round(ms, 2), "img_per_s": round(1000 / ms, 2),
                         "peak_mib": None if mib is None else round(mib), "memory": method,
                         "max_abs_diff": (out - first[case]).abs().max().item()})
            print(json.dumps(rows[-1]), flush=True)
    with open(args.out, "w") as f:
        json.dump({"device": str(device), "dtype": str(dtype), "reference_width": widths[0], "rows": rows}, f,
                  indent=2)


if __name__ == "__main__":
    main()
