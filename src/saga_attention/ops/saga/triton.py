"""Fused Triton kernels for SAGA attention (forward and backward) and the custom op around them.

Inputs are read in place through their strides, in the (B, N, H, D) layout: the 5C projection's
slices go in without copies. The feature map and the sigmoid gates are applied to tiles as they
are loaded, so gated copies of k and v never exist in memory; S and z are summed in fp32.

    forward   _state_kernel      grid (splits, B*H)  partial S, z over a chunk of keys
              (torch .sum)                           S, z: deterministic sum of the partials
              _output_kernel     grid (splits, B*H)  o = phi(q) S / (phi(q) . z + eps) [+ dwconv(v)]
    backward  _query_grad_kernel grid (splits, B*H)  dq, partial dS and dz over a chunk of queries
              (torch .sum)                           dS, dz
              _key_grad_kernel   grid (splits, B*H)  dk, dv, dg_k, dg_v
              (aten conv backward)                   the local conv's dv, weight and bias gradients

Every program walks a chunk of tokens in BLOCK_N tiles, with the state of its batch and head
loaded once. Autograd keeps the inputs and the fp32 state S (Dk x Dv) and z (Dk) per batch and
head: nothing of size N beyond the inputs themselves. The op is registered with
`torch.library.custom_op` (`saga_attention::forward` and `saga_attention::backward`, with fake
implementations), so `torch.compile(fullgraph=True)` traces through it.
"""
from __future__ import annotations

import functools
import os

import torch
import torch.nn.functional as F
import triton
import triton.language as tl
from torch import Tensor

from ..eager import eager_function, op_for_mode
from .local import local_conv_grads
from .reference import FEATURE_MAPS

MAX_HEAD_DIM = 128
KERNEL_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
_FEATURE_CODES = {name: code for code, name in enumerate(FEATURE_MAPS)}  # relu 0, elu1 1, none 2
_SPLIT_ALIGN = 256  # chunks of the reductions are a multiple of every BLOCK_N below
_PROGRAMS_PER_SM = 4
_CONV_PROGRAMS_PER_SM = 16  # the output kernel with the local conv hides its taps' load latency with more programs
# Narrow heads are packed side by side into one program, up to this many columns (0: never). A program per head of
# 20 columns loads 40-byte pieces of every row; packed, a row's heads are one contiguous piece of it. The op's
# forward on the low-light net's first level (4.67M tokens, 2 heads of 20, bf16, H200): 3.69 ms one program per
# head, 1.55 ms packed (benchmarks/results/issue13-llie-gpu/pack-h200).
PACK_WIDTH = 64
# Whether the output kernel packs heads where it adds the local conv too (measured slower, see output_kernels;
# benchmarks/pack_conv_sweep.py sweeps its launch shape).
PACK_WITH_CONV = False


