"""Transformer building blocks: patch embedding, MLP, drop path, and the pre-norm block."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..ops.inputs import BACKENDS, check_choice
from ..ops.mlp import norm_mlp
from .base import LayerNorm, to_tokens
from .build import build_attention

torch.fx.wrap("norm_mlp")   # a leaf of FX graphs: it picks its backend from the tensors it gets


class PatchEmbed(nn.Module):
    """Non-overlapping patches: (B, Cin, H, W) -> tokens (B, H/p * W/p, C) and the map size."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = LayerNorm(embed_dim, eps=1e-6)

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        x = self.proj(x)  # (B, C, H/p, W/p)
        hw = (x.shape[-2], x.shape[-1])
        return self.norm(to_tokens(x)), hw


class Mlp(nn.Module):
    """Linear -> GELU -> Linear, with dropout."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample with probability p."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x)); tokens (B, N, C).

    The second half runs as one op (`ops.mlp.norm_mlp`, backend `mlp_backend`): on CUDA without autograd
    one fused kernel, so the (N x hidden) activation is never in memory, whatever the attention kind.
    fused=False (an attribute) runs it as the plain modules instead.
    """

    fused: bool = True

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, attn_kind: str, sr_ratio: int = 1,
                 drop: float = 0.0, drop_path: float = 0.0, mlp_backend: str = "auto", **attn_kwargs: Any) -> None:
        super().__init__()
        check_choice("mlp_backend", mlp_backend, BACKENDS)
        self.mlp_backend = mlp_backend
        self.norm1 = LayerNorm(dim, eps=1e-6)
        self.attn = build_attention(attn_kind, dim, num_heads, sr_ratio, proj_drop=drop, **attn_kwargs)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def forward(self, x: Tensor, H: int, W: int) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), H, W))
        return x + self.drop_path(self.mlp_branch(x))

    def mlp_branch(self, x: Tensor) -> Tensor:
        """mlp(norm2(x)) for tokens (B, N, C); dropout inside the MLP needs the unfused modules."""
        if not self.fused or (self.training and self.mlp.drop.p > 0):
            return self.mlp(self.norm2(x))
        norm, fc1, fc2 = self.norm2, self.mlp.fc1, self.mlp.fc2
        return norm_mlp(x, norm.weight, norm.bias, norm.eps, fc1.weight, fc1.bias, fc2.weight, fc2.bias,
                        self.mlp_backend)
