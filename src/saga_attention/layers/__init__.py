"""Attention layers behind one interface, forward(x, H, W), and the blocks models are built from."""
from .agent_attention import AgentAttention
from .base import AttentionBase, DepthwiseConv, LayerNorm
from .blocks import Block, DropPath, Mlp, PatchEmbed
from .build import ATTENTION_KINDS, build_attention
from .linear_attention import FocusedLinearAttention, LinearAttention
from .mala_attention import MALAAttention
from .saga_attention import SAGAAttention
from .softmax_attention import SoftmaxAttention

__all__ = [
    "ATTENTION_KINDS",
    "AgentAttention",
    "AttentionBase",
    "Block",
    "DepthwiseConv",
    "DropPath",
    "FocusedLinearAttention",
    "LayerNorm",
    "LinearAttention",
    "MALAAttention",
    "Mlp",
    "PatchEmbed",
    "SAGAAttention",
    "SoftmaxAttention",
    "build_attention",
]
