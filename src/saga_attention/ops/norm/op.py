"""LayerNorm over the last dim, with a Triton kernel (forward and backward) for narrow rows: checks, then dispatch."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..inputs import BACKENDS, check_choice, kernel_unsupported_reason, resolve_backend

# In training "auto" takes the kernel only on norms of at least this many rows: on an H200 at 1280^2 (PVT-T and
# SAGA-T) it made the step 1.10-1.12x faster at batch 8, and the small stages' norms stay on aten, whose host cost
# is lower (docs/performance.md).
TRAIN_MIN_ROWS = 200_000
MAX_WIDTH = 1024    # the widest row the kernel takes


def _triton_unsupported_reason(x: Tensor, weight: Tensor | None, bias: Tensor | None) -> str | None:
    reason = kernel_unsupported_reason(x)
    if reason is None and x.shape[-1] > MAX_WIDTH:
        reason = f"its kernel takes rows of up to {MAX_WIDTH}; got C={x.shape[-1]}"
    if reason is None and (weight is None or bias is None):
        reason = "its kernel needs the affine weight and bias"
    return reason


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
    wanted = x.is_cuda and not torch.compiler.is_compiling() and (not training or rows >= TRAIN_MIN_ROWS)
    if not resolve_backend(backend, _triton_unsupported_reason(x, weight, bias), wanted):
        return F.layer_norm(x, (int(x.shape[-1]),), weight, bias, eps)
    from .kernels import layer_norm_triton

    return layer_norm_triton(x, weight.to(x.dtype), bias.to(x.dtype), float(eps))
