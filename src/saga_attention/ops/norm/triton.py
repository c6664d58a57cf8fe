"""A Triton LayerNorm over the last dim for narrow rows (the channels of one pixel: C = 24 ... 160).

PyTorch's LayerNorm kernel gives each row its own block of threads, which for a 40-channel pixel leaves the
GPU idle most of the time (1.9 ms for 4.7M pixels of a 2160x2160 map on an H200, 10x its memory-bound time).
Here each program normalises BLOCK_M rows at once, in fp32. C is a compile-time constant, so the row stride
is known and the loads are vectorised. `normalized_rows` is shared with the fused MLP kernel (ops/mlp).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

MAX_WIDTH = 1024
KERNEL_DTYPES = (torch.float16, torch.bfloat16, torch.float32)


@triton.jit
def normalized_rows(x_ptr, w_ptr, b_ptr, rows, cols, M, C, eps, sx_m):
    """LayerNorm of rows `rows` (columns `cols`, padded past C) of x, in fp32: (BLOCK_M, BLOCK_C), zero where
    the row or column is out of range."""
    mask = (rows < M)[:, None] & (cols < C)[None, :]
    x = tl.load(x_ptr + rows[:, None] * sx_m + cols[None, :], mask=mask, other=0.0).to(tl.float32)
    mean = tl.sum(x, axis=1) / C
    centred = tl.where(mask, x - mean[:, None], 0.0)
    rstd = tl.rsqrt(tl.sum(centred * centred, axis=1) / C + eps)
    weight = tl.load(w_ptr + cols, mask=cols < C, other=0.0).to(tl.float32)
    bias = tl.load(b_ptr + cols, mask=cols < C, other=0.0).to(tl.float32)
    return centred * rstd[:, None] * weight[None, :] + bias[None, :]


@triton.jit
def _layer_norm_kernel(x_ptr, w_ptr, b_ptr, out_ptr, M, eps, C: tl.constexpr, BLOCK_M: tl.constexpr,
                       BLOCK_C: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.arange(0, BLOCK_C)
    out = normalized_rows(x_ptr, w_ptr, b_ptr, rows, cols, M, C, eps, C)
    tl.store(out_ptr + rows[:, None] * C + cols[None, :], out.to(out_ptr.dtype.element_ty),
             mask=(rows < M)[:, None] & (cols < C)[None, :])


def layer_norm_triton(x: Tensor, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
    """x (..., C), C <= MAX_WIDTH -> (..., C) in x's dtype, contiguous; no autograd."""
    from ..saga.triton import interpreting

    channels = x.shape[-1]
    rows = x.reshape(-1, channels).contiguous()
    out = torch.empty_like(rows)
    block_c = max(16, triton.next_power_of_2(channels))
    block_m = 16 if interpreting() else max(1, 4096 // block_c)
    _layer_norm_kernel[(triton.cdiv(rows.shape[0], block_m),)](
        rows, weight, bias, out, rows.shape[0], eps, C=channels, BLOCK_M=block_m, BLOCK_C=block_c, num_warps=4)
    return out.view(x.shape)
