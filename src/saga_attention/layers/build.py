"""One constructor for every attention kind."""
from __future__ import annotations

from typing import Any

from .agent_attention import AgentAttention
from .base import AttentionBase
from .linear_attention import FocusedLinearAttention, LinearAttention
from .mala_attention import MALAAttention
from .saga_attention import SAGAAttention
from .softmax_attention import SoftmaxAttention

ATTENTION_KINDS: dict[str, type[AttentionBase]] = {
    "softmax": SoftmaxAttention,
    "linear": LinearAttention,
    "focused": FocusedLinearAttention,
    "agent": AgentAttention,
    "mala": MALAAttention,
    "saga": SAGAAttention,
}


def build_attention(kind: str, dim: int, num_heads: int, sr_ratio: int = 1, **kwargs: Any) -> AttentionBase:
    """An attention layer of `kind` (one of ATTENTION_KINDS); kwargs go to that kind's class."""
    if kind not in ATTENTION_KINDS:
        raise ValueError(f"attention kind must be one of {tuple(ATTENTION_KINDS)}; got {kind!r}")
    return ATTENTION_KINDS[kind](dim, num_heads, sr_ratio=sr_ratio, **kwargs)
