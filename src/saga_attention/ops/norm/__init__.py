"""LayerNorm over the last dim for narrow rows (a pixel's channels):

    kernels.py    the Triton kernel, forward and backward, with its launchers and autograd
    op.py         the public op: checks, then dispatch (PyTorch's F.layer_norm otherwise)
"""
from .op import MAX_WIDTH, TRAIN_MIN_ROWS, layer_norm

__all__ = ["MAX_WIDTH", "TRAIN_MIN_ROWS", "layer_norm"]
