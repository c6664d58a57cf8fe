"""Linear attention kinds: plain ReLU linear attention and FLatten's focused linear attention."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..ops.linear import linear_attention
from ..ops.saga import saga_apply_state, saga_attention, saga_state
from ..ops.state import state_over_bands
from .base import AttentionBase, DepthwiseConv, merge_heads

torch.fx.wrap("linear_attention")   # leaves of FX graphs: they pick their backend from the tensors they get
torch.fx.wrap("saga_attention")


class LinearAttentionBase(AttentionBase):
    """Shared by the linear kinds: eps, no attention matrix (so no attention dropout), and, for the kinds whose
    state has saga_state's form, inference in bands of rows (`band_rows` > 0): the state summed over the bands,
    then each band's output from its rows and a halo. That is forward()'s result up to float rounding, without the
    fused projection of the whole map (5C values per token for SAGA) in memory at once."""

    def __init__(self, dim: int, num_heads: int, sr_ratio: int, qkv_bias: bool, attn_drop: float,
                 proj_drop: float, kv_widths, eps: float, band_rows: int = 0) -> None:
        if attn_drop > 0:
            raise ValueError("attn_drop applies to softmax attention only (linear kinds have no attention "
                             f"matrix); got {attn_drop}")
        if isinstance(band_rows, bool) or not isinstance(band_rows, int) or band_rows < 0:
            raise ValueError(f"band_rows must be a whole number >= 0 (0: the whole map at once); got {band_rows!r}")
        super().__init__(dim, num_heads, sr_ratio, qkv_bias, proj_drop, kv_widths=kv_widths)
        self.eps, self.band_rows = eps, band_rows

    def forward(self, x: Tensor, H: int, W: int) -> Tensor:
        """x: (B, N, C) tokens of an H x W map -> (B, N, C); in bands of `band_rows` rows in inference."""
        if self.band_rows and H > self.band_rows and not torch.is_grad_enabled():
            self.check_tokens(x, H, W)
            return self.forward_in_bands(x, H, W)
        return super().forward(x, H, W)

    def forward_in_bands(self, x: Tensor, H: int, W: int) -> Tensor:
        """forward() of tokens x (B, H*W, C) in bands of `band_rows` rows. Inference only."""
        rows, band = x.unflatten(1, (H, W)), self.band_rows                     # (B, H, W, C)
        state = state_over_bands(lambda a, b: self.kv_state(rows[:, a:b].flatten(1, 2)), H, band)
        weight, _ = self.local_conv()
        halo = 0 if weight is None else weight.shape[-2] // 2                    # the local conv's reach
        out = torch.empty_like(x)
        for a in range(0, H, band):
            b = min(a + band, H)
            lo, hi = max(0, a - halo), min(H, b + halo)
            part = self.attend_state(rows[:, lo:hi].flatten(1, 2), hi - lo, W, state)
            out[:, a * W:b * W] = part[:, (a - lo) * W:(b - lo) * W]
        return out

    # Inference in parts (a map in bands of rows), for the kinds whose state has saga_state's form.
    feature_map, normalizer, backend = "relu", "gated", "auto"

    def state_inputs(self, kv: list[Tensor]) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """k, v, g_k, g_v (B, N, h, d) of the key-side projections, as saga_state takes them."""
        raise ValueError(f"{type(self).__name__} cannot run in parts: its state is not of saga_state's form")

    def local_conv(self) -> tuple[Tensor | None, Tensor | None]:
        """The depth-wise conv of v added to the output (weight, bias), or (None, None)."""
        return None, None

    def check_parts(self) -> None:
        if self.sr_ratio != 1:
            raise ValueError(f"only attention with sr_ratio=1 runs in parts; got sr_ratio={self.sr_ratio}")

    def project_rows(self, x: Tensor, start: int, width: int) -> Tensor:
        """Outputs start ... start + width - 1 of the fused projection of tokens x (B, n, C): (B, n, width)."""
        bias = None if self.qkv.bias is None else self.qkv.bias[start:start + width]
        return F.linear(x, self.qkv.weight[start:start + width], bias)

    def kv_state(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The attention state of tokens x (B, n, C), any set of the map's tokens: S (B, h, d, dv) and z (B, h, d)
        in fp32. States of disjoint sets add up to the state of their union. Inference only."""
        self.check_parts()
        kv = self.project_rows(x, self.dim, sum(self.kv_widths)).split(self.kv_widths, dim=-1)   # no queries
        return saga_state(*self.state_inputs(list(kv)), self.feature_map, self.normalizer, self.backend)

    def attend_state(self, x: Tensor, H: int, W: int, state: tuple[Tensor, Tensor]) -> Tensor:
        """The layer on tokens x (B, H*W, C) of an H x W part of the map (a band of whole rows), given the whole
        map's state: forward() of the whole map at these tokens, but near the part's cut edges (the local conv
        sees zeros there: give the part a halo of rows). Only the queries, and the values where a local conv
        reads them, are projected (kv_widths[1] is v's). Inference only."""
        self.check_parts()
        q = self.project_rows(x, 0, self.dim)
        weight, bias = self.local_conv()
        v = None if weight is None else self.split_heads(self.project_rows(x, self.dim + self.kv_widths[0],
                                                                           self.kv_widths[1]))
        out = saga_apply_state(self.split_heads(q), *state, self.feature_map, self.eps, self.backend, v, weight,
                               bias, (H, W) if weight is not None else None)
        return self.proj_drop(self.proj(merge_heads(out)))


