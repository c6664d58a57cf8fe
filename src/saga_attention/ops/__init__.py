"""Functional attention ops (no nn.Module here). Each op's folder holds a plain-PyTorch reference beside its
Triton kernels, their launchers and the public op; inputs.py and state.py are what they share."""
from .linear import linear_attention, linear_attention_reference
from .saga import (
                   FEATURE_MAPS,
                   saga_apply_state,
                   saga_attention,
                   saga_attention_materialized,
                   saga_attention_reference,
                   saga_state,
)

__all__ = [
    "FEATURE_MAPS",
    "linear_attention",
    "linear_attention_reference",
    "saga_attention",
    "saga_attention_materialized",
    "saga_attention_reference",
    "saga_apply_state",
    "saga_state",
]
