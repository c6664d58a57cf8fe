"""Plain (ungated) non-causal linear attention."""
from __future__ import annotations

from torch import Tensor

from ..saga import saga_attention
from .reference import linear_attention_reference

__all__ = ["linear_attention", "linear_attention_reference"]


def linear_attention(q: Tensor, k: Tensor, v: Tensor, eps: float = 1e-6, backend: str = "auto") -> Tensor:
    """Linear attention on already feature-mapped q, k (B, N, H, Dk) and v (B, N, H, Dv).

    The SAGA op with its gates off and the identity feature map (same backends, same checks).
    Accumulates in fp32 and returns (B, Nq, H, Dv) in v's dtype.
    """
    return saga_attention(q, k, v, None, None, "none", eps, backend)
