"""The transformer MLP with its LayerNorm as one op, and the GELU gate of a gated feed-forward:

    reference.py  plain PyTorch
    kernels.py    the Triton kernels and their launchers (the fused MLP with its custom op and autograd)
    op.py         the public ops: checks, then dispatch
"""
from .op import MAX_GATE_WIDTH, MAX_WIDTH, gelu_gate, gelu_gate_backend, norm_mlp
from .reference import norm_mlp_reference

__all__ = ["MAX_GATE_WIDTH", "MAX_WIDTH", "gelu_gate", "gelu_gate_backend", "norm_mlp", "norm_mlp_reference"]
