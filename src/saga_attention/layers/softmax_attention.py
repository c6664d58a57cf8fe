"""PVT's spatial-reduction softmax attention (PVT v1), with a fused or an explicit kernel."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import AttentionBase, DepthwiseConv, merge_heads

SOFTMAX_IMPLS = ("sdpa", "math")


class SoftmaxAttention(AttentionBase):
    """softmax(q k^T / sqrt(d)) v over spatially reduced keys.

    impl "sdpa": torch's scaled_dot_product_attention (FlashAttention / memory-efficient kernels
    where available); impl "math": the explicit N x M attention matrix, as PVT wrote it.
    dwc_kernel_size k > 0 adds the local branch the linear kinds carry, a depth-wise k x k conv of v
    (upsampled to the query map when keys are reduced); 0, PVT's own, has none.
    """

    def __init__(self, dim: int, num_heads: int, sr_ratio: int = 1, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0, impl: str = "sdpa",
                 dwc_kernel_size: int = 0) -> None:
        super().__init__(dim, num_heads, sr_ratio, qkv_bias, proj_drop, kv_widths=(dim, dim))
        if impl not in SOFTMAX_IMPLS:
            raise ValueError(f"impl must be one of {SOFTMAX_IMPLS}; got {impl!r}")
        if isinstance(dwc_kernel_size, bool) or not isinstance(dwc_kernel_size, int) or dwc_kernel_size < 0 \
                or dwc_kernel_size % 2 == 0 and dwc_kernel_size:
            raise ValueError(f"dwc_kernel_size must be 0 (no local branch) or an odd kernel size; got "
                             f"{dwc_kernel_size!r}")
        self.impl, self.attn_drop = impl, attn_drop
        self.scale = self.head_dim**-0.5
        self.dwc = DepthwiseConv(dim, dwc_kernel_size) if dwc_kernel_size else None

    def attend(self, q, kv, kv_tokens, H, W, kv_hw) -> Tensor:
        q, k, v = (self.split_heads(t).transpose(1, 2) for t in (q, *kv))  # (B, h, N|M, d)
        drop = self.attn_drop if self.training else 0.0
        if self.impl == "sdpa":
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        else:
            attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # (B, h, N, M)
            out = F.dropout(attn, drop) @ v
        out = merge_heads(out.transpose(1, 2))  # (B, N, C)
        return out if self.dwc is None else out + self.dwc(kv[1], kv_hw, (H, W))

    has_state = False

    def terms(self, q, kv, kv_tokens, kv_hw) -> tuple[Tensor, Tensor, Tensor]:
        return self.split_heads(q) * self.scale, self.split_heads(kv[0]), self.split_heads(kv[1])

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, impl={self.impl}" + (", local branch" if self.dwc is not None else "")
