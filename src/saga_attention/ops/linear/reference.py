"""Plain (ungated) non-causal linear attention in PyTorch: the reference of the linear op."""
from __future__ import annotations

from torch import Tensor

from ..state import apply_linear_state, linear_state


def linear_attention_reference(
    q: Tensor, k: Tensor, v: Tensor, eps: float = 1e-6, z_keys: Tensor | None = None
) -> Tensor:
    """y_i = (q_i S) / (q_i . z + eps) with S = sum_j k_j^T v_j and z = sum_j z_keys_j.

    q: (B, Nq, H, Dk) query features; k: (B, Nk, H, Dk) key features; v: (B, Nk, H, Dv).
    z_keys: (B, Nk, H, Dk), the keys summed into the normaliser; defaults to k.
    S and z are accumulated in fp32 (fp64 for fp64 inputs). Returns (B, Nq, H, Dv) in fp32/fp64.
    """
    return apply_linear_state(q, *linear_state(k, v, z_keys), eps)
