"""The state of non-causal linear attention and its application, plain PyTorch.

This is the one core that every linear attention kind shares (plain ReLU linear attention,
FLatten's focused attention and SAGA, whose gated keys and values are passed in here).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the state is summed in: float64 stays float64, everything else is float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def linear_state(k: Tensor, v: Tensor, z_keys: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The state of keys k (B, Nk, H, Dk) and values v (B, Nk, H, Dv): S = sum_j k_j^T v_j (B, H, Dk, Dv) and
    z = sum_j z_keys_j (B, H, Dk; z_keys defaults to k), in fp32 (fp64 for fp64 inputs). The states of
    disjoint sets of tokens add up to the state of their union."""
    acc = accumulation_dtype(k.dtype)
    k, v = k.to(acc), v.to(acc)
    z_keys = k if z_keys is None else z_keys.to(acc)
    return torch.einsum("bnhk,bnhv->bhkv", k, v), z_keys.sum(dim=1)


def apply_linear_state(q: Tensor, state: Tensor, z: Tensor, eps: float) -> Tensor:
    """y_i = (q_i S) / (q_i . z + eps) for query features q (B, Nq, H, Dk), S (B, H, Dk, Dv), z (B, H, Dk).
    Returns (B, Nq, H, Dv) in the state's dtype."""
    q = q.to(state.dtype)
    num = torch.einsum("bnhk,bhkv->bnhv", q, state)  # (B, Nq, H, Dv)
    den = torch.einsum("bnhk,bhk->bnh", q, z) + eps  # (B, Nq, H)
    return num / den.unsqueeze(-1)


def state_over_bands(state_of: Callable[[int, int], tuple[Tensor, Tensor]], rows: int,
                     band: int) -> tuple[Tensor, Tensor]:
    """The state of a whole map, summed over its bands of `band` rows: state_of(a, b) gives (S, z) of rows
    [a, b). The states of disjoint tokens add up, so this equals the state of the map taken at once."""
    state = None
    for a in range(0, rows, band):
        part = state_of(a, min(a + band, rows))
        state = part if state is None else (state[0] + part[0], state[1] + part[1])
    return state
