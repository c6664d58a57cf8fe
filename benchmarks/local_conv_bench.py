"""SAGA's forward with the local branch (depth-wise 3x3 conv of v) on one GPU: the conv inside the output kernel,
no conv, and the conv as its own aten op plus an add, at the stage shapes of saga_pvt_tiny (1280^2 and 2048^2,
batch 4) and of saga_llie_small at 1080p; then the output kernel's launch configurations with the conv.

Inputs are strided slices of one (B, N, 5C) projection, as the layer passes them. bf16.
Run from the repository root: PYTHONPATH=src python3 benchmarks/local_conv_bench.py --out local_conv.json
"""
from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F
import triton

import saga_attention as sa
from saga_attention.bench import environment
from saga_attention.ops.saga import triton as kernels

# (name, B, H, W, heads, head dim)
SHAPES = [("pvt_tiny@1280 stage1", 4, 320, 320, 1, 64), ("pvt_tiny@1280 stage2", 4, 160, 160, 2, 64),
          ("pvt_tiny@1280 stage3", 4, 80, 80, 5, 64), ("pvt_tiny@2048 stage1", 4, 512, 512, 1, 64),
          ("llie_small@1080p level0", 1, 1080, 1920, 2, 20)]


def median_us(fn) -> float:
    return 1000 * triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median")


def layer_inputs(b: int, h: int, w: int, heads: int, d: int):
    """q, k, v, g_k, g_v (B, N, heads, d) as slices of one projection, and the 3x3 conv's weight and bias."""
    c = heads * d
    fused = torch.randn(b, h * w, 5 * c, device="cuda", dtype=torch.bfloat16)
    parts = [t.unflatten(-1, (heads, d)) for t in fused.split(c, dim=-1)]
    weight = torch.randn(c, 1, 3, 3, device="cuda", dtype=torch.bfloat16) / 3
    return parts, weight, torch.randn(c, device="cuda", dtype=torch.bfloat16)


def variants(parts, weight, bias, hw):
    q, k, v, gk, gv = parts

    def separate():
        out = sa.saga_attention(q, k, v, gk, gv, backend="triton")
        fmap = v.flatten(-2).transpose(1, 2).unflatten(-1, hw)  # (B, C, H, W) view
        return out + F.conv2d(fmap, weight, bias, padding=1, groups=weight.shape[0]).flatten(2).transpose(1, 2) \
            .unflatten(-1, out.shape[-2:])
    return {"fused": lambda: sa.saga_attention(q, k, v, gk, gv, backend="triton", conv_weight=weight,
                                               conv_bias=bias, hw=hw),
            "no_conv": lambda: sa.saga_attention(q, k, v, gk, gv, backend="triton"),
            "separate": separate}


def output_only(parts, weight, bias, hw, conv: bool):
    """The output kernel alone, given the state."""
    q, k, v, gk, gv = parts
    state, z = kernels.state_kernels(k, v, gk, gv, "relu", "gated")
    return lambda: kernels.output_kernels(q, state, z, v.shape[-1], v, weight if conv else None,
                                          bias if conv else None, "relu", 1e-6, *hw)


def sweep(parts, weight, bias, hw):
    chosen, programs = kernels.launch_config, (kernels._PROGRAMS_PER_SM, kernels._CONV_PROGRAMS_PER_SM)
    rows = []
    for bn in (32, 64, 128):
        for warps in (4, 8):
            for stages in (1, 2, 3):
                for per_sm in (4, 8, 16):
                    config = {"BLOCK_N": bn, "num_warps": warps, "num_stages": stages}
                    kernels.launch_config = lambda name, *dims: (  # noqa: B023
                        config if name in ("output", "output_conv") else chosen(name, *dims))  # noqa: B023
                    kernels._PROGRAMS_PER_SM = kernels._CONV_PROGRAMS_PER_SM = per_sm
                    kernels._kernel_flags.cache_clear()
                    row = {**config, "programs_per_sm": per_sm}
                    try:
                        row["conv_us"] = median_us(output_only(parts, weight, bias, hw, True))
                        row["no_conv_us"] = median_us(output_only(parts, weight, bias, hw, False))
                    except Exception as err:  # a config that does not fit (registers, shared memory)
                        row["error"] = str(err)[:200]
                    rows.append(row)
    kernels.launch_config, (kernels._PROGRAMS_PER_SM, kernels._CONV_PROGRAMS_PER_SM) = chosen, programs
    kernels._kernel_flags.cache_clear()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--sweep", default="pvt_tiny@1280 stage1,llie_small@1080p level0",
                        help="shapes (names as in SHAPES, comma-separated) to sweep the output kernel's launches at")
    args = parser.parse_args()
    result = {"environment": environment(torch.device("cuda")), "shapes": [], "sweeps": {}}
    for name, b, h, w, heads, d in SHAPES:
        parts, weight, bias = layer_inputs(b, h, w, heads, d)
        row = {"shape": name, "B": b, "H": h, "W": w, "heads": heads, "D": d}
        row.update({f"{k}_us": median_us(fn) for k, fn in variants(parts, weight, bias, (h, w)).items()})
        row["output_conv_us"] = median_us(output_only(parts, weight, bias, (h, w), True))
        row["output_no_conv_us"] = median_us(output_only(parts, weight, bias, (h, w), False))
        print(row, flush=True)
        result["shapes"].append(row)
        if name in args.sweep.split(","):
            result["sweeps"][name] = sweep(parts, weight, bias, (h, w))
            best = min((r for r in result["sweeps"][name] if "conv_us" in r), key=lambda r: r["conv_us"])
            print("best with conv:", best, flush=True)
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
