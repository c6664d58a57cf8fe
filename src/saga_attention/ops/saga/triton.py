"""Fused Triton kernels for SAGA attention (forward and backward) and the custom op around them.

Inputs are read in place through their strides, in the (B, N, H, D) layout: the 5C projection's
slices go in without copies. The feature map and the sigmoid gates are applied to tiles as they
are loaded, so gated copies of k and v never exist in memory; S and z are summed in fp32.

    forward   _state_kernel      grid (splits, B*H)          partial S, z over a chunk of keys
              (torch .sum)                                   S, z: deterministic sum of the partials
              _output_kernel     grid (cdiv(Nq, BLOCK), B*H) o = phi(q) S / (phi(q) . z + eps)
    backward  _query_grad_kernel grid (splits, B*H)          dq, partial dS and dz over a chunk of queries
              (torch .sum)                                   dS, dz
              _key_grad_kernel   grid (cdiv(Nk, BLOCK), B*H) dk, dv, dg_k, dg_v

Autograd keeps the inputs and the fp32 state S (Dk x Dv) and z (Dk) per batch and head: nothing
of size N beyond the inputs themselves. The op is registered with `torch.library.custom_op`
(`saga_attention::forward` and `saga_attention::backward`, with fake implementations), so
`torch.compile(fullgraph=True)` traces through it.
"""
from __future__ import annotations

import functools
import os

import torch
import triton
import triton.language as tl
from torch import Tensor

from .reference import FEATURE_MAPS

MAX_HEAD_DIM = 128
KERNEL_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
_FEATURE_CODES = {name: code for code, name in enumerate(FEATURE_MAPS)}  # relu 0, elu1 1, none 2
_SPLIT_ALIGN = 256  # chunks of the reductions are a multiple of every BLOCK_N below
_PROGRAMS_PER_SM = 4


