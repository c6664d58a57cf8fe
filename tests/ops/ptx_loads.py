"""Count the global loads and stores of each SAGA kernel by width, compiled for an H100/H200 (sm_90) on any
machine: Triton's compiler runs without a GPU. The kernels are launched through their real host code, with
`run` replaced by a compile, so the strides and the specialisation are those a GPU launch would see.

    TRITON_INTERPRET=0 python3 tests/ops/ptx_loads.py HEAD_DIM HEADS DTYPE [fused|separate]   # prints JSON

Loads of 16-bit elements one at a time (`ld.global.b16`) are what made heads of 20 slow.
"""
from __future__ import annotations

import collections
import json
import re
import sys

import torch
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource, compile, make_backend
from triton.runtime.jit import create_function_from_signature

from saga_attention.ops.saga import launch as kernels

TARGET = GPUTarget("cuda", 90, 32)


def compile_instead_of_launch(jit_fn, name: str, ptx: dict[str, str]) -> None:
    backend = make_backend(TARGET)
    binder = create_function_from_signature(jit_fn.signature, jit_fn.params, backend)

    def run(*args, grid, warmup, **kwargs):
        bound, specialization, options = binder(*args, **kwargs)
        options, signature, constexprs, attrs = jit_fn._pack_args(backend, kwargs, bound, specialization, options)
        ptx[name] = compile(ASTSource(jit_fn, signature, constexprs, attrs), target=TARGET,
                            options=options.__dict__).asm["ptx"]
    jit_fn.run = run


def widths(ptx: str) -> dict[str, int]:
    """{'ld.global.v2.b32': count, ...} of one kernel's PTX."""
    return dict(collections.Counter(m.group(0) for m in re.finditer(r"(ld|st)\.global(\.\w+)*", ptx)))


def main(head_dim: int, heads: int, dtype: torch.dtype, layout: str = "fused") -> dict[str, dict[str, int]]:
    """Every kernel on the slices of one fused projection (B, N, 5C), as the SAGA layer calls them, or on
    separate contiguous (B, N, H, D) tensors."""
    ptx: dict[str, str] = {}
    for name in kernels.KERNELS:
        compile_instead_of_launch(getattr(kernels, f"_{name}_kernel"), name, ptx)
    c, n = heads * head_dim, 32 * 32
    if layout == "fused":
        q, k, v, g_k, g_v = (t.unflatten(-1, (heads, head_dim))
                             for t in torch.randn(1, n, 5 * c, dtype=dtype).split(c, dim=-1))
    else:
        q, k, v, g_k, g_v = (torch.randn(1, n, heads, head_dim, dtype=dtype) for _ in range(5))
    padded = kernels._padded(head_dim)
    state, z = torch.zeros(1, heads, padded, padded), torch.zeros(1, heads, padded)
    kernels.state_kernels(k, v, g_k, g_v, "relu", "gated")
    kernels.output_kernels(q, state, z, head_dim, v, torch.randn(c, 1, 3, 3), None, "relu", 1e-6, 32, 32)
    kernels.backward_kernels(torch.randn_like(v), q, k, v, g_k, g_v, state, z, "relu", 1e-6, "gated")
    return {name: widths(text) for name, text in ptx.items()}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), int(sys.argv[2]), getattr(torch, sys.argv[3]), *sys.argv[4:5])))
