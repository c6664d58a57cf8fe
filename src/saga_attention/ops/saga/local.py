"""The local branch that SAGA (and FLatten) add to linear attention: a depth-wise conv of v.

    y = attention(q, k, v) + dwconv(v)    over the H x W map of the tokens, channel c = h * Dv + d

`saga_attention` takes the conv's weight and bias so the Triton backend can add it in the output
kernel, reading v where it lies instead of copying it into a map. These are the plain-PyTorch
forward (the torch backend) and the gradients the Triton backend's backward uses.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def check_local_conv(q: Tensor, v: Tensor, weight: Tensor | None, bias: Tensor | None,
                     hw: tuple[int, int] | None) -> None:
    """ValueError unless weight (H*Dv, 1, k, k) with odd k, bias (H*Dv,) or None, and hw = (h, w) with
    h * w = Nq = Nk; all three absent is fine (no local branch)."""
    if weight is None:
        if bias is not None:
            raise ValueError("conv_bias was given without conv_weight")
        return
    channels = v.shape[2] * v.shape[3]
    if not isinstance(weight, Tensor) or weight.dim() != 4 or weight.shape[:2] != (channels, 1) \
            or weight.shape[2] != weight.shape[3] or weight.shape[2] % 2 == 0:
        got = tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__
        raise ValueError(f"conv_weight must be a depth-wise (H*Dv, 1, k, k) = ({channels}, 1, k, k) weight with odd "
                         f"k; got {got}")
    if bias is not None and (not isinstance(bias, Tensor) or tuple(bias.shape) != (channels,)):
        got = tuple(bias.shape) if isinstance(bias, Tensor) else type(bias).__name__
        raise ValueError(f"conv_bias must be ({channels},); got {got}")
    for t in (weight, bias):
        if t is not None and (t.device != v.device or not t.is_floating_point()):
            raise ValueError(f"conv_weight and conv_bias must be floating tensors on {v.device}; got {t.dtype} "
                             f"on {t.device}")
    if hw is None or len(hw) != 2 or not all(map(_is_side, hw)) or any(isinstance(s, int) and s < 1 for s in hw):
        raise ValueError(f"hw must be the (height, width) of the token map when conv_weight is given; got {hw!r}")
    if q.shape[1] != v.shape[1] or (all(isinstance(s, int) for s in hw) and hw[0] * hw[1] != v.shape[1]):
        raise ValueError(f"the local conv needs Nq = Nk = height * width; got Nq={q.shape[1]}, Nk={v.shape[1]}, "
                         f"hw={tuple(hw)}")


def _is_side(side: object) -> bool:
    """A side of the token map: an int, a symbolic int (torch.export with dynamic sizes) or a 0-dim integer
    tensor (torch.jit.trace, the TorchScript ONNX exporter and fvcore trace sizes as tensors)."""
    if isinstance(side, Tensor):
        return side.dim() == 0 and not side.is_floating_point() and not side.is_complex()
    return isinstance(side, (int, torch.SymInt)) and not isinstance(side, bool)


def _to_map(t: Tensor, hw: tuple[int, int]) -> Tensor:
    """(B, N, H, D) -> (B, H*D, h, w), a view."""
    return t.flatten(2).transpose(1, 2).unflatten(-1, hw)


def _from_map(fmap: Tensor, heads: int) -> Tensor:
    """(B, H*D, h, w) -> (B, N, H, D), a view."""
    return fmap.flatten(2).transpose(1, 2).unflatten(-1, (heads, -1))


def local_conv(v: Tensor, weight: Tensor, bias: Tensor | None, hw: tuple[int, int]) -> Tensor:
    """dwconv(v): (B, N, H, Dv) -> (B, N, H, Dv) in v's dtype (weights cast to it, as autocast would)."""
    bias = None if bias is None else bias.to(v.dtype)
    out = F.conv2d(_to_map(v, hw), weight.to(v.dtype), bias, padding=weight.shape[-1] // 2, groups=weight.shape[0])
    return _from_map(out, v.shape[2])


def local_conv_grads(grad_out: Tensor, v: Tensor, weight: Tensor, bias: Tensor | None,
                     hw: tuple[int, int]) -> tuple[Tensor, Tensor, Tensor | None]:
    """Gradients of sum(grad_out * dwconv(v)) for v (B, N, H, Dv), the weight and the bias (None without one)."""
    pad, has_bias = weight.shape[-1] // 2, bias is not None
    grad_v, grad_w, grad_b = torch.ops.aten.convolution_backward(
        _to_map(grad_out, hw), _to_map(v, hw), weight.to(v.dtype), [weight.shape[0]] if has_bias else None,
        [1, 1], [pad, pad], [1, 1], False, [0, 0], weight.shape[0], [True, True, has_bias])
    return _from_map(grad_v, v.shape[2]), grad_w.to(weight.dtype), None if bias is None else grad_b.to(bias.dtype)
