"""SAGA attention: the public op and its dispatch to the backends ("torch": plain PyTorch in reference.py;
"triton": the fused kernels of kernels.py through launch.py, imported on first use)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..inputs import (
    FLOAT_DTYPES,
    NORMALIZERS,
    check_attention_inputs,
    check_choice,
    kernel_unsupported_reason,
    resolve_backend,
)
from ..state import accumulation_dtype
from .local import check_local_conv, local_conv
from .reference import FEATURE_MAPS, check_saga_inputs, saga_apply_state_torch, saga_attention_torch, saga_state_torch

MAX_HEAD_DIM = 128    # the widest head the kernels take


def triton_unsupported_reason(q: Tensor, k: Tensor, v: Tensor) -> str | None:
    """Why the Triton kernels cannot take these (checked) inputs, or None when they can."""
    reason = kernel_unsupported_reason(q)
    if reason is None and max(k.shape[-1], v.shape[-1]) > MAX_HEAD_DIM:
        reason = f"its kernels take head dims up to {MAX_HEAD_DIM}; got Dk={k.shape[-1]}, Dv={v.shape[-1]}"
    return reason


def use_triton(backend: str, q: Tensor, k: Tensor, v: Tensor) -> bool:
    """"auto" -> the kernels for CUDA inputs they take, else PyTorch; "triton" must be possible."""
    return resolve_backend(backend, triton_unsupported_reason(q, k, v), wanted=q.is_cuda)


def saga_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g_k: Tensor | None,
    g_v: Tensor | None,
    feature_map: str = "relu",
    eps: float = 1e-6,
    backend: str = "auto",
    normalizer: str = "gated",
    conv_weight: Tensor | None = None,
    conv_bias: Tensor | None = None,
    hw: tuple[int, int] | None = None,
) -> Tensor:
    """SAGA linear attention, non-causal, layout (B, N, H, D).

    q: (B, Nq, H, Dk), raw query projections (the feature map is applied inside);
    k, g_k: (B, Nk, H, Dk), raw keys and key-gate logits (sigmoid inside);
    v, g_v: (B, Nk, H, Dv), values and value-gate logits; a gate given as None is off.
    feature_map: "relu" | "elu1" | "none". normalizer: "gated" (z = sum a*phi(k)) | "ungated".
    backend: "auto" (Triton on CUDA, PyTorch elsewhere) | "torch" | "triton".
    conv_weight (H*Dv, 1, k, k), conv_bias (H*Dv,) and hw = (height, width) add the depth-wise conv of v
    over the token map (the local branch; needs Nq = Nk = height * width); the Triton backend adds it in
    its output kernel, reading v in place.
    Returns (B, Nq, H, Dv) in v's dtype; the state is accumulated in fp32.
    """
    check_saga_inputs(q, k, v, g_k, g_v, feature_map, eps, normalizer)
    check_local_conv(q, v, conv_weight, conv_bias, hw)
    if use_triton(backend, q, k, v):
        from .launch import saga_attention_triton

        if hw is not None:          # a tracer's 0-dim tensors become the ints the kernels take
            hw = tuple(int(side) if isinstance(side, Tensor) else side for side in hw)
        return saga_attention_triton(q, k, v, g_k, g_v, feature_map, eps, normalizer, conv_weight, conv_bias, hw)
    out = saga_attention_torch(q, k, v, g_k, g_v, feature_map, eps, normalizer)
    return out if conv_weight is None else out + local_conv(v, conv_weight, conv_bias, hw)


def _check_no_grad(*tensors: Tensor | None) -> None:
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        raise ValueError("saga_state and saga_apply_state have no backward: call them under torch.no_grad() "
                         "(inference), or train with saga_attention")


def _check_tensor(name: str, t: Tensor, dims: str) -> None:
    if not isinstance(t, Tensor) or t.dim() != len(dims.split(",")) or t.dtype not in FLOAT_DTYPES:
        got = f"shape {tuple(t.shape)}, dtype {t.dtype}" if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"{name} must be a floating-point ({dims}) tensor; got {got}")


def saga_state(k: Tensor, v: Tensor, g_k: Tensor | None = None, g_v: Tensor | None = None,
               feature_map: str = "relu", normalizer: str = "gated", backend: str = "auto") -> tuple[Tensor, Tensor]:
    """SAGA's state of keys k, g_k (B, Nk, H, Dk) and values v, g_v (B, Nk, H, Dv), for inference in parts:
    S = sum_j (a_j * phi(k_j))^T (b_j * v_j) (B, H, Dk, Dv) and z (B, H, Dk), in fp32 (fp64 for fp64 inputs).
    The states of disjoint sets of tokens add up, so an image's state can be summed over bands of it, and
    `saga_apply_state` then gives exactly what `saga_attention` gives. No backward (use saga_attention to train).
    """
    _check_tensor("k", k, "B, Nk, H, Dk")
    check_attention_inputs(k, k, v, g_k, g_v, eps=1.0)
    check_choice("feature_map", feature_map, FEATURE_MAPS)
    check_choice("normalizer", normalizer, NORMALIZERS)
    _check_no_grad(k, v, g_k, g_v)
    if not use_triton(backend, k, k, v):
        return saga_state_torch(k, v, g_k, g_v, feature_map, normalizer)
    from .launch import state_kernels

    state, z = state_kernels(k, v, g_k, g_v, feature_map, normalizer)
    return state[..., :k.shape[-1], :v.shape[-1]], z[..., :k.shape[-1]]


def saga_apply_state(q: Tensor, state: Tensor, z: Tensor, feature_map: str = "relu", eps: float = 1e-6,
                     backend: str = "auto", v: Tensor | None = None, conv_weight: Tensor | None = None,
                     conv_bias: Tensor | None = None, hw: tuple[int, int] | None = None) -> Tensor:
    """y_i = (phi(q_i) S) / (phi(q_i) . z + eps) for raw queries q (B, Nq, H, Dk) and a state of `saga_state`
    (S (B, H, Dk, Dv), z (B, H, Dk)); with v (B, Nq, H, Dv), conv_weight, conv_bias and hw as in
    saga_attention, plus the depth-wise conv of v. Returns (B, Nq, H, Dv) in q's dtype. No backward."""
    _check_tensor("q", q, "B, Nq, H, Dk")
    batch, _, heads, dk = q.shape
    _check_tensor("state", state, "B, H, Dk, Dv")
    dv = state.shape[-1]
    z_ok = isinstance(z, Tensor) and tuple(z.shape) == (batch, heads, dk)
    if tuple(state.shape[:3]) != (batch, heads, dk) or not z_ok:
        got = f"{tuple(state.shape)} and {tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__}"
        raise ValueError(f"state and z must be (B, H, Dk, Dv) = ({batch}, {heads}, {dk}, Dv) and (B, H, Dk) to match "
                         f"q; got {got}")
    check_choice("feature_map", feature_map, FEATURE_MAPS)
    check_attention_inputs(q, q, q, eps=eps)
    if v is not None and (not isinstance(v, Tensor) or tuple(v.shape) != (*q.shape[:3], dv) or v.dtype != q.dtype):
        got = f"shape {tuple(v.shape)}, dtype {v.dtype}" if isinstance(v, Tensor) else type(v).__name__
        raise ValueError(f"v must be (B, Nq, H, Dv) = {(*q.shape[:3], dv)} in q's dtype {q.dtype}; got {got}")
    if conv_weight is not None and v is None:
        raise ValueError("the local conv (conv_weight) needs v")
    check_local_conv(q, q if v is None else v, conv_weight, conv_bias, hw)
    _check_no_grad(q, state, z, v, conv_weight, conv_bias)
    values = q[..., :1].expand(*q.shape[:3], dv) if v is None else v        # v's shape, for the backend check
    if not use_triton(backend, q, q, values):
        acc = accumulation_dtype(q.dtype)
        out = saga_apply_state_torch(q, state.to(acc), z.to(acc), feature_map, eps).to(q.dtype)
        return out if conv_weight is None else out + local_conv(v, conv_weight, conv_bias, hw)
    from .launch import _padded, output_kernels

    pad_k, pad_v = _padded(dk) - dk, _padded(dv) - dv
    state = F.pad(state.float(), (0, pad_v, 0, pad_k)).contiguous()
    z = F.pad(z.float(), (0, pad_k)).contiguous()
    height, width = hw if conv_weight is not None else (0, 0)
    return output_kernels(q, state, z, dv, v, conv_weight, conv_bias, feature_map, float(eps), height, width)
