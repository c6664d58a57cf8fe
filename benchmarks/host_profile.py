"""Where the host time of one SAGA op call goes: cProfile over calls on tiny inputs (the GPU idles meanwhile).

Run from the repository root: PYTHONPATH=src python3 benchmarks/host_profile.py --out host_profile.txt
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats

import torch

import saga_attention as sa

CALLS = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    q, k, v, g_k, g_v = (torch.randn(1, 256, 1, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
                         for _ in range(5))
    grad = torch.randn_like(q)
    call = lambda: torch.autograd.grad(sa.saga_attention(q, k, v, g_k, g_v), (q, k, v, g_k, g_v), grad)  # noqa: E731
    for _ in range(20):
        call()
    torch.cuda.synchronize()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(CALLS):
        call()
    profiler.disable()
    torch.cuda.synchronize()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(30)
    print(text.getvalue())
    with open(args.out, "w") as f:
        f.write(f"{CALLS} calls of forward + backward, (1, 256, 1, 64) bf16\n" + text.getvalue())


if __name__ == "__main__":
    main()
