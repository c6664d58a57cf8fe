"""Plain (ungated) non-causal linear attention."""
from __future__ import annotations

from torch import Tensor

from ..saga.inputs import check_attention_inputs
from .reference import accumulation_dtype, linear_attention_reference

__all__ = ["linear_attention", "linear_attention_reference", "accumulation_dtype"]


def linear_attention(q: Tensor, k: Tensor, v: Tensor, eps: float = 1e-6) -> Tensor:
    """Linear attention on already feature-mapped q, k (B, N, H, Dk) and v (B, N, H, Dv).

    Accumulates in fp32 and returns (B, Nq, H, Dv) in v's dtype.
    """
    check_attention_inputs(q, k, v, eps=eps)
    return linear_attention_reference(q, k, v, eps).to(v.dtype)
