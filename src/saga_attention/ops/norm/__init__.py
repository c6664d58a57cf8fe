"""LayerNorm over the last dim, with a Triton kernel (forward and backward) for narrow rows (a pixel's channels)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..saga import HAS_TRITON
from ..saga.inputs import check_choice

BACKENDS = ("auto", "torch", "triton")
# In training "auto" takes the kernel only on norms of at least this many rows: on an H200 at 1280^2 (PVT-T and
# SAGA-T) it made the step 1.10-1.12x faster at batch 8, and the small stages' norms stay on aten, whose host cost
# is lower (benchmarks/results/issue14-small-batch/h200/j).
TRAIN_MIN_ROWS = 200_000

__all__ = ["BACKENDS", "TRAIN_MIN_ROWS", "layer_norm"]


def _triton_unsupported_reason(x: Tensor, weight: Tensor | None, bias: Tensor | None) -> str | None:
    if not HAS_TRITON:
        return "triton is not installed (pip install triton)"
    from ..saga.triton import interpreting
    from .triton import KERNEL_DTYPES, MAX_WIDTH

    if not (x.is_cuda or (x.device.type == "cpu" and interpreting())):
        return f"its kernel runs on CUDA tensors (or on the CPU under TRITON_INTERPRET=1); got {x.device}"
    if x.dtype not in KERNEL_DTYPES:
        return f"its kernel takes float16, bfloat16 or float32; got {x.dtype}"
    if x.shape[-1] > MAX_WIDTH:
        return f"its kernel takes rows of up to {MAX_WIDTH}; got C={x.shape[-1]}"
    if weight is None or bias is None:
        return "its kernel needs the affine weight and bias"
    return None


def layer_norm(x: Tensor, weight: Tensor | None, bias: Tensor | None, eps: float = 1e-5,
               backend: str = "auto") -> Tensor:
    """F.layer_norm of x (..., C) over C with weight, bias (C,). backend "triton": the narrow-row kernel, with its
    backward when a gradient is needed; "torch": F.layer_norm; "auto": the kernel on CUDA when torch.compile is not
    tracing (inductor fuses the norm with its neighbours itself) and, when a gradient is needed, only on
    x of >= TRAIN_MIN_ROWS rows; else F.layer_norm."""
    check_choice("backend", backend, BACKENDS)
    if not isinstance(x, Tensor) or x.dim() < 1 or not x.is_floating_point():
        raise ValueError(f"x must be a floating-point (..., C) tensor; got "
                         f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and (not isinstance(t, Tensor) or tuple(t.shape) != (x.shape[-1],)):
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{name} must be ({x.shape[-1]},) for x with C={x.shape[-1]}; got {got}")
    training = torch.is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in (x, weight, bias))
    rows = x.numel() // max(x.shape[-1], 1)
    wanted = backend == "triton" or (backend == "auto" and x.is_cuda and not torch.compiler.is_compiling()
                                     and (not training or rows >= TRAIN_MIN_ROWS))
    reason = _triton_unsupported_reason(x, weight, bias) if wanted else None
    if backend == "triton" and reason is not None:
        raise ValueError(f"backend='triton' is not available here: {reason}; use backend='torch' or 'auto'")
    if not wanted or reason is not None:
        return F.layer_norm(x, x.shape[-1:], weight, bias, eps)
    from .triton import layer_norm_triton

    return layer_norm_triton(x, weight.to(x.dtype), bias.to(x.dtype), float(eps))
