"""The transformer MLP with its LayerNorm: x -> fc2(gelu(fc1(layer_norm(x)))), as one op with a fused kernel; and
the GELU gate of a gated feed-forward, gelu(a) * b, with a kernel for inference. Checks, then dispatch."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..inputs import BACKENDS, FLOAT_DTYPES, check_choice, kernel_unsupported_reason, resolve_backend
from .reference import norm_mlp_torch

MAX_WIDTH = 128         # widest C the fused MLP kernel keeps in registers
MAX_GATE_WIDTH = 4096   # widest Hid of the gate kernel


def _check(x: Tensor, norm_weight: Tensor, norm_bias: Tensor, fc1_weight: Tensor, fc1_bias: Tensor,
           fc2_weight: Tensor, fc2_bias: Tensor) -> None:
    named = {"x": x, "norm_weight": norm_weight, "norm_bias": norm_bias, "fc1_weight": fc1_weight,
             "fc1_bias": fc1_bias, "fc2_weight": fc2_weight, "fc2_bias": fc2_bias}
    for name, t in named.items():
        if not isinstance(t, Tensor) or t.dtype not in FLOAT_DTYPES:
            raise ValueError(f"{name} must be a floating-point torch.Tensor; got "
                             f"{t.dtype if isinstance(t, Tensor) else type(t).__name__}")
    if x.dim() < 2 or x.numel() == 0:
        raise ValueError(f"x must be (..., C) with at least one token; got shape {tuple(x.shape)}")
    if fc1_bias.dim() != 1:
        raise ValueError(f"fc1_bias must be (Hid,); got {tuple(fc1_bias.shape)}")
    channels, hidden = x.shape[-1], fc1_bias.shape[0]
    expected = {"norm_weight": (channels,), "norm_bias": (channels,), "fc1_weight": (hidden, channels),
                "fc1_bias": (hidden,), "fc2_weight": (channels, hidden), "fc2_bias": (channels,)}
    for name, shape in expected.items():
        if tuple(named[name].shape) != shape:
            raise ValueError(f"{name} must be {shape} for x with C={channels} and fc1 with {hidden} outputs "
                             f"(fc1_bias's length); got {tuple(named[name].shape)}")
    if len({t.device for t in named.values()}) > 1:
        raise ValueError("x and the weights must be on one device; got "
                         + ", ".join(f"{n} on {t.device}" for n, t in named.items()))


def _triton_unsupported_reason(x: Tensor, dtype: torch.dtype, width: int, max_width: int) -> str | None:
    reason = kernel_unsupported_reason(x, dtype)
    if reason is None and width > max_width:
        reason = f"its kernel takes widths up to {max_width}; got {width}"
    return reason


def gelu_gate_backend(x: Tensor, bias: Tensor | None = None, backend: str = "auto") -> str:
    """Which backend gelu_gate(x, bias, backend) runs: "triton" or "torch" (raises for "triton" where the kernel
    cannot run). "auto" takes the kernel on CUDA when no gradient is needed and torch.compile is not tracing."""
    check_choice("backend", backend, BACKENDS)
    if not isinstance(x, Tensor) or x.dtype not in FLOAT_DTYPES or x.dim() < 1 or x.shape[-1] % 2:
        raise ValueError("x must be a floating-point (..., 2 Hid) tensor with an even last dim; got "
                         + (f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__))
    if bias is not None and (not isinstance(bias, Tensor) or tuple(bias.shape) != (x.shape[-1],)):
        raise ValueError(f"bias must be ({x.shape[-1]},) for x with a last dim of {x.shape[-1]}; got "
                         + (f"{tuple(bias.shape)}" if isinstance(bias, Tensor) else type(bias).__name__))
    needs_grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, bias))
    reason = (_triton_unsupported_reason(x, x.dtype, x.shape[-1] // 2, MAX_GATE_WIDTH)
              or ("its kernel has no backward (it serves inference)" if needs_grad else None))
    wanted = x.is_cuda and not torch.compiler.is_compiling()
    return "triton" if resolve_backend(backend, reason, wanted) else "torch"


def gelu_gate(x: Tensor, bias: Tensor | None = None, backend: str = "auto") -> Tensor:
    """gelu(a) * v (exact GELU) of y = x + bias (bias (2 Hid,) or None), a = y[..., :Hid], v = y[..., Hid:]:
    x (..., 2 Hid) -> (..., Hid).

    backend "triton": one kernel that reads each row once and adds the bias on the way (no autograd); "torch":
    PyTorch ops; "auto": see gelu_gate_backend. On a channels-last map's channels PyTorch runs two strided
    elementwise kernels and keeps gelu(a) between them, and a conv's bias is one more pass (a broadcast add).
    """
    if gelu_gate_backend(x, bias, backend) == "triton":
        from .kernels import gelu_gate_triton

        return gelu_gate_triton(x, None if bias is None else bias.to(x.dtype))
    y = x if bias is None else x + bias
    hidden = x.shape[-1] // 2
    return F.gelu(y[..., :hidden]) * y[..., hidden:]


def norm_mlp(x: Tensor, norm_weight: Tensor, norm_bias: Tensor, eps: float, fc1_weight: Tensor, fc1_bias: Tensor,
             fc2_weight: Tensor, fc2_bias: Tensor, backend: str = "auto") -> Tensor:
    """fc2(gelu(fc1(layer_norm(x)))): x (..., C); norm_weight, norm_bias (C,); fc1 (Hid, C), (Hid,);
    fc2 (C, Hid), (C,). Returns (..., C).

    backend "triton": one kernel, the hidden activation never in memory; the backward recomputes it.
    "torch": PyTorch ops; without autograd over chunks of tokens, so the hidden activation is never whole.
    "auto": Triton on CUDA for C <= 128 when no gradient is needed (in training PyTorch's path, which keeps
    the hidden activation for a faster backward), else "torch". Under autocast the matmuls run in the
    autocast dtype, LayerNorm in fp32, as PyTorch's autocast runs the unfused layers.
    """
    check_choice("backend", backend, BACKENDS)
    _check(x, norm_weight, norm_bias, fc1_weight, fc1_bias, fc2_weight, fc2_bias)
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not eps > 0:
        raise ValueError(f"eps must be a number > 0; got {eps!r}")
    autocast = x.device.type in ("cuda", "cpu") and torch.is_autocast_enabled(x.device.type)  # not on "meta"
    dtype = torch.get_autocast_dtype(x.device.type) if autocast else fc1_weight.dtype
    weights = (norm_weight, norm_bias, fc1_weight, fc1_bias, fc2_weight, fc2_bias)
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (x, *weights))
    reason = _triton_unsupported_reason(x, dtype, x.shape[-1], MAX_WIDTH)
    if not resolve_backend(backend, reason, wanted=x.is_cuda and not needs_grad):
        return norm_mlp_torch(x, norm_weight, norm_bias, eps, fc1_weight, fc1_bias, fc2_weight, fc2_bias,
                              chunked=not needs_grad)
    from .kernels import norm_mlp_triton

    with torch.autocast(x.device.type, enabled=False):
        nw, nb, w1, b1, w2, b2 = (t.to(dtype) for t in weights)
        return norm_mlp_triton(x, nw, nb, eps, w1, b1, w2, b2)