def interpreting() -> bool:
    """True when Triton runs kernels in its CPU interpreter (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def launch_config(block_dk: int, block_dv: int) -> dict[str, int]:
    """BLOCK_N (tokens per tile), num_warps and num_stages for padded head dims (the same for all four kernels).

    Wider heads get shorter tiles and more warps, so the fp32 tiles and the Dk x Dv state stay in registers.
    """
    if interpreting():
        return {"BLOCK_N": 16, "num_warps": 1, "num_stages": 1}
    width = max(block_dk, block_dv)
    return {"BLOCK_N": 128 if width <= 32 else 64, "num_warps": 8 if width >= 128 else 4, "num_stages": 2}


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
def _offsets(bh, H, offs_n, offs_d, s_b, s_n, s_h, s_d):
    """Element offsets of rows offs_n, columns offs_d of head bh % H of batch bh // H (int64)."""
    b = (bh // H).to(tl.int64)
    h = (bh % H).to(tl.int64)
    return b * s_b + h * s_h + offs_n.to(tl.int64)[:, None] * s_n + offs_d.to(tl.int64)[None, :] * s_d


@triton.jit
def _state_kernel(k_ptr, v_ptr, gk_ptr, gv_ptr, s_ptr, z_ptr,
                  sk_b, sk_n, sk_h, sk_d, sv_b, sv_n, sv_h, sv_d,
                  sgk_b, sgk_n, sgk_h, sgk_d, sgv_b, sgv_n, sgv_h, sgv_d,
                  N, H, DK, DV, chunk,
                  FEATURE: tl.constexpr, HAS_GK: tl.constexpr, HAS_GV: tl.constexpr, GATED_Z: tl.constexpr,
                  PRECISION: tl.constexpr, BLOCK_DK: tl.constexpr, BLOCK_DV: tl.constexpr, BLOCK_N: tl.constexpr):
    split = tl.program_id(0)
    bh = tl.program_id(1)
    offs_dk = tl.arange(0, BLOCK_DK)
    offs_dv = tl.arange(0, BLOCK_DV)
    state = tl.zeros((BLOCK_DK, BLOCK_DV), tl.float32)
    z = tl.zeros((BLOCK_DK,), tl.float32)
    start = split * chunk
    end = tl.minimum(start + chunk, N)
    for n0 in range(start, end, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        mask_k = (offs_n < end)[:, None] & (offs_dk < DK)[None, :]
        mask_v = (offs_n < end)[:, None] & (offs_dv < DV)[None, :]
        k = tl.load(k_ptr + _offsets(bh, H, offs_n, offs_dk, sk_b, sk_n, sk_h, sk_d), mask=mask_k, other=0.0)
        k = tl.where(mask_k, _feature(k.to(tl.float32), FEATURE), 0.0)  # (BLOCK_N, BLOCK_DK)
        keys = k
        if HAS_GK:
            gk = tl.load(gk_ptr + _offsets(bh, H, offs_n, offs_dk, sgk_b, sgk_n, sgk_h, sgk_d), mask=mask_k, other=0.0)
            keys = k * _sigmoid(gk.to(tl.float32))
        values = tl.load(v_ptr + _offsets(bh, H, offs_n, offs_dv, sv_b, sv_n, sv_h, sv_d), mask=mask_v, other=0.0)
        values = values.to(tl.float32)  # (BLOCK_N, BLOCK_DV)
        if HAS_GV:
            gv = tl.load(gv_ptr + _offsets(bh, H, offs_n, offs_dv, sgv_b, sgv_n, sgv_h, sgv_d), mask=mask_v, other=0.0)
            values = values * _sigmoid(gv.to(tl.float32))
        state += tl.dot(tl.trans(keys), values, input_precision=PRECISION)
        if GATED_Z:
            z += tl.sum(keys, axis=0)
        else:
            z += tl.sum(k, axis=0)
    partial = bh * tl.num_programs(0) + split
    s_offs = partial.to(tl.int64) * BLOCK_DK * BLOCK_DV + offs_dk[:, None] * BLOCK_DV + offs_dv[None, :]
    tl.store(s_ptr + s_offs, state)
    tl.store(z_ptr + partial.to(tl.int64) * BLOCK_DK + offs_dk, z)


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
def _output_kernel(q_ptr, s_ptr, z_ptr, o_ptr,
                   sq_b, sq_n, sq_h, sq_d, so_b, so_n, so_h, so_d,
                   N, H, DK, DV, eps,
                   FEATURE: tl.constexpr, PRECISION: tl.constexpr,
                   BLOCK_DK: tl.constexpr, BLOCK_DV: tl.constexpr, BLOCK_N: tl.constexpr):
    bh = tl.program_id(1)
    offs_n = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_dk = tl.arange(0, BLOCK_DK)
    offs_dv = tl.arange(0, BLOCK_DV)
    state, z = _load_state(s_ptr, z_ptr, bh, BLOCK_DK, BLOCK_DV)
    mask_q = (offs_n < N)[:, None] & (offs_dk < DK)[None, :]
    q = tl.load(q_ptr + _offsets(bh, H, offs_n, offs_dk, sq_b, sq_n, sq_h, sq_d), mask=mask_q, other=0.0)
    q = tl.where(mask_q, _feature(q.to(tl.float32), FEATURE), 0.0)  # (BLOCK_N, BLOCK_DK)
    num = tl.dot(q, state, input_precision=PRECISION)  # (BLOCK_N, BLOCK_DV)
    inv_den = 1.0 / (tl.sum(q * z[None, :], axis=1) + eps)  # one division per token, not per element
    out = num * inv_den[:, None]
    mask_o = (offs_n < N)[:, None] & (offs_dv < DV)[None, :]
    tl.store(o_ptr + _offsets(bh, H, offs_n, offs_dv, so_b, so_n, so_h, so_d),
             out.to(o_ptr.dtype.element_ty), mask=mask_o)


@triton.jit
def _query_grad_kernel(q_ptr, do_ptr, s_ptr, z_ptr, dq_ptr, ds_ptr, dz_ptr,
                       sq_b, sq_n, sq_h, sq_d, sdo_b, sdo_n, sdo_h, sdo_d, sdq_b, sdq_n, sdq_h, sdq_d,
                       N, H, DK, DV, chunk, eps,
                       FEATURE: tl.constexpr, PRECISION: tl.constexpr,
                       BLOCK_DK: tl.constexpr, BLOCK_DV: tl.constexpr, BLOCK_N: tl.constexpr):
    split = tl.program_id(0)
    bh = tl.program_id(1)
    offs_dk = tl.arange(0, BLOCK_DK)
    offs_dv = tl.arange(0, BLOCK_DV)
    state, z = _load_state(s_ptr, z_ptr, bh, BLOCK_DK, BLOCK_DV)
    d_state = tl.zeros((BLOCK_DK, BLOCK_DV), tl.float32)
    d_z = tl.zeros((BLOCK_DK,), tl.float32)
    start = split * chunk
    end = tl.minimum(start + chunk, N)
    for n0 in range(start, end, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        mask_q = (offs_n < end)[:, None] & (offs_dk < DK)[None, :]
        mask_o = (offs_n < end)[:, None] & (offs_dv < DV)[None, :]
        q_raw = tl.load(q_ptr + _offsets(bh, H, offs_n, offs_dk, sq_b, sq_n, sq_h, sq_d), mask=mask_q, other=0.0)
        q_raw = q_raw.to(tl.float32)
        q = tl.where(mask_q, _feature(q_raw, FEATURE), 0.0)  # (BLOCK_N, BLOCK_DK)
        do = tl.load(do_ptr + _offsets(bh, H, offs_n, offs_dv, sdo_b, sdo_n, sdo_h, sdo_d), mask=mask_o, other=0.0)
        do = do.to(tl.float32)  # (BLOCK_N, BLOCK_DV)
        inv_den = 1.0 / (tl.sum(q * z[None, :], axis=1) + eps)
        out = tl.dot(q, state, input_precision=PRECISION) * inv_den[:, None]
        d_num = do * inv_den[:, None]
        d_den = -tl.sum(do * out, axis=1) * inv_den
        d_q = tl.dot(d_num, tl.trans(state), input_precision=PRECISION) + d_den[:, None] * z[None, :]
        d_q = d_q * _feature_grad(q_raw, FEATURE)
        tl.store(dq_ptr + _offsets(bh, H, offs_n, offs_dk, sdq_b, sdq_n, sdq_h, sdq_d),
                 d_q.to(dq_ptr.dtype.element_ty), mask=mask_q)
        d_state += tl.dot(tl.trans(q), d_num, input_precision=PRECISION)
        d_z += tl.sum(q * d_den[:, None], axis=0)
    partial = bh * tl.num_programs(0) + split
    tl.store(ds_ptr + partial.to(tl.int64) * BLOCK_DK * BLOCK_DV + offs_dk[:, None] * BLOCK_DV + offs_dv[None, :],
             d_state)
    tl.store(dz_ptr + partial.to(tl.int64) * BLOCK_DK + offs_dk, d_z)


@triton.jit
def _key_grad_kernel(k_ptr, v_ptr, gk_ptr, gv_ptr, ds_ptr, dz_ptr, dk_ptr, dv_ptr, dgk_ptr, dgv_ptr,
                     sk_b, sk_n, sk_h, sk_d, sv_b, sv_n, sv_h, sv_d,
                     sgk_b, sgk_n, sgk_h, sgk_d, sgv_b, sgv_n, sgv_h, sgv_d,
                     sdk_b, sdk_n, sdk_h, sdk_d, sdv_b, sdv_n, sdv_h, sdv_d,
                     N, H, DK, DV,
                     FEATURE: tl.constexpr, HAS_GK: tl.constexpr, HAS_GV: tl.constexpr, GATED_Z: tl.constexpr,
                     PRECISION: tl.constexpr, BLOCK_DK: tl.constexpr, BLOCK_DV: tl.constexpr, BLOCK_N: tl.constexpr):
    bh = tl.program_id(1)
    offs_n = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_dk = tl.arange(0, BLOCK_DK)
    offs_dv = tl.arange(0, BLOCK_DV)
    d_state, d_z = _load_state(ds_ptr, dz_ptr, bh, BLOCK_DK, BLOCK_DV)
    mask_k = (offs_n < N)[:, None] & (offs_dk < DK)[None, :]
    mask_v = (offs_n < N)[:, None] & (offs_dv < DV)[None, :]
    k_offs = _offsets(bh, H, offs_n, offs_dk, sk_b, sk_n, sk_h, sk_d)
    v_offs = _offsets(bh, H, offs_n, offs_dv, sv_b, sv_n, sv_h, sv_d)
    k_raw = tl.load(k_ptr + k_offs, mask=mask_k, other=0.0).to(tl.float32)
    k = tl.where(mask_k, _feature(k_raw, FEATURE), 0.0)  # (BLOCK_N, BLOCK_DK)
    v = tl.load(v_ptr + v_offs, mask=mask_v, other=0.0).to(tl.float32)  # (BLOCK_N, BLOCK_DV)
    a = tl.full((BLOCK_N, BLOCK_DK), 1.0, tl.float32)
    b = tl.full((BLOCK_N, BLOCK_DV), 1.0, tl.float32)
    if HAS_GK:
        gk_offs = _offsets(bh, H, offs_n, offs_dk, sgk_b, sgk_n, sgk_h, sgk_d)
        a = _sigmoid(tl.load(gk_ptr + gk_offs, mask=mask_k, other=0.0).to(tl.float32))
    if HAS_GV:
        gv_offs = _offsets(bh, H, offs_n, offs_dv, sgv_b, sgv_n, sgv_h, sgv_d)
        b = _sigmoid(tl.load(gv_ptr + gv_offs, mask=mask_v, other=0.0).to(tl.float32))
    keys = a * k
    values = b * v
    d_keys = tl.dot(values, tl.trans(d_state), input_precision=PRECISION)  # (BLOCK_N, BLOCK_DK)
    d_values = tl.dot(keys, d_state, input_precision=PRECISION)  # (BLOCK_N, BLOCK_DV)
    if GATED_Z:
        d_keys += d_z[None, :]
        d_k = d_keys * a
    else:
        d_k = d_keys * a + d_z[None, :]
    d_k = d_k * _feature_grad(k_raw, FEATURE)
    tl.store(dk_ptr + _offsets(bh, H, offs_n, offs_dk, sdk_b, sdk_n, sdk_h, sdk_d),
             d_k.to(dk_ptr.dtype.element_ty), mask=mask_k)
    tl.store(dv_ptr + _offsets(bh, H, offs_n, offs_dv, sdv_b, sdv_n, sdv_h, sdv_d),
             (d_values * b).to(dv_ptr.dtype.element_ty), mask=mask_v)
    if HAS_GK:  # the gradients of the gates are written in the layout of k and v's gradients
        tl.store(dgk_ptr + _offsets(bh, H, offs_n, offs_dk, sdk_b, sdk_n, sdk_h, sdk_d),
                 (d_keys * k * a * (1.0 - a)).to(dgk_ptr.dtype.element_ty), mask=mask_k)
    if HAS_GV:
        tl.store(dgv_ptr + _offsets(bh, H, offs_n, offs_dv, sdv_b, sdv_n, sdv_h, sdv_d),
                 (d_values * v * b * (1.0 - b)).to(dgv_ptr.dtype.element_ty), mask=mask_v)


def _padded(d: int) -> int:
    return max(16, triton.next_power_of_2(d))


def _precision(dtype: torch.dtype) -> str:
    """fp32 inputs keep exact fp32 products (FMA units); half inputs use tf32 on fp32 tiles (tensor cores;
    tf32's 10-bit mantissa is above bf16's 7 and equal to fp16's)."""
    return "ieee" if dtype == torch.float32 else "tf32"


def _kernel_flags(feature_map: str, dtype: torch.dtype, block_dk: int, block_dv: int) -> dict:
    """The compile-time arguments and launch configuration shared by the four kernels."""
    return dict(FEATURE=_FEATURE_CODES[feature_map], PRECISION=_precision(dtype),
                BLOCK_DK=block_dk, BLOCK_DV=block_dv, **launch_config(block_dk, block_dv))


@functools.lru_cache(maxsize=None)
def _multiprocessors(device: torch.device) -> int:
    return 8 if device.type != "cuda" else torch.cuda.get_device_properties(device).multi_processor_count


def _splits(batch_heads: int, n: int, device: torch.device) -> tuple[int, int]:
    """(splits, chunk): enough programs to fill the GPU, each summing a chunk of tokens."""
    sms = _multiprocessors(device)
    wanted = max(1, triton.cdiv(_PROGRAMS_PER_SM * sms, batch_heads))
    chunk = triton.cdiv(triton.cdiv(n, wanted), _SPLIT_ALIGN) * _SPLIT_ALIGN
    return triton.cdiv(n, chunk), chunk


def _strides(t: Tensor | None, like: Tensor) -> tuple[int, ...]:
    return tuple((like if t is None else t).stride())


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
    """Sum the per-split partials (deterministic): (B*H, splits, BDk, BDv) -> (B, H, BDk, BDv), (B, H, BDk)."""
    return (partial_s.sum(dim=1).unflatten(0, (batch, heads)), partial_z.sum(dim=1).unflatten(0, (batch, heads)))


@torch.library.custom_op("saga_attention::forward", mutates_args=())
def saga_forward(q: Tensor, k: Tensor, v: Tensor, g_k: Tensor | None, g_v: Tensor | None,
                 feature_map: str, eps: float, normalizer: str) -> tuple[Tensor, Tensor, Tensor]:
    """o (B, Nq, H, Dv) in v's dtype, and the padded fp32 state S (B, H, BDk, BDv) and z (B, H, BDk)."""
    batch, n_q, heads, dk = q.shape
    n_k, dv = k.shape[1], v.shape[-1]
    block_dk, block_dv = _padded(dk), _padded(dv)
    splits, chunk = _splits(batch * heads, n_k, q.device)
    partial_s = _alloc(q, (batch * heads, splits, block_dk, block_dv), torch.float32)
    partial_z = _alloc(q, (batch * heads, splits, block_dk), torch.float32)
    flags = _kernel_flags(feature_map, q.dtype, block_dk, block_dv)
    _state_kernel[(splits, batch * heads)](
        k, v, k if g_k is None else g_k, v if g_v is None else g_v, partial_s, partial_z,
        *k.stride(), *v.stride(), *_strides(g_k, k), *_strides(g_v, v),
        n_k, heads, dk, dv, chunk,
        HAS_GK=g_k is not None, HAS_GV=g_v is not None, GATED_Z=normalizer == "gated", **flags)
    state, z = _reduce_partials(partial_s, partial_z, batch, heads)
    out = _alloc(v, (batch, n_q, heads, dv))
    _output_kernel[(triton.cdiv(n_q, flags["BLOCK_N"]), batch * heads)](
        q, state, z, out, *q.stride(), *out.stride(), n_q, heads, dk, dv, eps, **flags)
    return out, state, z


@saga_forward.register_fake
def _(q, k, v, g_k, g_v, feature_map, eps, normalizer):
    batch, n_q, heads, dk = q.shape
    dv = v.shape[-1]
    state = q.new_empty((batch, heads, _padded(dk), _padded(dv)), dtype=torch.float32)
    return v.new_empty((batch, n_q, heads, dv)), state, q.new_empty(state.shape[:-1], dtype=torch.float32)


@torch.library.custom_op("saga_attention::backward", mutates_args=())
def saga_backward(grad_out: Tensor, q: Tensor, k: Tensor, v: Tensor, g_k: Tensor | None, g_v: Tensor | None,
                  state: Tensor, z: Tensor, feature_map: str, eps: float,
                  normalizer: str) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Gradients of q, k, v, g_k, g_v (an absent gate's gradient is an empty tensor)."""
    batch, n_q, heads, dk = q.shape
    n_k, dv = k.shape[1], v.shape[-1]
    block_dk, block_dv = state.shape[-2:]
    flags = _kernel_flags(feature_map, q.dtype, block_dk, block_dv)
    splits, chunk = _splits(batch * heads, n_q, q.device)
    partial_ds = _alloc(q, (batch * heads, splits, block_dk, block_dv), torch.float32)
    partial_dz = _alloc(q, (batch * heads, splits, block_dk), torch.float32)
    grad_q, grad_k, grad_v, grad_gk, grad_gv = _empty_grads(q, k, v, g_k, g_v)
    _query_grad_kernel[(splits, batch * heads)](
        q, grad_out, state, z, grad_q, partial_ds, partial_dz,
        *q.stride(), *grad_out.stride(), *grad_q.stride(), n_q, heads, dk, dv, chunk, eps, **flags)
    d_state, d_z = _reduce_partials(partial_ds, partial_dz, batch, heads)
    _key_grad_kernel[(triton.cdiv(n_k, flags["BLOCK_N"]), batch * heads)](
        k, v, k if g_k is None else g_k, v if g_v is None else g_v, d_state, d_z,
        grad_k, grad_v, grad_gk if g_k is not None else grad_k, grad_gv if g_v is not None else grad_v,
        *k.stride(), *v.stride(), *_strides(g_k, k), *_strides(g_v, v), *grad_k.stride(), *grad_v.stride(),
        n_k, heads, dk, dv,
        HAS_GK=g_k is not None, HAS_GV=g_v is not None, GATED_Z=normalizer == "gated", **flags)
    return grad_q, grad_k, grad_v, grad_gk, grad_gv


@saga_backward.register_fake
def _(grad_out, q, k, v, g_k, g_v, state, z, feature_map, eps, normalizer):
    return _empty_grads(q, k, v, g_k, g_v)


def _setup_context(ctx, inputs, output) -> None:
    q, k, v, g_k, g_v, feature_map, eps, normalizer = inputs
    _, state, z = output
    ctx.mark_non_differentiable(state, z)
    ctx.save_for_backward(q, k, v, g_k, g_v, state, z)
    ctx.options = (feature_map, eps, normalizer)


def _backward(ctx, grad_out, _grad_state, _grad_z):
    q, k, v, g_k, g_v, state, z = ctx.saved_tensors
    grads = saga_backward(grad_out, q, k, v, g_k, g_v, state, z, *ctx.options)
    grad_q, grad_k, grad_v, grad_gk, grad_gv = grads
    return (grad_q, grad_k, grad_v, grad_gk if g_k is not None else None,
            grad_gv if g_v is not None else None, None, None, None)


saga_forward.register_autograd(_backward, setup_context=_setup_context)


def saga_attention_triton(q: Tensor, k: Tensor, v: Tensor, g_k: Tensor | None, g_v: Tensor | None,
                          feature_map: str, eps: float, normalizer: str) -> Tensor:
    """The Triton backend, on inputs already checked; returns (B, Nq, H, Dv) in v's dtype."""
    return saga_forward(q, k, v, g_k, g_v, feature_map, float(eps), normalizer)[0]