def interpreting() -> bool:
    """True when Triton runs kernels in its CPU interpreter (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


KERNELS = ("state", "output", "query_grad", "key_grad")


def launch_config(kernel: str, block_dk: int, block_dv: int, dtype: torch.dtype) -> dict[str, int]:
    """BLOCK_N (tokens per tile), num_warps and num_stages of one of KERNELS (or "output_conv", the output kernel
    with the local conv, and "output_conv_packed", the same with heads packed) for padded head dims.

    Chosen by the launch sweeps of benchmarks/kernel_bench.py on an H200 (D = 64, bf16) and by ptxas's
    register report: the state kernel runs best with 8 warps, the others with 4 (the backward ones spill
    a few registers there, and still beat 8 warps). With fp32 products against the state (fp16 and fp32
    inputs) the backward kernels need 8 warps; wider heads get shorter tiles, narrow ones longer.
    """
    if interpreting():
        return {"BLOCK_N": 16, "num_warps": 1, "num_stages": 1}
    width = max(block_dk, block_dv)
    if kernel == "output_conv" and width <= 64 and dtype != torch.float32:
        # the output kernel with the local conv (benchmarks/local_conv_bench.py, H200, bf16, 16 programs per SM):
        # 143 us against 231 us with the output kernel's own launch for PVT-T's first stage at 1280^2, batch 4
        # (D = 64), 814 against 1194 us for saga_llie_small's first level at 1080p (D = 20)
        return {"BLOCK_N": 128, "num_warps": 4, "num_stages": 2} if width == 64 else \
            {"BLOCK_N": 64, "num_warps": 4, "num_stages": 3}
    block_n = 128 if width <= 32 else 64 if width <= 64 else 32
    fp32_state = dtype != torch.bfloat16
    warps = 8 if width >= 128 or kernel == "state" or (fp32_state and not kernel.startswith("output")) else 4
    return {"BLOCK_N": block_n, "num_warps": warps, "num_stages": 3 if width <= 64 else 2}


@triton.jit
def _feature(x, FEATURE: tl.constexpr):
    if FEATURE == 0:
        x = tl.maximum(x, 0.0)
    elif FEATURE == 1:
        x = tl.where(x > 0, x + 1.0, tl.exp(x))
    return x


@triton.jit
def _feature_grad(x, FEATURE: tl.constexpr):
    if FEATURE == 0:
        d = tl.where(x > 0, 1.0, 0.0)
    elif FEATURE == 1:
        d = tl.where(x > 0, 1.0, tl.exp(x))
    else:
        d = tl.full(x.shape, 1.0, tl.float32)
    return d


@triton.jit
def _sigmoid(x):
    """1 / (1 + exp(-x)) with the fast (non-IEEE-rounded) division: the kernels are memory-bound, not this exact."""
    return tl.fdiv(tl.full(x.shape, 1.0, tl.float32), 1.0 + tl.exp(-x), ieee_rounding=False)


@triton.jit
def _dot(a, b, acc, DTYPE: tl.constexpr, PRECISION: tl.constexpr):
    """acc + a @ b, both operands cast to DTYPE; products accumulate in fp32."""
    return tl.dot(a.to(DTYPE), b.to(DTYPE), acc, input_precision=PRECISION)


@triton.jit
def _column_sums(x, weights, acc, DTYPE: tl.constexpr, PRECISION: tl.constexpr):
    """acc (BLOCK_D, 16) + sum over rows of weights[:, None] * x, in column 0 of acc.

    x (BLOCK_N, BLOCK_D), weights (BLOCK_N,). Summed on the tensor cores as x^T @ (weights e_0^T),
    which keeps registers free: a (BLOCK_N, BLOCK_D) running sum in registers made the kernels spill."""
    first = (tl.arange(0, 16) == 0).to(tl.float32)
    return _dot(tl.trans(x), weights[:, None] * first[None, :], acc, DTYPE, PRECISION)


@triton.jit
def _head_ptrs(ptr, bh, H, first_row, offs_n, offs_d, s_b, s_n, s_h, s_d, ALIGN: tl.constexpr):
    """Pointers to rows first_row + offs_n, columns offs_d of head bh % H of batch bh // H, and the
    step from one row to the next.

    s_b, s_n and s_h come divided by ALIGN (see `_alignment`): multiplied back here by the constant, they
    tell the compiler that every row starts ALIGN elements aligned, so rows load as vectors of ALIGN
    elements even where a head is not a power of two wide (heads of 20 loaded one element at a time
    ran 4.7x slower). Offsets are int64; the loops advance the pointers by the step."""
    b = (bh // H).to(tl.int64)
    h = (bh % H).to(tl.int64)
    rows = first_row.to(tl.int64) + offs_n.to(tl.int64)
    row_step = s_n * ALIGN  # a stride of 1 arrives as a constant (Triton specialises on it)
    ptrs = ptr + b * s_b * ALIGN + h * s_h * ALIGN + rows[:, None] * row_step + offs_d.to(tl.int64)[None, :] * s_d
    return ptrs, row_step


@triton.jit
def _tile_mask(rows_ok, offs_d, D, EVEN_D: tl.constexpr, ALIGN: tl.constexpr):
    """Which elements of a (BLOCK_N, BLOCK_D) tile exist. The mask is constant over runs of ALIGN columns
    (ALIGN divides D), which keeps the loads and stores vectors; with EVEN_D (D == BLOCK_D) over whole rows."""
    if EVEN_D:
        mask = rows_ok[:, None]
    else:
        mask = rows_ok[:, None] & ((offs_d // ALIGN) * ALIGN < D)[None, :]
    return mask


@triton.jit
def _load(ptrs, mask):
    """A tile in fp32; what the mask leaves out reads 0."""
    return tl.load(ptrs, mask=mask, other=0.0).to(tl.float32)


@triton.jit
def _features(x, mask, FEATURE: tl.constexpr):
    """phi(x) of a loaded tile, 0 outside the mask (elu1 maps the padding's 0 to 1)."""
    x = _feature(x, FEATURE)
    if FEATURE == 1:
        x = tl.where(mask, x, 0.0)
    return x


@triton.jit
def _state_kernel(k_ptr, v_ptr, gk_ptr, gv_ptr, s_ptr, z_ptr,
                  sk_b, sk_n, sk_h, sk_d, sv_b, sv_n, sv_h, sv_d,
                  sgk_b, sgk_n, sgk_h, sgk_d, sgv_b, sgv_n, sgv_h, sgv_d,
                  N, H, DK, DV, chunk,
                  FEATURE: tl.constexpr, HAS_GK: tl.constexpr, HAS_GV: tl.constexpr, GATED_Z: tl.constexpr,
                  PRECISION: tl.constexpr, INPUT_DOT: tl.constexpr, EVEN_DK: tl.constexpr, EVEN_DV: tl.constexpr,
                  ALIGN: tl.constexpr, BLOCK_DK: tl.constexpr, BLOCK_DV: tl.constexpr, BLOCK_N: tl.constexpr):
    split = tl.program_id(0)
    bh = tl.program_id(1)
    offs_n = tl.arange(0, BLOCK_N)
    offs_dk = tl.arange(0, BLOCK_DK)
    offs_dv = tl.arange(0, BLOCK_DV)
    start = split * chunk
    end = tl.minimum(start + chunk, N)
    k_ptrs, k_row = _head_ptrs(k_ptr, bh, H, start, offs_n, offs_dk, sk_b, sk_n, sk_h, sk_d, ALIGN)
    v_ptrs, v_row = _head_ptrs(v_ptr, bh, H, start, offs_n, offs_dv, sv_b, sv_n, sv_h, sv_d, ALIGN)
    gk_ptrs, gk_row = _head_ptrs(gk_ptr, bh, H, start, offs_n, offs_dk, sgk_b, sgk_n, sgk_h, sgk_d, ALIGN)
    gv_ptrs, gv_row = _head_ptrs(gv_ptr, bh, H, start, offs_n, offs_dv, sgv_b, sgv_n, sgv_h, sgv_d, ALIGN)
    ones = tl.full((BLOCK_N,), 1.0, tl.float32)
    state = tl.zeros((BLOCK_DK, BLOCK_DV), tl.float32)
    z = tl.zeros((BLOCK_DK, 16), tl.float32)  # column 0 holds z
    for n0 in range(start, end, BLOCK_N):
        rows_ok = n0 + offs_n < end
        mask_k = _tile_mask(rows_ok, offs_dk, DK, EVEN_DK, ALIGN)
        mask_v = _tile_mask(rows_ok, offs_dv, DV, EVEN_DV, ALIGN)
        k = _features(_load(k_ptrs, mask_k), mask_k, FEATURE)  # (BLOCK_N, BLOCK_DK)
        keys = k
        if HAS_GK:
            keys = k * _sigmoid(_load(gk_ptrs, mask_k))
        values = _load(v_ptrs, mask_v)  # (BLOCK_N, BLOCK_DV)
        if HAS_GV:
            values = values * _sigmoid(_load(gv_ptrs, mask_v))
        # |gated k| <= |k| and |gated v| <= |v|: the input dtype holds the operands
        state = _dot(tl.trans(keys), values, state, INPUT_DOT, PRECISION)
        z = _column_sums(keys if GATED_Z else k, ones, z, INPUT_DOT, PRECISION)
        k_ptrs += BLOCK_N * k_row
        v_ptrs += BLOCK_N * v_row
        gk_ptrs += BLOCK_N * gk_row
        gv_ptrs += BLOCK_N * gv_row
    partial = bh * tl.num_programs(0) + split
    s_offs = partial.to(tl.int64) * BLOCK_DK * BLOCK_DV + offs_dk[:, None] * BLOCK_DV + offs_dv[None, :]
    tl.store(s_ptr + s_offs, state)
    tl.store(z_ptr + partial.to(tl.int64) * BLOCK_DK + offs_dk, tl.sum(z, axis=1))


@triton.jit
def _load_state(s_ptr, z_ptr, bh, BLOCK_DK: tl.constexpr, BLOCK_DV: tl.constexpr):
    """The padded fp32 state of one batch and head: S (BLOCK_DK, BLOCK_DV) and z (BLOCK_DK,)."""
    offs_dk = tl.arange(0, BLOCK_DK)
    offs_dv = tl.arange(0, BLOCK_DV)
    base = bh.to(tl.int64)
    state = tl.load(s_ptr + base * BLOCK_DK * BLOCK_DV + offs_dk[:, None] * BLOCK_DV + offs_dv[None, :])
    z = tl.load(z_ptr + base * BLOCK_DK + offs_dk)
    return state, z


@triton.jit
def _local_conv(v_ptrs, w_ptr, b_ptr, bh, H, rows, rows_ok, offs_dv, DV, v_row, IMG_H, IMG_W,
                EVEN_DV: tl.constexpr, HAS_BIAS: tl.constexpr, KSIZE: tl.constexpr, ALIGN: tl.constexpr):
    """The depth-wise KSIZE x KSIZE conv of v (zero padding) at tokens `rows` of an IMG_H x IMG_W map,
    for the head's channels: (BLOCK_N, BLOCK_DV) fp32. v_ptrs points at the tile's own rows; the
    neighbours' rows are mostly in cache, read for the tiles around it."""
    channel = (bh % H) * DV + offs_dv  # the conv's channel of each column
    y = rows // IMG_W
    x = rows % IMG_W
    acc = tl.zeros((rows.shape[0], offs_dv.shape[0]), tl.float32)
    for dy in tl.static_range(KSIZE):
        for dx in tl.static_range(KSIZE):
            ny = y + (dy - KSIZE // 2)
            nx = x + (dx - KSIZE // 2)
            inside = rows_ok & (ny >= 0) & (ny < IMG_H) & (nx >= 0) & (nx < IMG_W)
            shift = (dy - KSIZE // 2) * IMG_W + (dx - KSIZE // 2)
            tap = _load(v_ptrs + shift * v_row, _tile_mask(inside, offs_dv, DV, EVEN_DV, ALIGN))
            weight = tl.load(w_ptr + channel * (KSIZE * KSIZE) + dy * KSIZE + dx, mask=offs_dv < DV, other=0.0)
            acc += tap * weight.to(tl.float32)[None, :]
    if HAS_BIAS:
        acc += tl.load(b_ptr + channel, mask=offs_dv < DV, other=0.0).to(tl.float32)[None, :]
    return acc


@triton.jit
def _output_kernel(q_ptr, s_ptr, z_ptr, o_ptr, v_ptr, w_ptr, b_ptr,
                   sq_b, sq_n, sq_h, sq_d, so_b, so_n, so_h, so_d, sv_b, sv_n, sv_h, sv_d,
                   N, H, DK, DV, chunk, eps, IMG_H, IMG_W,
                   FEATURE: tl.constexpr, PRECISION: tl.constexpr, STATE_DOT: tl.constexpr,
                   HAS_CONV: tl.constexpr, HAS_BIAS: tl.constexpr, KSIZE: tl.constexpr, PACKED_D: tl.constexpr,
                   EVEN_DK: tl.constexpr, EVEN_DV: tl.constexpr,
                   ALIGN: tl.constexpr, BLOCK_DK: tl.constexpr, BLOCK_DV: tl.constexpr, BLOCK_N: tl.constexpr):
    split = tl.program_id(0)
    bh = tl.program_id(1)
    offs_n = tl.arange(0, BLOCK_N)
    offs_dk = tl.arange(0, BLOCK_DK)
    offs_dv = tl.arange(0, BLOCK_DV)
    state, z = _load_state(s_ptr, z_ptr, bh, BLOCK_DK, BLOCK_DV)  # once per chunk of queries
    state = state.to(STATE_DOT)
    if PACKED_D > 0:  # heads of PACKED_D columns side by side, S block-diagonal: column j's z is its own head's
        same_head = (offs_dk[:, None] // PACKED_D) == (offs_dv[None, :] // PACKED_D)
        z_heads = tl.where(same_head, z[:, None], 0.0)  # (BLOCK_DK, BLOCK_DV)
    start = split * chunk
    end = tl.minimum(start + chunk, N)
    q_ptrs, q_row = _head_ptrs(q_ptr, bh, H, start, offs_n, offs_dk, sq_b, sq_n, sq_h, sq_d, ALIGN)
    o_ptrs, o_row = _head_ptrs(o_ptr, bh, H, start, offs_n, offs_dv, so_b, so_n, so_h, so_d, ALIGN)
    v_ptrs, v_row = _head_ptrs(v_ptr, bh, H, start, offs_n, offs_dv, sv_b, sv_n, sv_h, sv_d, ALIGN)
    for n0 in range(start, end, BLOCK_N):
        rows_ok = n0 + offs_n < end
        mask_q = _tile_mask(rows_ok, offs_dk, DK, EVEN_DK, ALIGN)
        q = _features(_load(q_ptrs, mask_q), mask_q, FEATURE)  # (BLOCK_N, BLOCK_DK)
        num = _dot(q, state, None, STATE_DOT, PRECISION)  # (BLOCK_N, BLOCK_DV)
        if PACKED_D > 0:
            out = num / (_dot(q, z_heads, None, tl.float32, PRECISION) + eps)
        else:
            inv_den = 1.0 / (tl.sum(q * z[None, :], axis=1) + eps)  # one division per token, not per element
            out = num * inv_den[:, None]
        if HAS_CONV:
            out += _local_conv(v_ptrs, w_ptr, b_ptr, bh, H, n0 + offs_n, rows_ok, offs_dv, DV, v_row, IMG_H, IMG_W,
                               EVEN_DV, HAS_BIAS, KSIZE, ALIGN)
        tl.store(o_ptrs, out.to(o_ptr.dtype.element_ty), mask=_tile_mask(rows_ok, offs_dv, DV, EVEN_DV, ALIGN))
        q_ptrs += BLOCK_N * q_row
        o_ptrs += BLOCK_N * o_row
        v_ptrs += BLOCK_N * v_row


@triton.jit
def _query_grad_kernel(q_ptr, do_ptr, s_ptr, z_ptr, dq_ptr, ds_ptr, dz_ptr,
                       sq_b, sq_n, sq_h, sq_d, sdo_b, sdo_n, sdo_h, sdo_d, sdq_b, sdq_n, sdq_h, sdq_d,
                       N, H, DK, DV, chunk, eps,
                       FEATURE: tl.constexpr, PRECISION: tl.constexpr, STATE_DOT: tl.constexpr,
                       EVEN_DK: tl.constexpr, EVEN_DV: tl.constexpr,
                       ALIGN: tl.constexpr, BLOCK_DK: tl.constexpr, BLOCK_DV: tl.constexpr, BLOCK_N: tl.constexpr):
    split = tl.program_id(0)
    bh = tl.program_id(1)
    offs_n = tl.arange(0, BLOCK_N)
    offs_dk = tl.arange(0, BLOCK_DK)
    offs_dv = tl.arange(0, BLOCK_DV)
    state, z = _load_state(s_ptr, z_ptr, bh, BLOCK_DK, BLOCK_DV)
    state = state.to(STATE_DOT)
    d_state = tl.zeros((BLOCK_DK, BLOCK_DV), tl.float32)
    d_z = tl.zeros((BLOCK_DK, 16), tl.float32)  # column 0 holds dz
    start = split * chunk
    end = tl.minimum(start + chunk, N)
    q_ptrs, q_row = _head_ptrs(q_ptr, bh, H, start, offs_n, offs_dk, sq_b, sq_n, sq_h, sq_d, ALIGN)
    do_ptrs, do_row = _head_ptrs(do_ptr, bh, H, start, offs_n, offs_dv, sdo_b, sdo_n, sdo_h, sdo_d, ALIGN)
    dq_ptrs, dq_row = _head_ptrs(dq_ptr, bh, H, start, offs_n, offs_dk, sdq_b, sdq_n, sdq_h, sdq_d, ALIGN)
    for n0 in range(start, end, BLOCK_N):
        rows_ok = n0 + offs_n < end
        mask_q = _tile_mask(rows_ok, offs_dk, DK, EVEN_DK, ALIGN)
        q_raw = _load(q_ptrs, mask_q)
        q = _features(q_raw, mask_q, FEATURE)  # (BLOCK_N, BLOCK_DK)
        do = _load(do_ptrs, _tile_mask(rows_ok, offs_dv, DV, EVEN_DV, ALIGN))  # (BLOCK_N, BLOCK_DV)
        inv_den = 1.0 / (tl.sum(q * z[None, :], axis=1) + eps)
        out = _dot(q, state, None, STATE_DOT, PRECISION) * inv_den[:, None]
        d_num = do * inv_den[:, None]
        d_den = -tl.sum(do * out, axis=1) * inv_den
        d_q = _dot(d_num, tl.trans(state), None, STATE_DOT, PRECISION) + d_den[:, None] * z[None, :]
        tl.store(dq_ptrs, (d_q * _feature_grad(q_raw, FEATURE)).to(dq_ptr.dtype.element_ty), mask=mask_q)
        d_state = _dot(tl.trans(q), d_num, d_state, STATE_DOT, PRECISION)
        d_z = _column_sums(q, d_den, d_z, STATE_DOT, PRECISION)
        q_ptrs += BLOCK_N * q_row
        do_ptrs += BLOCK_N * do_row
        dq_ptrs += BLOCK_N * dq_row
    partial = bh * tl.num_programs(0) + split
    tl.store(ds_ptr + partial.to(tl.int64) * BLOCK_DK * BLOCK_DV + offs_dk[:, None] * BLOCK_DV + offs_dv[None, :],
             d_state)
    tl.store(dz_ptr + partial.to(tl.int64) * BLOCK_DK + offs_dk, tl.sum(d_z, axis=1))


@triton.jit
def _key_grad_kernel(k_ptr, v_ptr, gk_ptr, gv_ptr, ds_ptr, dz_ptr, dk_ptr, dv_ptr, dgk_ptr, dgv_ptr,
                     sk_b, sk_n, sk_h, sk_d, sv_b, sv_n, sv_h, sv_d,
                     sgk_b, sgk_n, sgk_h, sgk_d, sgv_b, sgv_n, sgv_h, sgv_d,
                     sdk_b, sdk_n, sdk_h, sdk_d, sdv_b, sdv_n, sdv_h, sdv_d,
                     N, H, DK, DV, chunk,
                     FEATURE: tl.constexpr, HAS_GK: tl.constexpr, HAS_GV: tl.constexpr, GATED_Z: tl.constexpr,
                     PRECISION: tl.constexpr, STATE_DOT: tl.constexpr, EVEN_DK: tl.constexpr, EVEN_DV: tl.constexpr,
                     ALIGN: tl.constexpr, BLOCK_DK: tl.constexpr, BLOCK_DV: tl.constexpr, BLOCK_N: tl.constexpr):
    split = tl.program_id(0)
    bh = tl.program_id(1)
    offs_n = tl.arange(0, BLOCK_N)
    offs_dk = tl.arange(0, BLOCK_DK)
    offs_dv = tl.arange(0, BLOCK_DV)
    d_state, d_z = _load_state(ds_ptr, dz_ptr, bh, BLOCK_DK, BLOCK_DV)  # once per chunk of keys
    d_state = d_state.to(STATE_DOT)
    start = split * chunk
    end = tl.minimum(start + chunk, N)
    k_ptrs, k_row = _head_ptrs(k_ptr, bh, H, start, offs_n, offs_dk, sk_b, sk_n, sk_h, sk_d, ALIGN)
    v_ptrs, v_row = _head_ptrs(v_ptr, bh, H, start, offs_n, offs_dv, sv_b, sv_n, sv_h, sv_d, ALIGN)
    gk_ptrs, gk_row = _head_ptrs(gk_ptr, bh, H, start, offs_n, offs_dk, sgk_b, sgk_n, sgk_h, sgk_d, ALIGN)
    gv_ptrs, gv_row = _head_ptrs(gv_ptr, bh, H, start, offs_n, offs_dv, sgv_b, sgv_n, sgv_h, sgv_d, ALIGN)
    dk_ptrs, dk_row = _head_ptrs(dk_ptr, bh, H, start, offs_n, offs_dk, sdk_b, sdk_n, sdk_h, sdk_d, ALIGN)
    dv_ptrs, dv_row = _head_ptrs(dv_ptr, bh, H, start, offs_n, offs_dv, sdv_b, sdv_n, sdv_h, sdv_d, ALIGN)
    # the gradients of the gates are written in the layout of k and v's gradients
    dgk_ptrs, dgk_row = _head_ptrs(dgk_ptr, bh, H, start, offs_n, offs_dk, sdk_b, sdk_n, sdk_h, sdk_d, ALIGN)
    dgv_ptrs, dgv_row = _head_ptrs(dgv_ptr, bh, H, start, offs_n, offs_dv, sdv_b, sdv_n, sdv_h, sdv_d, ALIGN)
    for n0 in range(start, end, BLOCK_N):
        rows_ok = n0 + offs_n < end
        mask_k = _tile_mask(rows_ok, offs_dk, DK, EVEN_DK, ALIGN)
        mask_v = _tile_mask(rows_ok, offs_dv, DV, EVEN_DV, ALIGN)
        k_raw = _load(k_ptrs, mask_k)
        k = _features(k_raw, mask_k, FEATURE)  # (BLOCK_N, BLOCK_DK)
        v = _load(v_ptrs, mask_v)  # (BLOCK_N, BLOCK_DV)
        keys = k
        values = v
        if HAS_GK:
            a = _sigmoid(_load(gk_ptrs, mask_k))
            keys = a * k
        if HAS_GV:
            b = _sigmoid(_load(gv_ptrs, mask_v))
            values = b * v
        d_keys = _dot(values, tl.trans(d_state), None, STATE_DOT, PRECISION)  # (BLOCK_N, BLOCK_DK)
        d_values = _dot(keys, d_state, None, STATE_DOT, PRECISION)  # (BLOCK_N, BLOCK_DV)
        if GATED_Z:
            d_keys += d_z[None, :]
        d_k = d_keys
        if HAS_GK:
            d_k = d_keys * a
            tl.store(dgk_ptrs, (d_keys * k * a * (1.0 - a)).to(dgk_ptr.dtype.element_ty), mask=mask_k)
        if not GATED_Z:
            d_k += d_z[None, :]
        tl.store(dk_ptrs, (d_k * _feature_grad(k_raw, FEATURE)).to(dk_ptr.dtype.element_ty), mask=mask_k)
        if HAS_GV:
            tl.store(dgv_ptrs, (d_values * v * b * (1.0 - b)).to(dgv_ptr.dtype.element_ty), mask=mask_v)
            d_values = d_values * b
        tl.store(dv_ptrs, d_values.to(dv_ptr.dtype.element_ty), mask=mask_v)
        k_ptrs += BLOCK_N * k_row
        v_ptrs += BLOCK_N * v_row
        gk_ptrs += BLOCK_N * gk_row
        gv_ptrs += BLOCK_N * gv_row
        dk_ptrs += BLOCK_N * dk_row
        dv_ptrs += BLOCK_N * dv_row
        dgk_ptrs += BLOCK_N * dgk_row
        dgv_ptrs += BLOCK_N * dgv_row


def _padded(d: int) -> int:
    return max(16, triton.next_power_of_2(d))


_TL_DTYPES = {torch.float16: tl.float16, torch.bfloat16: tl.bfloat16, torch.float32: tl.float32}


@functools.lru_cache(maxsize=None)
def _kernel_flags(kernel: str, feature_map: str, dtype: torch.dtype, dk: int, dv: int, block_dk: int,
                  block_dv: int) -> dict:
    """The compile-time arguments and launch configuration of one of KERNELS.

    Matrix products: the state kernel's operands (gated k and v, never larger than the inputs) go in
    the input dtype. Products with the fp32 state S or its gradient go in bf16 for bf16 inputs (same
    exponent range as fp32) and in fp32 otherwise, since S overflows fp16: tf32 for fp16 inputs
    (10-bit mantissa, as fp16's), exact fp32 products (FMA units) for fp32 inputs. All accumulate in fp32.
    """
    state_dot = tl.bfloat16 if dtype == torch.bfloat16 else tl.float32
    operands = {"INPUT_DOT": _TL_DTYPES[dtype]} if kernel == "state" else {"STATE_DOT": state_dot}
    return dict(FEATURE=_FEATURE_CODES[feature_map], PRECISION="ieee" if dtype == torch.float32 else "tf32",
                **operands, EVEN_DK=dk == block_dk, EVEN_DV=dv == block_dv,
                BLOCK_DK=block_dk, BLOCK_DV=block_dv, **launch_config(kernel, block_dk, block_dv, dtype))


@functools.lru_cache(maxsize=None)
def _multiprocessors(device: torch.device) -> int:
    return 8 if device.type != "cuda" else torch.cuda.get_device_properties(device).multi_processor_count


def _splits(batch_heads: int, n: int, device: torch.device, per_sm: int | None = None) -> tuple[int, int]:
    """(splits, chunk): enough programs to fill the GPU (per_sm per multiprocessor, default _PROGRAMS_PER_SM),
    each summing a chunk of tokens."""
    sms = _multiprocessors(device)
    wanted = max(1, triton.cdiv((per_sm or _PROGRAMS_PER_SM) * sms, batch_heads))
    chunk = triton.cdiv(triton.cdiv(n, wanted), _SPLIT_ALIGN) * _SPLIT_ALIGN
    return triton.cdiv(n, chunk), chunk


def _alignment(*tensors: Tensor) -> int:
    """The kernels' ALIGN for (B, N, H, D) tensors: the largest power of two, at most 16 bytes of elements,
    that divides every tensor's batch, token and head strides and its head width D; 1 unless every column
    stride is 1."""
    align = min(16 // t.element_size() for t in tensors)
    for t in tensors:
        if t.stride(-1) != 1:
            return 1
        for n in (*t.stride()[:-1], t.shape[-1]):
            while n % align:
                align //= 2
    return align


def _strides(t: Tensor, align: int) -> tuple[int, ...]:
    """t's strides as the kernels take them: batch, token and head strides divided by align, then the column's."""
    *outer, column = t.stride()
    return (*(s // align for s in outer), column)


def _alloc(like: Tensor, shape: tuple[int, ...], dtype: torch.dtype | None = None) -> Tensor:
    """Every buffer the kernels write (tests replace this to poison them)."""
    return like.new_empty(shape, dtype=dtype)


def _empty_grads(q: Tensor, k: Tensor, v: Tensor, g_k: Tensor | None,
                 g_v: Tensor | None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Contiguous buffers for the gradients of q, k, v, g_k, g_v; an absent gate gets an empty tensor."""
    grad_gk = _alloc(k, k.shape if g_k is not None else (0,))
    grad_gv = _alloc(v, v.shape if g_v is not None else (0,))
    return _alloc(q, q.shape), _alloc(k, k.shape), _alloc(v, v.shape), grad_gk, grad_gv


def _reduce_partials(partial_s: Tensor, partial_z: Tensor, batch: int, heads: int) -> tuple[Tensor, Tensor]:
    """Sum the per-split partials (deterministic): (B*H, splits, BDk, BDv) -> (B, H, BDk, BDv), (B, H, BDk).
    One split is taken as it is (at small token counts the two sums were a tenth of the op's host time)."""
    if partial_s.shape[1] == 1:
        return partial_s.view(batch, heads, *partial_s.shape[2:]), partial_z.view(batch, heads, -1)
    return (partial_s.sum(dim=1).unflatten(0, (batch, heads)), partial_z.sum(dim=1).unflatten(0, (batch, heads)))


def heads_per_program(heads: int, dk: int, dv: int, *tensors: Tensor | None) -> int:
    """How many heads of (B, N, H, D) tensors one program takes side by side: the most that divide H and fit in
    PACK_WIDTH columns, where Dk == Dv and every tensor holds a token's heads next to each other (so that
    (B, N, H, D) -> (B, N, H / G, G * D) is a view); 1 where none are packed."""
    if dk != dv or any(t is not None and (t.stride(-1) != 1 or t.stride(-2) != dk) for t in tensors):
        return 1
    return max(g for g in range(1, heads + 1) if heads % g == 0 and (g == 1 or g * dk <= PACK_WIDTH))


def _pack(t: Tensor | None, group: int) -> Tensor | None:
    """(B, N, H, D) -> (B, N, H / group, group * D), a view."""
    return None if t is None else t.view(*t.shape[:2], t.shape[2] // group, group * t.shape[3])


def _head_blocks(d: int, group: int, device: torch.device) -> Tensor:
    """(group, d) column indices of each head in a packed row."""
    return torch.arange(group * d, device=device).view(group, d)


def _unpack_state(state: Tensor, z: Tensor, d: int, group: int) -> tuple[Tensor, Tensor]:
    """The per-head padded state (B, H, BD, BD), (B, H, BD) from a packed one (B, H / group, ...)."""
    idx = _head_blocks(d, group, state.device)
    pad = _padded(d) - d
    per_head = state[:, :, idx[:, :, None], idx[:, None, :]].flatten(1, 2)  # (B, H, d, d): the diagonal blocks
    return F.pad(per_head, (0, pad, 0, pad)), F.pad(z[:, :, idx].flatten(1, 2), (0, pad))


def _pack_state(state: Tensor, z: Tensor, d: int, group: int) -> tuple[Tensor, Tensor]:
    """The block-diagonal padded state (B, H / group, BP, BP), (B, H / group, BP) of `group` heads side by side,
    from a per-head padded one (B, H, BD, BD), (B, H, BD)."""
    batch, heads = state.shape[:2]
    width = _padded(group * d)
    idx = _head_blocks(d, group, state.device)
    packed = state.new_zeros(batch, heads // group, width, width)
    packed[:, :, idx[:, :, None], idx[:, None, :]] = state[..., :d, :d].unflatten(1, (heads // group, group))
    packed_z = z.new_zeros(batch, heads // group, width)
    packed_z[:, :, idx] = z[..., :d].unflatten(1, (heads // group, group))
    return packed, packed_z


def state_kernels(k: Tensor, v: Tensor, g_k: Tensor | None, g_v: Tensor | None, feature_map: str,
                  normalizer: str) -> tuple[Tensor, Tensor]:
    """The padded fp32 state of keys k (B, Nk, H, Dk) and values v (B, Nk, H, Dv): S (B, H, BDk, BDv) and
    z (B, H, BDk), zero beyond Dk and Dv. Narrow heads are summed side by side (`heads_per_program`)."""
    group = heads_per_program(k.shape[2], k.shape[-1], v.shape[-1], k, v, g_k, g_v)
    if group > 1:
        state, z = state_kernels(*(_pack(t, group) for t in (k, v, g_k, g_v)), feature_map, normalizer)
        return _unpack_state(state, z, k.shape[-1], group)
    batch, n_k, heads, dk = k.shape
    dv = v.shape[-1]
    block_dk, block_dv = _padded(dk), _padded(dv)
    splits, chunk = _splits(batch * heads, n_k, k.device)
    partial_s = _alloc(k, (batch * heads, splits, block_dk, block_dv), torch.float32)
    partial_z = _alloc(k, (batch * heads, splits, block_dk), torch.float32)
    gk, gv = k if g_k is None else g_k, v if g_v is None else g_v
    align = _alignment(k, v, gk, gv)
    _state_kernel[(splits, batch * heads)](
        k, v, gk, gv, partial_s, partial_z, *(x for t in (k, v, gk, gv) for x in _strides(t, align)),
        n_k, heads, dk, dv, chunk,
        HAS_GK=g_k is not None, HAS_GV=g_v is not None, GATED_Z=normalizer == "gated", ALIGN=align,
        **_kernel_flags("state", feature_map, k.dtype, dk, dv, block_dk, block_dv))
    return _reduce_partials(partial_s, partial_z, batch, heads)


def output_kernels(q: Tensor, state: Tensor, z: Tensor, dv: int, v: Tensor | None, conv_weight: Tensor | None,
                   conv_bias: Tensor | None, feature_map: str, eps: float, height: int, width: int) -> Tensor:
    """o = phi(q) S / (phi(q) . z + eps) (B, Nq, H, dv) in q's dtype, for q (B, Nq, H, Dk) and the padded state
    of `state_kernels`. With conv_weight (H*Dv, 1, k, k), o also holds the depth-wise conv of v over the
    height x width map. Without the conv, narrow heads are taken side by side (`heads_per_program`); with it only
    under PACK_WITH_CONV: on an H200 at the low-light net's first level the best packed launch shape
    (benchmarks/pack_conv_sweep.py) took 2.88 against 3.17 ms per head, and the net ran 10.38 against 10.44 img/s."""
    batch, n_q, heads, dk = q.shape
    has_conv = conv_weight is not None
    group = heads_per_program(heads, dk, dv, q, v if has_conv else None) if PACK_WITH_CONV or not has_conv else 1
    packed_d = dk if group > 1 else 0
    if group > 1:
        state, z = _pack_state(state, z, dk, group)
        q, v, heads, dk, dv = _pack(q, group), _pack(v, group), heads // group, dk * group, dv * group
    block_dk, block_dv = state.shape[-2:]
    out = _alloc(q, (batch, n_q, heads, dv))
    splits, chunk = _splits(batch * heads, n_q, q.device, _CONV_PROGRAMS_PER_SM if has_conv else None)
    v_in = v if has_conv else q            # read only with the conv
    align = _alignment(q, out, v_in)
    _output_kernel[(splits, batch * heads)](
        q, state, z, out, v_in, conv_weight.contiguous() if has_conv else q, q if conv_bias is None else conv_bias,
        *(x for t in (q, out, v_in) for x in _strides(t, align)), n_q, heads, dk, dv, chunk, eps, height, width,
        HAS_CONV=has_conv, HAS_BIAS=conv_bias is not None, KSIZE=conv_weight.shape[-1] if has_conv else 1,
        PACKED_D=packed_d, ALIGN=align,
        **_kernel_flags(("output_conv_packed" if packed_d else "output_conv") if has_conv else "output", feature_map,
                        q.dtype, dk, dv, block_dk, block_dv))
    return out.view(batch, n_q, heads * group, dv // group)


def forward_kernels(q: Tensor, k: Tensor, v: Tensor, g_k: Tensor | None, g_v: Tensor | None,
                    feature_map: str, eps: float, normalizer: str, conv_weight: Tensor | None,
                    conv_bias: Tensor | None, height: int, width: int) -> tuple[Tensor, Tensor, Tensor]:
    """o (B, Nq, H, Dv) in v's dtype, and the padded fp32 state S (B, H, BDk, BDv) and z (B, H, BDk).

    With conv_weight (H*Dv, 1, k, k), o also holds the depth-wise conv of v over the height x width map."""
    state, z = state_kernels(k, v, g_k, g_v, feature_map, normalizer)
    out = output_kernels(q, state, z, v.shape[-1], v, conv_weight, conv_bias, feature_map, eps, height, width)
    return out, state, z


@torch.library.custom_op("saga_attention::forward", mutates_args=())
def saga_forward(q: Tensor, k: Tensor, v: Tensor, g_k: Tensor | None, g_v: Tensor | None,
                 feature_map: str, eps: float, normalizer: str, conv_weight: Tensor | None,
                 conv_bias: Tensor | None, height: int, width: int) -> tuple[Tensor, Tensor, Tensor]:
    """forward_kernels as an op torch.compile traces through."""
    return forward_kernels(q, k, v, g_k, g_v, feature_map, eps, normalizer, conv_weight, conv_bias, height, width)


@saga_forward.register_fake
def _(q, k, v, g_k, g_v, feature_map, eps, normalizer, conv_weight, conv_bias, height, width):
    batch, n_q, heads, dk = q.shape
    dv = v.shape[-1]
    state = q.new_empty((batch, heads, _padded(dk), _padded(dv)), dtype=torch.float32)
    return v.new_empty((batch, n_q, heads, dv)), state, q.new_empty(state.shape[:-1], dtype=torch.float32)


def backward_kernels(grad_out: Tensor, q: Tensor, k: Tensor, v: Tensor, g_k: Tensor | None, g_v: Tensor | None,
                     state: Tensor, z: Tensor, feature_map: str, eps: float,
                     normalizer: str) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gradients of q, k, v, g_k, g_v (an absent gate's gradient is an empty tensor)."""
    batch, n_q, heads, dk = q.shape
    n_k, dv = k.shape[1], v.shape[-1]
    block_dk, block_dv = state.shape[-2:]
    flags = functools.partial(_kernel_flags, feature_map=feature_map, dtype=q.dtype, dk=dk, dv=dv,
                              block_dk=block_dk, block_dv=block_dv)
    splits, chunk = _splits(batch * heads, n_q, q.device)
    partial_ds = _alloc(q, (batch * heads, splits, block_dk, block_dv), torch.float32)
    partial_dz = _alloc(q, (batch * heads, splits, block_dk), torch.float32)
    grad_q, grad_k, grad_v, grad_gk, grad_gv = _empty_grads(q, k, v, g_k, g_v)
    align = _alignment(q, grad_out, grad_q)
    _query_grad_kernel[(splits, batch * heads)](
        q, grad_out, state, z, grad_q, partial_ds, partial_dz,
        *(x for t in (q, grad_out, grad_q) for x in _strides(t, align)), n_q, heads, dk, dv, chunk, eps,
        ALIGN=align, **flags("query_grad"))
    d_state, d_z = _reduce_partials(partial_ds, partial_dz, batch, heads)
    splits, chunk = _splits(batch * heads, n_k, q.device)
    gk, gv = k if g_k is None else g_k, v if g_v is None else g_v
    align = _alignment(k, v, gk, gv, grad_k, grad_v)
    _key_grad_kernel[(splits, batch * heads)](
        k, v, gk, gv, d_state, d_z,
        grad_k, grad_v, grad_gk if g_k is not None else grad_k, grad_gv if g_v is not None else grad_v,
        *(x for t in (k, v, gk, gv, grad_k, grad_v) for x in _strides(t, align)),
        n_k, heads, dk, dv, chunk,
        HAS_GK=g_k is not None, HAS_GV=g_v is not None, GATED_Z=normalizer == "gated", ALIGN=align,
        **flags("key_grad"))
    return grad_q, grad_k, grad_v, grad_gk, grad_gv


@torch.library.custom_op("saga_attention::backward", mutates_args=())
def saga_backward(grad_out: Tensor, q: Tensor, k: Tensor, v: Tensor, g_k: Tensor | None, g_v: Tensor | None,
                  state: Tensor, z: Tensor, feature_map: str, eps: float,
                  normalizer: str) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """backward_kernels as an op torch.compile traces through."""
    return backward_kernels(grad_out, q, k, v, g_k, g_v, state, z, feature_map, eps, normalizer)


@saga_backward.register_fake
def _(grad_out, q, k, v, g_k, g_v, state, z, feature_map, eps, normalizer):
    return _empty_grads(q, k, v, g_k, g_v)


def _setup_context(ctx, inputs, output) -> None:
    q, k, v, g_k, g_v, feature_map, eps, normalizer, conv_weight, conv_bias, height, width = inputs
    _, state, z = output
    ctx.mark_non_differentiable(state, z)
    ctx.save_for_backward(q, k, v, g_k, g_v, state, z, conv_weight, conv_bias)
    ctx.options = (feature_map, eps, normalizer)
    ctx.hw = (height, width)


def _gradients(ctx, grad_out: Tensor, backward) -> tuple:
    """The gradients of every forward input, the op's own from `backward` (the kernels or their custom op)."""
    q, k, v, g_k, g_v, state, z, conv_weight, conv_bias = ctx.saved_tensors
    grad_q, grad_k, grad_v, grad_gk, grad_gv = backward(grad_out, q, k, v, g_k, g_v, state, z, *ctx.options)
    grad_w = grad_b = None
    if conv_weight is not None:
        grad_v_conv, grad_w, grad_b = local_conv_grads(grad_out, v, conv_weight, conv_bias, ctx.hw)
        grad_v = grad_v + grad_v_conv
    return (grad_q, grad_k, grad_v, grad_gk if g_k is not None else None,
            grad_gv if g_v is not None else None, None, None, None, grad_w, grad_b, None, None)


saga_forward.register_autograd(lambda ctx, grad_out, _gs, _gz: _gradients(ctx, grad_out, saga_backward),
                               setup_context=_setup_context)


SAGAFunction = eager_function("SAGAFunction", forward_kernels, _setup_context,
                              lambda ctx, grad_out, _gs, _gz: _gradients(ctx, grad_out, backward_kernels))


def saga_attention_triton(q: Tensor, k: Tensor, v: Tensor, g_k: Tensor | None, g_v: Tensor | None,
                          feature_map: str, eps: float, normalizer: str, conv_weight: Tensor | None = None,
                          conv_bias: Tensor | None = None, hw: tuple[int, int] | None = None) -> Tensor:
    """The Triton backend, on inputs already checked; returns (B, Nq, H, Dv) in v's dtype. Under torch.compile
    it is the custom op; in eager mode the autograd.Function around the same kernels."""
    height, width = hw if conv_weight is not None else (0, 0)
    return op_for_mode(saga_forward, SAGAFunction)(q, k, v, g_k, g_v, feature_map, float(eps), normalizer, conv_weight, conv_bias, height, width)[0]
