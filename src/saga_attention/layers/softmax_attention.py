"""PVT's spatial-reduction softmax attention (PVT v1), with a fused or an explicit kernel."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import AttentionBase, merge_heads

SOFTMAX_IMPLS = ("sdpa", "math")


class SoftmaxAttention(AttentionBase):
    """softmax(q k^T / sqrt(d)) v over spatially reduced keys.

    impl "sdpa": torch's scaled_dot_product_attention (FlashAttention / memory-efficient kernels
    where available); impl "math": the explicit N x M attention matrix, as PVT wrote it.
    """

    def __init__(self, dim: int, num_heads: int, sr_ratio: int = 1, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0, impl: str = "sdpa") -> None:
        super().__init__(dim, num_heads, sr_ratio, qkv_bias, proj_drop, kv_widths=(dim, dim))
        if impl not in SOFTMAX_IMPLS:
            raise ValueError(f"impl must be one of {SOFTMAX_IMPLS}; got {impl!r}")
        self.impl, self.attn_drop = impl, attn_drop
        self.scale = self.head_dim**-0.5

    def attend(self, q, kv, kv_tokens, H, W, kv_hw) -> Tensor:
        k, v = kv
        q, k, v = (self.split_heads(t).transpose(1, 2) for t in (q, k, v))  # (B, h, N|M, d)
        drop = self.attn_drop if self.training else 0.0
        if self.impl == "sdpa":
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        else:
            attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # (B, h, N, M)
            out = F.dropout(attn, drop) @ v
        return merge_heads(out.transpose(1, 2))  # (B, N, C)

    has_state = False

    def terms(self, q, kv, kv_tokens, kv_hw) -> tuple[Tensor, Tensor, Tensor]:
        return self.split_heads(q) * self.scale, self.split_heads(kv[0]), self.split_heads(kv[1])

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, impl={self.impl}"
