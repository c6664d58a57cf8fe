"""LayerNorm -> Linear -> GELU -> Linear in plain PyTorch: the reference, and the path for CPUs and wide layers."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

CHUNK_ELEMENTS = 1 << 24  # without autograd, hidden activations are made this many elements at a time (32 MiB bf16)


def norm_mlp_reference(x: Tensor, norm_weight: Tensor, norm_bias: Tensor, eps: float, fc1_weight: Tensor,
                       fc1_bias: Tensor, fc2_weight: Tensor, fc2_bias: Tensor) -> Tensor:
    """fc2(gelu(fc1(layer_norm(x)))): x (..., C) -> (..., C); fc1_weight (Hid, C), fc2_weight (C, Hid)."""
    hidden = F.gelu(F.linear(F.layer_norm(x, (int(x.shape[-1]),), norm_weight, norm_bias, eps), fc1_weight, fc1_bias))
    return F.linear(hidden, fc2_weight, fc2_bias)


def norm_mlp_torch(x: Tensor, norm_weight: Tensor, norm_bias: Tensor, eps: float, fc1_weight: Tensor,
                   fc1_bias: Tensor, fc2_weight: Tensor, fc2_bias: Tensor, chunked: bool) -> Tensor:
    """The reference; chunked (when no gradient is needed) over chunks of tokens, so the (tokens x Hid) hidden
    activation never exists whole."""
    tokens = x.reshape(-1, x.shape[-1])  # (M, C)
    rows = max(1, CHUNK_ELEMENTS // fc1_weight.shape[0])
    weights = (norm_weight, norm_bias, eps, fc1_weight, fc1_bias, fc2_weight, fc2_bias)
    if not chunked or tokens.shape[0] <= rows:
        return norm_mlp_reference(x, *weights)
    out = torch.cat([norm_mlp_reference(chunk, *weights) for chunk in tokens.split(rows)])
    return out.reshape(*x.shape[:-1], out.shape[-1])
