"""Is SAGA's kernel slow at the low-light nets' first level because of its head width? Times the op (forward,
inference, bf16) on N tokens for heads of 16, 20, 24 and 32 channels, with q, k, v and the gates read as slices
of one fused (N, 5C) projection (as the layers pass them) and as separate contiguous tensors; prints ms and the
bandwidth the bytes moved imply. One GPU call, under a minute.

    PYTHONPATH=src python3 benchmarks/llie_head_width.py --tokens 4665600 --out head_width.json
"""
from __future__ import annotations

import argparse
import json

import torch

import saga_attention as sa


def inputs(tokens: int, heads: int, width: int, fused: bool, device: str) -> list[torch.Tensor]:
    """q, k, v, g_k, g_v (1, N, heads, width) in bf16: slices of one (N, 5C) projection, or contiguous."""
    c = heads * width
    if fused:
        projection = torch.randn(1, tokens, 5 * c, device=device, dtype=torch.bfloat16)
        return [t.unflatten(-1, (heads, width)) for t in projection.split(c, dim=-1)]
    return [torch.randn(1, tokens, heads, width, device=device, dtype=torch.bfloat16) for _ in range(5)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2160 * 2160)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    from triton.testing import do_bench

    rows = []
    for width in (16, 20, 24, 32):
        for fused in (True, False):
            q, k, v, g_k, g_v = inputs(args.tokens, 2, width, fused, "cuda")
            with torch.inference_mode():
                ms = do_bench(lambda: sa.saga_attention(q, k, v, g_k, g_v), warmup=50, rep=300,
                              return_mode="median")
            moved = args.tokens * 2 * width * 2 * 7     # bf16: state reads k, v, g_k, g_v; output reads q, v, writes o
            rows.append({"head_width": width, "layout": "fused (N, 5C) slices" if fused else "contiguous",
                         "ms": round(ms, 3), "GB_per_s": round(moved / ms / 1e6, 1)})
            print(rows[-1], flush=True)
    json.dump({"tokens": args.tokens, "heads": 2, "dtype": "bf16", "gpu": torch.cuda.get_device_name(),
               "rows": rows}, open(args.out, "w"), indent=2)


if __name__ == "__main__":
    main()
