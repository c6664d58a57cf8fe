"""MALA, magnitude-aware linear attention (Fan et al., ICCV 2025): linear attention whose scores keep the
query's magnitude, as softmax's do, instead of dividing it away."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import DepthwiseConv, merge_heads
from .linear_attention import LinearAttentionBase


def mala_features(x: Tensor) -> Tensor:
    """MALA's feature map, elu(x) + 1 (positive), in fp32."""
    return F.elu(x.float()) + 1


def query_scores(q: Tensor, k: Tensor) -> Tensor:
    """s_i = q_i . mean_j(k_j) for features q (B, N, h, d), k (B, M, h, d): (B, N, h, 1)."""
    return torch.einsum("bnhd,bhd->bnh", q, k.mean(1)).unsqueeze(-1)


def mala_attention(q: Tensor, k: Tensor, v: Tensor, eps: float = 1e-6) -> Tensor:
    """Magnitude-aware linear attention on features q (B, N, h, d), k (B, M, h, d) and values v (B, M, h, e).

    With s_i = q_i . mean_j(k_j), the scores are a_ij = (1 + 1/s_i) (q_i . k_j) / M - s_i / M: they sum to 1 over
    j, and scaling q_i sharpens them. y_i = sum_j a_ij v_j = (1 + 1/s_i) q_i S - s_i mean_j(v_j), with
    S = mean_j k_j^T v_j. fp32 accumulation; returns (B, N, h, e) in fp32.
    """
    q, k, v = q.float(), k.float(), v.float()
    state = torch.einsum("bmhd,bmhe->bhde", k, v) / k.shape[1]                    # (B, h, d, e)
    s = query_scores(q, k)                                                          # (B, N, h, 1)
    return (1 + 1 / (s + eps)) * torch.einsum("bnhd,bhde->bnhe", q, state) - s * v.mean(1, keepdim=True)


class MALAAttention(LinearAttentionBase):
    """MALA attention layer: features elu + 1 of q and k, magnitude-aware scores (mala_attention), plus a
    depth-wise conv of v. The paper's vision models also rotate q and k (RoPE); no kind here carries a rotary
    embedding, so none is added."""

    def __init__(self, dim: int, num_heads: int, sr_ratio: int = 1, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0, eps: float = 1e-6,
                 dwc_kernel_size: int = 3) -> None:
        super().__init__(dim, num_heads, sr_ratio, qkv_bias, attn_drop, proj_drop, (dim, dim), eps)
        self.dwc = DepthwiseConv(dim, dwc_kernel_size)

    def features(self, q: Tensor, kv: list[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """phi(q) (B, N, h, d), phi(k) (B, M, h, d) in fp32, and v (B, M, h, d)."""
        return mala_features(self.split_heads(q)), mala_features(self.split_heads(kv[0])), self.split_heads(kv[1])

    def terms(self, q, kv, kv_tokens, kv_hw) -> tuple[Tensor, Tensor, Tensor]:
        """Q' = [beta_i phi(q_i), -gamma_i] (B, N, h, d+1), K' = [phi(k_j), 1] (B, M, h, d+1) and v: Q' K'^T is
        MALA's score matrix (rows summing to 1), K'^T V its state (S and the sum of v)."""
        phi_q, phi_k, v = self.features(q, kv)
        M = phi_k.shape[1]
        s = query_scores(phi_q, phi_k)                                              # (B, N, h, 1)
        q_aug = torch.cat([(1 + 1 / (s + self.eps)) * phi_q / M, -s / M], dim=-1)
        return q_aug, torch.cat([phi_k, torch.ones_like(phi_k[..., :1])], dim=-1), v

    def attend(self, q, kv, kv_tokens, H, W, kv_hw) -> Tensor:
        out = mala_attention(*self.features(q, kv), self.eps)
        return merge_heads(out).to(kv[1].dtype) + self.dwc(kv[1], kv_hw, (H, W))
