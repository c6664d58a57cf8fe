"""Attention layers behind one interface, forward(x, H, W), and the blocks models are built from."""
from .base import AttentionBase, DepthwiseConv, LayerNorm
from .blocks import Block, DropPath, Mlp, PatchEmbed
from .build import ATTENTION_KINDS, build_attention
from .linear_attention import FocusedLinearAttention, LinearAttention
from .saga_attention import SAGAAttention
from .softmax_attention import SoftmaxAttention

__all__ = [
    "ATTENTION_KINDS",
    "AttentionBase",
    "Block",
    "DepthwiseConv",
    "DropPath",
    "FocusedLinearAttention",
    "LayerNorm",
    "LinearAttention",
    "Mlp",
    "PatchEmbed",
    "SAGAAttention",
    "SoftmaxAttention",
    "build_attention",
]
