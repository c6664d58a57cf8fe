"""SAGA attention: the public op and its backends ("torch": plain PyTorch; "triton": fused kernels)."""
from __future__ import annotations

import importlib.util

from torch import Tensor

from .inputs import check_choice
from .local import check_local_conv, local_conv
from .reference import (
    FEATURE_MAPS,
    check_saga_inputs,
    saga_attention_materialized,
    saga_attention_reference,
    saga_attention_torch,
)

BACKENDS = ("auto", "torch", "triton")
HAS_TRITON = importlib.util.find_spec("triton") is not None

__all__ = [
    "BACKENDS",
    "FEATURE_MAPS",
    "HAS_TRITON",
    "saga_attention",
    "saga_attention_materialized",
    "saga_attention_reference",
    "triton_unsupported_reason",
]


def triton_unsupported_reason(q: Tensor, k: Tensor, v: Tensor) -> str | None:
    """Why the Triton kernels cannot take these (checked) inputs, or None when they can."""
    if not HAS_TRITON:
        return "triton is not installed (pip install triton)"
    from .triton import KERNEL_DTYPES, MAX_HEAD_DIM, interpreting

    if q.device.type != "cuda" and not (q.device.type == "cpu" and interpreting()):
        return f"its kernels run on CUDA tensors (or on the CPU under TRITON_INTERPRET=1); got {q.device}"
    if q.dtype not in KERNEL_DTYPES:
        return f"its kernels take float16, bfloat16 or float32; got {q.dtype}"
    if max(k.shape[-1], v.shape[-1]) > MAX_HEAD_DIM:
        return f"its kernels take head dims up to {MAX_HEAD_DIM}; got Dk={k.shape[-1]}, Dv={v.shape[-1]}"
    return None


def resolve_backend(backend: str, q: Tensor, k: Tensor, v: Tensor) -> str:
    """"auto" -> "triton" for CUDA inputs the kernels take, else "torch"; "triton" must be possible."""
    check_choice("backend", backend, BACKENDS)
    if backend == "torch":
        return "torch"
    reason = triton_unsupported_reason(q, k, v)
    if backend == "triton" and reason is not None:
        raise ValueError(f"backend='triton' is not available here: {reason}; use backend='torch' or 'auto'")
    return "triton" if reason is None and (backend == "triton" or q.is_cuda) else "torch"


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
    if resolve_backend(backend, q, k, v) == "triton":
        from .triton import saga_attention_triton

        return saga_attention_triton(q, k, v, g_k, g_v, feature_map, eps, normalizer, conv_weight, conv_bias, hw)
    out = saga_attention_torch(q, k, v, g_k, g_v, feature_map, eps, normalizer)
    return out if conv_weight is None else out + local_conv(v, conv_weight, conv_bias, hw)
