"""SAGA attention in plain PyTorch: the reference and the materialized form.

    K_j = sigmoid(g_k_j) * phi(k_j)        V_j = sigmoid(g_v_j) * v_j
    S = sum_j K_j^T V_j                     z = sum_j K_j   (or sum_j phi(k_j): "ungated")
    y_i = (phi(q_i) S) / (phi(q_i) . z + eps)

The per-token d x d gate G_j = a_j^T b_j never exists here: the Hadamard product distributes,
sum_j G_j * (k_j^T v_j) = sum_j (a_j * k_j)^T (b_j * v_j). `saga_attention_materialized`
builds every G_j (O(N d^2) memory) to check that identity and to measure what it saves.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..inputs import NORMALIZERS, check_attention_inputs, check_choice
from ..state import accumulation_dtype, apply_linear_state, linear_state

FEATURE_MAPS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": F.relu,
    "elu1": lambda x: F.elu(x) + 1.0,
    "none": lambda x: x,
}


def check_saga_inputs(q, k, v, g_k, g_v, feature_map: str, eps: float, normalizer: str) -> None:
    """Validate every argument of the SAGA op (ValueError with what was expected)."""
    check_attention_inputs(q, k, v, g_k, g_v, eps=eps)
    check_choice("feature_map", feature_map, FEATURE_MAPS)
    check_choice("normalizer", normalizer, NORMALIZERS)


def _key_features_and_gates(k, v, g_k, g_v, feature_map):
    """phi(k), v and the gates a, b (None where no gate), in the accumulation dtype."""
    acc = accumulation_dtype(k.dtype)
    a = None if g_k is None else torch.sigmoid(g_k.to(acc))
    b = None if g_v is None else torch.sigmoid(g_v.to(acc))
    return FEATURE_MAPS[feature_map](k.to(acc)), v.to(acc), a, b


def saga_attention_reference(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g_k: Tensor | None,
    g_v: Tensor | None,
    feature_map: str = "relu",
    eps: float = 1e-6,
    normalizer: str = "gated",
) -> Tensor:
    """SAGA attention with fp32 internals (fp64 for fp64 inputs).

    q: (B, Nq, H, Dk) and k, g_k: (B, Nk, H, Dk) raw projections and key-gate logits;
    v, g_v: (B, Nk, H, Dv). A gate given as None is off (gate = 1). Returns (B, Nq, H, Dv) in v's dtype.
    """
    check_saga_inputs(q, k, v, g_k, g_v, feature_map, eps, normalizer)
    return saga_attention_torch(q, k, v, g_k, g_v, feature_map, eps, normalizer)


def saga_attention_torch(q, k, v, g_k, g_v, feature_map: str, eps: float, normalizer: str) -> Tensor:
    """The torch backend, on inputs already checked by `check_saga_inputs`."""
    state, z = saga_state_torch(k, v, g_k, g_v, feature_map, normalizer)
    return saga_apply_state_torch(q, state, z, feature_map, eps).to(v.dtype)


def saga_state_torch(k, v, g_k, g_v, feature_map: str, normalizer: str) -> tuple[Tensor, Tensor]:
    """S (B, H, Dk, Dv) and z (B, H, Dk) of SAGA's gated keys and values, in the accumulation dtype."""
    kf, vf, a, b = _key_features_and_gates(k, v, g_k, g_v, feature_map)
    k_gated = kf if a is None else a * kf  # (B, Nk, H, Dk)
    v_gated = vf if b is None else b * vf  # (B, Nk, H, Dv)
    return linear_state(k_gated, v_gated, z_keys=kf if normalizer == "ungated" else None)


def saga_apply_state_torch(q, state: Tensor, z: Tensor, feature_map: str, eps: float) -> Tensor:
    """(phi(q) S) / (phi(q) . z + eps) in the state's dtype."""
    return apply_linear_state(FEATURE_MAPS[feature_map](q.to(state.dtype)), state, z, eps)


def saga_attention_materialized(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g_k: Tensor | None,
    g_v: Tensor | None,
    feature_map: str = "relu",
    eps: float = 1e-6,
    normalizer: str = "gated",
) -> Tensor:
    """The same function, computed by building every per-token gate G_j = a_j^T b_j.

    Memory is O(B Nk H Dk Dv): for tests and the memory demonstration only.
    """
    check_saga_inputs(q, k, v, g_k, g_v, feature_map, eps, normalizer)
    kf, vf, a, b = _key_features_and_gates(k, v, g_k, g_v, feature_map)
    qf = FEATURE_MAPS[feature_map](q.to(kf.dtype))
    ones_a = torch.ones_like(kf) if a is None else a
    ones_b = torch.ones_like(vf) if b is None else b
    gates = ones_a.unsqueeze(-1) * ones_b.unsqueeze(-2)  # (B, Nk, H, Dk, Dv): every G_j
    outer = kf.unsqueeze(-1) * vf.unsqueeze(-2)  # (B, Nk, H, Dk, Dv): every k_j^T v_j
    state = (gates * outer).sum(dim=1)  # (B, H, Dk, Dv)
    z = (kf if normalizer == "ungated" else ones_a * kf).sum(dim=1)  # (B, H, Dk)
    num = torch.einsum("bnhk,bhkv->bnhv", qf, state)
    den = torch.einsum("bnhk,bhk->bnh", qf, z) + eps
    return (num / den.unsqueeze(-1)).to(v.dtype)
