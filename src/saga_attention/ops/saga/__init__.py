"""SAGA attention: the public op and its backends."""
from __future__ import annotations

from torch import Tensor

from .inputs import check_choice
from .reference import (
    FEATURE_MAPS,
    check_saga_inputs,
    saga_attention_materialized,
    saga_attention_reference,
    saga_attention_torch,
)

BACKENDS = ("auto", "torch")

__all__ = [
    "BACKENDS",
    "FEATURE_MAPS",
    "saga_attention",
    "saga_attention_materialized",
    "saga_attention_reference",
]


def saga_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    g_k: Tensor | None,
    g_v: Tensor | None,
    feature_map: str = "relu",
    eps: float = 1e-6,
    backend: str = "auto",
    normalizer: str = "gated",
) -> Tensor:
    """SAGA linear attention, non-causal, layout (B, N, H, D).

    q: (B, Nq, H, Dk), raw query projections (the feature map is applied inside);
    k, g_k: (B, Nk, H, Dk), raw keys and key-gate logits (sigmoid inside);
    v, g_v: (B, Nk, H, Dv), values and value-gate logits; a gate given as None is off.
    feature_map: "relu" | "elu1" | "none". normalizer: "gated" (z = sum a*phi(k)) | "ungated".
    backend: "auto" | "torch". Returns (B, Nq, H, Dv) in v's dtype; state accumulated in fp32.
    """
    check_choice("backend", backend, BACKENDS)
    check_saga_inputs(q, k, v, g_k, g_v, feature_map, eps, normalizer)
    return saga_attention_torch(q, k, v, g_k, g_v, feature_map, eps, normalizer)
