"""SAGA attention, laid out as flash-linear-attention lays out an op:

    reference.py  plain PyTorch (fp32 internals), and the materialized form that builds every d x d gate
    local.py      the local branch: a depth-wise conv of v, and its gradients
    kernels.py    the fused Triton kernels, forward and backward
    launch.py     their launchers, the custom op (torch.compile) and the autograd around them
    op.py         the public op: checks, then dispatch to PyTorch or Triton
"""
from .op import MAX_HEAD_DIM, saga_apply_state, saga_attention, saga_state, triton_unsupported_reason, use_triton
from .reference import FEATURE_MAPS, saga_attention_materialized, saga_attention_reference

__all__ = [
    "FEATURE_MAPS",
    "MAX_HEAD_DIM",
    "saga_apply_state",
    "saga_attention",
    "saga_attention_materialized",
    "saga_attention_reference",
    "saga_state",
    "triton_unsupported_reason",
    "use_triton",
]
