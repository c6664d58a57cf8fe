"""Launchers of SAGA's Triton kernels, and the custom op and autograd around them.

Autograd keeps the inputs and the fp32 state S (Dk x Dv) and z (Dk) per batch and head: nothing of
size N beyond the inputs themselves. The op is registered with `torch.library.custom_op`
(`saga_attention::forward` and `saga_attention::backward`, with fake implementations), so
`torch.compile(fullgraph=True)` traces through it; eager calls take an autograd.Function over the same
launchers (ops/eager.py), which dispatches faster.
"""
from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
import triton
import triton.language as tl
from torch import Tensor

from ..eager import eager_function, op_for_mode
from ..inputs import interpreting
from .kernels import _key_grad_kernel, _output_kernel, _query_grad_kernel, _state_kernel
from .local import local_conv_grads
from .reference import FEATURE_MAPS

_FEATURE_CODES = {name: code for code, name in enumerate(FEATURE_MAPS)}  # relu 0, elu1 1, none 2
_SPLIT_ALIGN = 256  # chunks of the reductions are a multiple of every BLOCK_N below
_PROGRAMS_PER_SM = 4
_CONV_PROGRAMS_PER_SM = 16  # the output kernel with the local conv hides its taps' load latency with more programs
# Narrow heads are packed side by side into one program, up to this many columns (0: never). A program per head of
# 20 columns loads 40-byte pieces of every row; packed, a row's heads are one contiguous piece of it (the op's
# forward on 4.67M tokens with 2 heads of 20 in bf16 took 2.4x less time on an H200; docs/performance.md).
PACK_WIDTH = 64

KERNELS = ("state", "output", "query_grad", "key_grad")


def launch_config(kernel: str, block_dk: int, block_dv: int, dtype: torch.dtype) -> dict[str, int]:
    """BLOCK_N (tokens per tile), num_warps and num_stages of one of KERNELS (or "output_conv", the output kernel
    with the local conv) for padded head dims.

    Chosen by launch sweeps (benchmarks/ops.py) on an H200 (D = 64, bf16) and by ptxas's
    register report: the state kernel runs best with 8 warps, the others with 4 (the backward ones spill
    a few registers there, and still beat 8 warps). With fp32 products against the state (fp16 and fp32
    inputs) the backward kernels need 8 warps; wider heads get shorter tiles, narrow ones longer.
    """
    if interpreting():
        return {"BLOCK_N": 16, "num_warps": 1, "num_stages": 1}
    width = max(block_dk, block_dv)
    if kernel == "output_conv" and width <= 64 and dtype != torch.float32:
        # the output kernel with the local conv (H200, bf16, 16 programs per SM):
        # 143 us against 231 us with the output kernel's own launch for PVT-T's first stage at 1280^2, batch 4
        # (D = 64), 814 against 1194 us for saga_llie_small's first level at 1080p (D = 20)
        return {"BLOCK_N": 128, "num_warps": 4, "num_stages": 2} if width == 64 else \
            {"BLOCK_N": 64, "num_warps": 4, "num_stages": 3}
    block_n = 128 if width <= 32 else 64 if width <= 64 else 32
    fp32_state = dtype != torch.bfloat16
    warps = 8 if width >= 128 or kernel == "state" or (fp32_state and not kernel.startswith("output")) else 4
    return {"BLOCK_N": block_n, "num_warps": warps, "num_stages": 3 if width <= 64 else 2}


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
    height x width map. Without the conv, narrow heads are taken side by side (`heads_per_program`); with it each
    program takes one head (packed, the conv's taps made the kernel no faster: 2.88 against 3.17 ms at best on an
    H200, and the low-light net no faster at all)."""
    batch, n_q, heads, dk = q.shape
    has_conv = conv_weight is not None
    group = 1 if has_conv else heads_per_program(heads, dk, dv, q)
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
        **_kernel_flags("output_conv" if has_conv else "output", feature_map, q.dtype, dk, dv, block_dk, block_dv))
    return out.view(batch, n_q, heads * group, dv // group)


def forward_kernels(q: Tensor, k: Tensor, v: Tensor, g_k: Tensor | None, g_v: Tensor | None,
                    feature_map: str, eps: float, normalizer: str, conv_weight: Tensor | None,
                    conv_bias: Tensor | None, height: int, width: int) -> tuple[Tensor, Tensor, Tensor]:
    """o (B, Nq, H, Dv) in v's dtype, and the padded fp32 state S (B, H, BDk, BDv) and z (B, H, BDk).

    With conv_weight (H*Dv, 1, k, k), o also holds the depth-wise conv of v over the height x width map."""
    state, z = state_kernels(k, v, g_k, g_v, feature_map, normalizer)
    out = output_kernels(q, state, z, v.shape[-1], v, conv_weight, conv_bias, feature_map, eps, height, width)
    return out, state, z


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
    return op_for_mode(saga_forward, SAGAFunction)(q, k, v, g_k, g_v, feature_map, float(eps), normalizer,
                                                   conv_weight, conv_bias, height, width)[0]
