"""One Triton kernel for LayerNorm -> Linear -> GELU -> Linear over tokens (B, N, C), C <= 128, and one for the
GELU gate of a gated feed-forward (Restormer's GDFN): gelu(x[..., :Hid]) * x[..., Hid:].

Each program normalises BLOCK_M tokens in fp32, then walks the hidden width in BLOCK_H slices:
h = gelu(x_n W1[slice]^T + b1[slice]) stays in registers and is multiplied into the output right
away, so neither the normalised tokens nor the (tokens x Hid) hidden activation is ever written.
The backward recomputes both in PyTorch (nothing of size tokens x Hid is kept between passes).
Under torch.compile the kernel is the custom op `saga_attention::norm_mlp`; eager calls go through an
autograd.Function over the same launcher (ops/eager.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
import triton
import triton.language as tl
from torch import Tensor

from ..eager import eager_function, op_for_mode
from ..inputs import interpreting
from ..norm.kernels import normalized_rows


@triton.jit
def _gelu(h):
    """Exact GELU in fp32, as nn.GELU()."""
    return 0.5 * h * (1.0 + tl.math.erf(h * 0.7071067811865476))


@triton.jit
def _norm_mlp_kernel(x_ptr, nw_ptr, nb_ptr, w1_ptr, b1_ptr, w2_ptr, b2_ptr, out_ptr, M, C, HID, eps, sx_m, so_m,
                     BLOCK_M: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_H: tl.constexpr,
                     PRECISION: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.arange(0, BLOCK_C)
    row_ok, col_ok = rows < M, cols < C
    dtype = w1_ptr.dtype.element_ty
    normed = normalized_rows(x_ptr, nw_ptr, nb_ptr, rows, cols, M, C, eps, sx_m).to(dtype)  # (BLOCK_M, BLOCK_C)
    acc = tl.zeros((BLOCK_M, BLOCK_C), dtype=tl.float32)
    hid = tl.arange(0, BLOCK_H)
    for h0 in range(0, HID, BLOCK_H):
        hid_ok = h0 + hid < HID
        w1 = tl.load(w1_ptr + (h0 + hid)[None, :] * C + cols[:, None], mask=col_ok[:, None] & hid_ok[None, :],
                     other=0.0)  # W1[slice]^T (BLOCK_C, BLOCK_H)
        b1 = tl.load(b1_ptr + h0 + hid, mask=hid_ok, other=0.0).to(tl.float32)
        h = tl.dot(normed, w1, input_precision=PRECISION) + b1[None, :]  # (BLOCK_M, BLOCK_H)
        h = _gelu(h)
        w2 = tl.load(w2_ptr + cols[None, :] * HID + (h0 + hid)[:, None], mask=hid_ok[:, None] & col_ok[None, :],
                     other=0.0)  # W2[:, slice]^T (BLOCK_H, BLOCK_C)
        acc = tl.dot(h.to(dtype), w2, acc, input_precision=PRECISION)
    acc += tl.load(b2_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    tl.store(out_ptr + rows[:, None] * so_m + cols[None, :], acc.to(out_ptr.dtype.element_ty),
             mask=row_ok[:, None] & col_ok[None, :])


def _launch(x: Tensor, norm_weight: Tensor, norm_bias: Tensor, eps: float, fc1_weight: Tensor, fc1_bias: Tensor,
            fc2_weight: Tensor, fc2_bias: Tensor) -> Tensor:
    """x (..., C) in any float dtype, the weights in one dtype -> (..., C) in the weights' dtype."""
    channels, hidden = x.shape[-1], fc1_weight.shape[0]
    tokens = x.reshape(-1, channels)
    out = torch.empty(tokens.shape, dtype=fc1_weight.dtype, device=x.device)
    block_m = 16 if interpreting() else 64
    grid = (triton.cdiv(tokens.shape[0], block_m),)
    _norm_mlp_kernel[grid](tokens, norm_weight, norm_bias, fc1_weight.contiguous(), fc1_bias,
                           fc2_weight.contiguous(), fc2_bias, out, tokens.shape[0], channels, hidden, eps,
                           tokens.stride(0), out.stride(0), BLOCK_M=block_m,
                           BLOCK_C=max(16, triton.next_power_of_2(channels)), BLOCK_H=32 if channels > 64 else 64,
                           PRECISION="ieee" if fc1_weight.dtype == torch.float32 else "tf32",
                           num_warps=4, num_stages=2)
    return out.reshape(*x.shape[:-1], channels)


