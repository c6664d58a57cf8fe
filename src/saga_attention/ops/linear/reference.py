"""Non-causal linear attention on feature-mapped queries and keys, plain PyTorch.

This is the one core that every linear attention kind shares (plain ReLU linear attention,
FLatten's focused attention and SAGA, whose gated keys and values are passed in here).
"""
from __future__ import annotations

import torch
from torch import Tensor


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the state is summed in: float64 stays float64, everything else is float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def linear_attention_reference(
    q: Tensor, k: Tensor, v: Tensor, eps: float = 1e-6, z_keys: Tensor | None = None
) -> Tensor:
    """y_i = (q_i S) / (q_i . z + eps) with S = sum_j k_j^T v_j and z = sum_j z_keys_j.

    q: (B, Nq, H, Dk) query features; k: (B, Nk, H, Dk) key features; v: (B, Nk, H, Dv).
    z_keys: (B, Nk, H, Dk), the keys summed into the normaliser; defaults to k.
    S and z are accumulated in fp32 (fp64 for fp64 inputs). Returns (B, Nq, H, Dv) in fp32/fp64.
    """
    acc = accumulation_dtype(q.dtype)
    q, k, v = q.to(acc), k.to(acc), v.to(acc)
    z_keys = k if z_keys is None else z_keys.to(acc)
    state = torch.einsum("bnhk,bnhv->bhkv", k, v)  # (B, H, Dk, Dv)
    z = z_keys.sum(dim=1)  # (B, H, Dk)
    num = torch.einsum("bnhk,bhkv->bnhv", q, state)  # (B, Nq, H, Dv)
    den = torch.einsum("bnhk,bhk->bnh", q, z) + eps  # (B, Nq, H)
    return num / den.unsqueeze(-1)
