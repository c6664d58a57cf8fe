"""Agent attention (Han et al., ECCV 2024): a few agent tokens, pooled from the queries, gather from the keys by
softmax attention and broadcast back to every query by a second softmax attention. Linear in the tokens for a
fixed number of agents."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import AttentionBase, DepthwiseConv, merge_heads

BIAS_GRID = 7       # the agent position biases are learned on a 7 x 7 grid and resized to each map


def agent_tokens(q: Tensor, hw: tuple[int, int], side: int) -> Tensor:
    """Queries (B, N, h, d) of an hw map, average-pooled to side x side agents: (B, side*side, h, d)."""
    B, N, h, d = q.shape
    grid = q.flatten(2).transpose(1, 2).unflatten(-1, tuple(hw))          # (B, h*d, H, W)
    return F.adaptive_avg_pool2d(grid, side).flatten(2).transpose(1, 2).unflatten(-1, (h, d))


class AgentAttention(AttentionBase):
    """Agent attention: agents A (B, n, h, d) are the queries average-pooled to a sqrt(n) x sqrt(n) grid;
    V_A = softmax(A K^T / sqrt(d) + B_k) V (agent aggregation), y = softmax(Q A^T / sqrt(d) + B_q) V_A (agent
    broadcast), plus a depth-wise conv of v. B_k (h, n, Hk, Wk) and B_q (h, N, n) are position biases learned on
    a 7 x 7 grid and resized bilinearly to the key and query maps (the paper's code adds row and column biases
    tied to the 224-px grid; these are left out, so any input size works alike).

    agent_num: a perfect square (the paper's PVT uses 9, 16, 49, 49 over the four stages).
    """

    has_state = True        # V_A is an n x d state: y = P_q V_A with P_q the broadcast weights

    def __init__(self, dim: int, num_heads: int, sr_ratio: int = 1, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0, agent_num: int = 49,
                 dwc_kernel_size: int = 3) -> None:
        side = math.isqrt(agent_num) if isinstance(agent_num, int) and agent_num > 0 else 0
        if isinstance(agent_num, bool) or side == 0 or side * side != agent_num:
            raise ValueError(f"agent_num must be a perfect square (the agents are pooled to a square grid), "
                             f"e.g. 9, 16 or 49; got {agent_num!r}")
        if not 0 <= attn_drop < 1:
            raise ValueError(f"attn_drop must be in [0, 1); got {attn_drop}")
        super().__init__(dim, num_heads, sr_ratio, qkv_bias, proj_drop, kv_widths=(dim, dim))
        self.agent_num, self.side, self.attn_drop = agent_num, side, attn_drop
        self.key_bias = nn.Parameter(torch.zeros(num_heads, agent_num, BIAS_GRID, BIAS_GRID))
        self.query_bias = nn.Parameter(torch.zeros(num_heads, agent_num, BIAS_GRID, BIAS_GRID))
        self.dwc = DepthwiseConv(dim, dwc_kernel_size)

    def init_weights(self) -> None:
        nn.init.trunc_normal_(self.key_bias, std=0.02)
        nn.init.trunc_normal_(self.query_bias, std=0.02)

    def biases(self, hw: tuple[int, int], kv_hw: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """B_k (1, h, n, M) and B_q (1, h, N, n), resized to the key and query maps."""
        key = F.interpolate(self.key_bias, size=kv_hw, mode="bilinear", align_corners=False).flatten(2)
        query = F.interpolate(self.query_bias, size=hw, mode="bilinear", align_corners=False).flatten(2)
        return key[None], query.transpose(1, 2)[None]

    def weights(self, q: Tensor, k: Tensor, hw: tuple[int, int], kv_hw: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """The two attention maps of heads q (B, N, h, d), k (B, M, h, d): P_a (B, h, n, M), P_q (B, h, N, n)."""
        agents = agent_tokens(q, hw, self.side).transpose(1, 2)               # (B, h, n, d)
        key_bias, query_bias = self.biases(hw, kv_hw)
        scale = self.head_dim ** -0.5
        p_a = ((agents * scale) @ k.transpose(1, 2).transpose(-2, -1) + key_bias).softmax(-1)
        p_q = ((q.transpose(1, 2) * scale) @ agents.transpose(-2, -1) + query_bias).softmax(-1)
        return p_a, p_q

    def attend(self, q, kv, kv_tokens, H, W, kv_hw) -> Tensor:
        q, k, v = (self.split_heads(t) for t in (q, *kv))                       # (B, N|M, h, d)
        agents = agent_tokens(q, (H, W), self.side).transpose(1, 2)           # (B, h, n, d)
        key_bias, query_bias = self.biases((H, W), kv_hw)
        drop = self.attn_drop if self.training else 0.0
        dtype = q.dtype
        agent_v = F.scaled_dot_product_attention(agents, k.transpose(1, 2), v.transpose(1, 2),
                                                 attn_mask=key_bias.to(dtype), dropout_p=drop)   # (B, h, n, d)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), agents, agent_v, attn_mask=query_bias.to(dtype),
                                             dropout_p=drop)                   # (B, h, N, d)
        return merge_heads(out.transpose(1, 2)) + self.dwc(kv[1], kv_hw, (H, W))

    def attention_terms(self, x: Tensor, H: int, W: int) -> tuple[Tensor, Tensor, Tensor]:
        """P_q (B, h, N, n), P_a^T (B, h, M, n) and v (B, h, M, d) in fp32: y = P_q (P_a V), whose state P_a V
        has n rows."""
        q, kv, _, kv_hw = self.project(x, H, W)
        p_a, p_q = self.weights(self.split_heads(q), self.split_heads(kv[0]), (H, W), kv_hw)
        return p_q.float(), p_a.transpose(-2, -1).float(), self.split_heads(kv[1]).float().transpose(1, 2)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, agent_num={self.agent_num}"