@triton.jit
def _gelu_gate_kernel(x_ptr, b_ptr, out_ptr, M, HID: tl.constexpr, HAS_BIAS: tl.constexpr, BLOCK_M: tl.constexpr,
                      BLOCK_H: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.arange(0, BLOCK_H)
    mask = (rows < M)[:, None] & (cols < HID)[None, :]
    gate_ptrs = x_ptr + rows[:, None] * (2 * HID) + cols[None, :]  # (BLOCK_M, BLOCK_H): the first half of each row
    gate = tl.load(gate_ptrs, mask=mask, other=0.0).to(tl.float32)
    value = tl.load(gate_ptrs + HID, mask=mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        gate += tl.load(b_ptr + cols, mask=cols < HID, other=0.0).to(tl.float32)[None, :]
        value += tl.load(b_ptr + HID + cols, mask=cols < HID, other=0.0).to(tl.float32)[None, :]
    tl.store(out_ptr + rows[:, None] * HID + cols[None, :], (_gelu(gate) * value).to(out_ptr.dtype.element_ty),
             mask=mask)


def gelu_gate_triton(x: Tensor, bias: Tensor | None) -> Tensor:
    """gelu(a) * v of y = x + bias, a = y[..., :Hid], v = y[..., Hid:], for x (..., 2 Hid), Hid up to ops/mlp's
    MAX_GATE_WIDTH: (..., Hid) in x's dtype, contiguous; no autograd. Each program reads BLOCK_M whole rows, once."""
    hidden = x.shape[-1] // 2
    rows = x.reshape(-1, 2 * hidden).contiguous()
    out = torch.empty((rows.shape[0], hidden), dtype=x.dtype, device=x.device)
    block_h = max(16, triton.next_power_of_2(hidden))
    block_m = 16 if interpreting() else max(1, 4096 // block_h)
    _gelu_gate_kernel[(triton.cdiv(rows.shape[0], block_m),)](
        rows, rows if bias is None else bias.contiguous(), out, rows.shape[0], HID=hidden, HAS_BIAS=bias is not None,
        BLOCK_M=block_m, BLOCK_H=block_h, num_warps=4)
    return out.view(*x.shape[:-1], hidden)


def _gradients(grad_out: Tensor, x: Tensor, norm_weight: Tensor, norm_bias: Tensor, eps: float,
               fc1_weight: Tensor, fc1_bias: Tensor, fc2_weight: Tensor) -> tuple[Tensor, ...]:
    """Gradients of x, norm weight and bias, fc1 weight and bias, fc2 weight and bias; the normalised tokens
    and the hidden activation are recomputed here."""
    channels, dtype = x.shape[-1], fc1_weight.dtype
    tokens, grad = x.reshape(-1, channels).float(), grad_out.reshape(-1, channels).to(dtype)  # (M, C)
    normed, mean, rstd = torch.ops.aten.native_layer_norm(tokens, [channels], norm_weight.float(),
                                                          norm_bias.float(), eps)
    normed = normed.to(dtype)
    pre = F.linear(normed, fc1_weight, fc1_bias)  # (M, Hid)
    grad_w2, grad_b2 = grad.t() @ F.gelu(pre), grad.sum(0)
    grad_pre = torch.ops.aten.gelu_backward(grad @ fc2_weight, pre)
    grad_w1, grad_b1 = grad_pre.t() @ normed, grad_pre.sum(0)
    grad_x, grad_nw, grad_nb = torch.ops.aten.native_layer_norm_backward(
        (grad_pre @ fc1_weight).float(), tokens, [channels], mean, rstd, norm_weight.float(), norm_bias.float(),
        [True, True, True])
    return (grad_x.to(x.dtype).reshape(x.shape), grad_nw.to(norm_weight.dtype), grad_nb.to(norm_bias.dtype),
            grad_w1, grad_b1, grad_w2, grad_b2)


@torch.library.custom_op("saga_attention::norm_mlp", mutates_args=())
def norm_mlp_op(x: Tensor, norm_weight: Tensor, norm_bias: Tensor, eps: float, fc1_weight: Tensor,
                fc1_bias: Tensor, fc2_weight: Tensor, fc2_bias: Tensor) -> Tensor:
    """The kernel as an op torch.compile traces through."""
    return _launch(x, norm_weight, norm_bias, eps, fc1_weight, fc1_bias, fc2_weight, fc2_bias)


@norm_mlp_op.register_fake
def _(x, norm_weight, norm_bias, eps, fc1_weight, fc1_bias, fc2_weight, fc2_bias):
    return x.new_empty(x.shape, dtype=fc1_weight.dtype)


def _setup_context(ctx, inputs, output) -> None:
    x, norm_weight, norm_bias, eps, fc1_weight, fc1_bias, fc2_weight, _ = inputs
    ctx.save_for_backward(x, norm_weight, norm_bias, fc1_weight, fc1_bias, fc2_weight)
    ctx.eps = eps


def _backward(ctx, grad_out: Tensor) -> tuple:
    x, norm_weight, norm_bias, fc1_weight, fc1_bias, fc2_weight = ctx.saved_tensors
    g_x, g_nw, g_nb, g_w1, g_b1, g_w2, g_b2 = _gradients(grad_out, x, norm_weight, norm_bias, ctx.eps,
                                                         fc1_weight, fc1_bias, fc2_weight)
    return g_x, g_nw, g_nb, None, g_w1, g_b1, g_w2, g_b2


norm_mlp_op.register_autograd(_backward, setup_context=_setup_context)


NormMlpFunction = eager_function("NormMlpFunction", _launch, _setup_context, _backward)


def norm_mlp_triton(x: Tensor, norm_weight: Tensor, norm_bias: Tensor, eps: float, fc1_weight: Tensor,
                    fc1_bias: Tensor, fc2_weight: Tensor, fc2_bias: Tensor) -> Tensor:
    """The Triton backend on checked inputs (weights of one dtype, C up to ops/mlp's MAX_WIDTH): (..., C) in that
    dtype."""
    return op_for_mode(norm_mlp_op, NormMlpFunction)(x, norm_weight, norm_bias, float(eps), fc1_weight, fc1_bias,
                                                     fc2_weight, fc2_bias)
