"""What every attention kind shares: projections, PVT spatial reduction, heads, output projection."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from ..ops.norm import layer_norm


def check_token_map(x: Tensor, dim: int, H: int, W: int) -> None:
    """ValueError unless x holds the (B, H*W, dim) tokens of an H x W map."""
    if x.dim() != 3 or x.shape[-1] != dim or x.shape[1] != H * W:
        raise ValueError(f"x must be (B, H*W, C) = (B, {H * W}, {dim}) for H={H}, W={W}; got {tuple(x.shape)}")


def check_reducible(H: int, W: int, sr_ratio: int) -> None:
    if H < sr_ratio or W < sr_ratio:
        raise ValueError(f"an {H}x{W} map is smaller than sr_ratio={sr_ratio}")


# Leaves of FX graphs: checks of sizes run when the graph runs; the ops pick their backend from the tensors.
torch.fx.wrap("check_token_map")
torch.fx.wrap("check_reducible")
torch.fx.wrap("layer_norm")


def to_tokens(x: Tensor) -> Tensor:
    """A map (B, C, H, W) -> its tokens (B, H*W, C)."""
    return x.flatten(2).transpose(1, 2)


def to_map(tokens: Tensor, hw: Sequence[int]) -> Tensor:
    """Tokens (B, H*W, C) -> the map (B, C, H, W) of hw = (H, W)."""
    return tokens.transpose(1, 2).unflatten(-1, (hw[0], hw[1]))


class LayerNorm(nn.LayerNorm):
    """nn.LayerNorm over the last dim; on CUDA the narrow-row kernel of ops/norm (aten's kernel gives each row its
    own thread block: 467 us for PVT-T's 4 x 102400 tokens of 64 channels on an H200), in training only on norms of
    >= ops.norm.TRAIN_MIN_ROWS rows. `backend` (an attribute, not state) is ops.norm.layer_norm's."""

    backend: str = "auto"

    def forward(self, x: Tensor) -> Tensor:
        return layer_norm(x, self.weight, self.bias, self.eps, backend=self.backend)


class AttentionBase(nn.Module):
    """Base of every attention kind; forward(x, H, W) with x (B, N, C), N = H * W.

    Queries come from every token. The key-side outputs (k, v and any gate logits, with
    widths `kv_widths`) come from the tokens reduced by a strided conv when sr_ratio > 1, as in
    PVT; with sr_ratio == 1 all projections are one fused Linear C -> C + sum(kv_widths).
    Subclasses implement `attend(q, kv, kv_tokens, H, W, kv_hw) -> (B, N, C)`.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        sr_ratio: int = 1,
        qkv_bias: bool = True,
        proj_drop: float = 0.0,
        kv_widths: Sequence[int] = (),
    ) -> None:
        super().__init__()
        if dim <= 0 or num_heads <= 0 or dim % num_heads:
            raise ValueError(f"dim must be a positive multiple of num_heads; got dim={dim}, num_heads={num_heads}")
        if not isinstance(sr_ratio, int) or sr_ratio < 1:
            raise ValueError(f"sr_ratio must be an integer >= 1; got {sr_ratio!r}")
        self.dim, self.num_heads, self.head_dim, self.sr_ratio = dim, num_heads, dim // num_heads, sr_ratio
        self.kv_widths = list(kv_widths)
        if sr_ratio > 1:
            self.q = nn.Linear(dim, dim, bias=qkv_bias)
            self.kv = nn.Linear(dim, sum(self.kv_widths), bias=qkv_bias)
            self.sr = nn.Conv2d(dim, dim, kernel_size=sr_ratio, stride=sr_ratio)
            self.norm = LayerNorm(dim, eps=1e-6)
        else:
            self.qkv = nn.Linear(dim, dim + sum(self.kv_widths), bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def split_heads(self, t: Tensor) -> Tensor:
        """(B, N, h * w) -> (B, N, h, w)."""
        return t.unflatten(-1, (self.num_heads, t.shape[-1] // self.num_heads))

    def key_tokens(self, x: Tensor, H: int, W: int) -> tuple[Tensor, tuple[int, int]]:
        """The tokens keys come from: x itself, or x reduced by sr_ratio. Returns (B, M, C), (Hr, Wr)."""
        if self.sr_ratio == 1:
            return x, (H, W)
        check_reducible(H, W, self.sr_ratio)
        reduced = self.sr(to_map(x, (H, W)))  # (B, C, Hr, Wr)
        hw = (reduced.shape[-2], reduced.shape[-1])
        return self.norm(to_tokens(reduced)), hw

    def project(self, x: Tensor, H: int, W: int) -> tuple[Tensor, list[Tensor], Tensor, tuple[int, int]]:
        """q (B, N, C), the key-side outputs [(B, M, w) for w in kv_widths], key tokens (B, M, C), (Hr, Wr)."""
        kv_tokens, kv_hw = self.key_tokens(x, H, W)
        if self.sr_ratio == 1:
            parts = self.qkv(x).split([self.dim, *self.kv_widths], dim=-1)
            q, kv = parts[0], [parts[1 + i] for i in range(len(self.kv_widths))]     # indexed: FX-traceable
        else:
            parts = self.kv(kv_tokens).split(self.kv_widths, dim=-1)
            q, kv = self.q(x), [parts[i] for i in range(len(self.kv_widths))]
        return q, kv, kv_tokens, kv_hw

    def attend(self, q: Tensor, kv: list[Tensor], kv_tokens: Tensor, H: int, W: int, kv_hw: tuple[int, int]) -> Tensor:
        raise NotImplementedError

    # Linear kinds keep a d x d state S = sum_j K_j^T V_j; softmax attention has none.
    has_state = True

    def terms(self, q: Tensor, kv: list[Tensor], kv_tokens: Tensor, kv_hw: tuple[int, int]) -> tuple[Tensor, ...]:
        """Q (B, N, h, d), K (B, M, h, d), V (B, M, h, dv) as the attention combines them (features and
        gates applied; for softmax, Q scaled): for analysis."""
        raise NotImplementedError

    def attention_terms(self, x: Tensor, H: int, W: int) -> tuple[Tensor, Tensor, Tensor]:
        """Q, K, V of `terms` for tokens x (B, N, C), each (B, h, tokens, width), in fp32."""
        q, kv, kv_tokens, kv_hw = self.project(x, H, W)
        return tuple(t.float().transpose(1, 2) for t in self.terms(q, kv, kv_tokens, kv_hw))

    def init_weights(self) -> None:
        """Kind-specific initialisation, run by models after their generic one (default: nothing)."""

    def check_tokens(self, x: Tensor, H: int, W: int) -> None:
        check_token_map(x, self.dim, H, W)

    def forward(self, x: Tensor, H: int, W: int) -> Tensor:
        """x: (B, N, C) tokens of an H x W map -> (B, N, C)."""
        self.check_tokens(x, H, W)
        q, kv, kv_tokens, kv_hw = self.project(x, H, W)
        return self.proj_drop(self.proj(self.attend(q, kv, kv_tokens, H, W, kv_hw)))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, sr_ratio={self.sr_ratio}"


def depthwise_conv(channels: int, kernel_size: int, bias: bool = True) -> nn.Conv2d:
    """A depth-wise k x k conv (same padding). aten's depth-wise conv backward gives the weight gradient
    stride 1 on the size-1 input-channel dim; the weight gets that layout too, so DDP's gradient buckets
    match it (no "grad strides" warning, no copy per step)."""
    conv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, groups=channels, bias=bias)
    weight = conv.weight.detach()
    conv.weight = nn.Parameter(torch.empty_strided(weight.shape, (kernel_size ** 2, 1, kernel_size, 1),
                                                   dtype=weight.dtype).copy_(weight))
    return conv


class DepthwiseConv(nn.Module):
    """Depth-wise k x k conv over tokens laid out as a map; the local branch added to linear attention."""

    def __init__(self, dim: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = depthwise_conv(dim, kernel_size)

    def forward(self, tokens: Tensor, hw: tuple[int, int], out_hw: tuple[int, int] | None = None) -> Tensor:
        """tokens (B, M, C) of an hw map -> (B, N, C) of the out_hw map (upsampled when the maps differ)."""
        fmap = self.conv(to_map(tokens, hw))  # (B, C, h, w)
        if out_hw is not None and tuple(out_hw) != tuple(hw):
            fmap = nn.functional.interpolate(fmap, size=out_hw, mode="bilinear", align_corners=False)
        return to_tokens(fmap)


def merge_heads(t: Tensor) -> Tensor:
    """(B, N, h, d) -> (B, N, h * d)."""
    return t.flatten(-2)