class LinearAttention(LinearAttentionBase):
    """Plain linear attention with ReLU features: y_i = relu(q_i) S / (relu(q_i) . z + eps)."""

    def __init__(self, dim: int, num_heads: int, sr_ratio: int = 1, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0, eps: float = 1e-6, band_rows: int = 0) -> None:
        super().__init__(dim, num_heads, sr_ratio, qkv_bias, attn_drop, proj_drop, (dim, dim), eps, band_rows)
        if band_rows:
            self.check_parts()

    def terms(self, q, kv, kv_tokens, kv_hw) -> tuple[Tensor, Tensor, Tensor]:
        return F.relu(self.split_heads(q)), F.relu(self.split_heads(kv[0])), self.split_heads(kv[1])

    def state_inputs(self, kv):
        return self.split_heads(kv[0]), self.split_heads(kv[1]), None, None

    def attend(self, q, kv, kv_tokens, H, W, kv_hw) -> Tensor:
        # SAGA with its gates off: relu features, applied inside the op
        out = saga_attention(self.split_heads(q), *self.state_inputs(kv), self.feature_map, self.eps)
        return merge_heads(out)


def focus(x: Tensor, power: float) -> Tensor:
    """FLatten's focusing function: raise non-negative features to `power`, keeping each token's norm."""
    norm = x.norm(dim=-1, keepdim=True)
    focused = x**power
    return focused / focused.norm(dim=-1, keepdim=True) * norm


class FocusedLinearAttention(LinearAttentionBase):
    """FLatten's focused linear attention (Han et al., ICCV 2023).

    Features relu(x) + 1e-6, divided by a learnable softplus scale per channel, then focused
    (power `focusing_factor`, norm preserved) over all C channels; plus a depth-wise conv on v.
    The focusing runs in fp32: x**3 overflows fp16.
    """

    def __init__(self, dim: int, num_heads: int, sr_ratio: int = 1, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0, eps: float = 1e-6,
                 focusing_factor: float = 3.0, dwc_kernel_size: int = 5) -> None:
        super().__init__(dim, num_heads, sr_ratio, qkv_bias, attn_drop, proj_drop, (dim, dim), eps)
        self.focusing_factor = focusing_factor
        self.scale = nn.Parameter(torch.zeros(dim))
        self.dwc = DepthwiseConv(dim, dwc_kernel_size)

    def features(self, x: Tensor) -> Tensor:
        """(B, N, C) projections -> (B, N, h, d) focused fp32 features."""
        x = (F.relu(x.float()) + 1e-6) / F.softplus(self.scale.float())
        return self.split_heads(focus(x, self.focusing_factor))

    def terms(self, q, kv, kv_tokens, kv_hw) -> tuple[Tensor, Tensor, Tensor]:
        return self.features(q), self.features(kv[0]), self.split_heads(kv[1])

    def attend(self, q, kv, kv_tokens, H, W, kv_hw) -> Tensor:
        k, v = kv
        out = merge_heads(linear_attention(self.features(q), self.features(k), self.split_heads(v.float()), self.eps))
        return out.to(v.dtype) + self.dwc(v, kv_hw, (H, W))
