"""Retinexformer (Cai et al., ICCV 2023), our own implementation of the published architecture, kept as the anchor
that the low-light nets are compared with (benchmarks and tables), not as a model of this library's own.

One stage: an illumination estimator (the image and its channel mean -> 1x1 conv, grouped 5x5 conv: the
illumination features; a 1x1 conv: the light-up map), the lit image `x * map + x`, and a U-shaped denoiser
of illumination-guided attention blocks (IG-MSA: attention over channels whose values are scaled by the
illumination features, plus a depth-wise positional branch; then a pre-norm conv feed-forward). The
illumination features go down the encoder through their own strided convs. n_feat 40, blocks [1, 2, 2]:
1.61M parameters.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers.base import depthwise_conv, to_tokens
from .llie import VIEWS, ChannelNorm, check_image, crop, pad_to_multiple, stretched_views
from .registry import ModelConfig, Unscriptable, register_model

torch.fx.wrap("check_image")   # a leaf of FX graphs: its checks of sizes run when the graph runs


class IlluminationEstimator(nn.Module):
    def __init__(self, width: int, in_chans: int = 3, views: int = 1) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.inp = nn.Conv2d(in_chans * views + 1, width, 1)
        self.spread = nn.Conv2d(width, width, 5, padding=2, groups=4)
        self.light = nn.Conv2d(width, 3, 1)

    def forward(self, img: Tensor) -> tuple[Tensor, Tensor]:
        """img (B, views * 3, H, W) -> illumination features (B, width, H, W), light-up map (B, 3, H, W)."""
        features = self.spread(self.inp(torch.cat([img, img[:, :self.in_chans].mean(1, keepdim=True)], dim=1)))
        return features, self.light(features)


class IlluminationGuidedAttention(nn.Module):
    """IG-MSA on (B, C, H, W) maps: per head a (d x d) softmax map from L2-normalised k and q across pixels,
    applied to values scaled by the illumination features; plus a depth-wise conv branch on the values."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = (nn.Linear(dim, dim, bias=False) for _ in range(3))
        self.rescale = nn.Parameter(torch.ones(heads, 1, 1))
        self.proj = nn.Linear(dim, dim)
        self.position = nn.Sequential(depthwise_conv(dim, 3, bias=False), nn.GELU(),
                                      depthwise_conv(dim, 3, bias=False))

    def forward(self, x: Tensor, light: Tensor) -> Tensor:
        b, c, h, w = x.shape
        tokens = to_tokens(x)                                                     # (B, HW, C)
        v_in = self.v(tokens)

        def heads(t: Tensor) -> Tensor:                                           # (B, HW, C) -> (B, heads, d, HW)
            return t.transpose(1, 2).reshape(b, self.heads, c // self.heads, h * w)
        q, k = F.normalize(heads(self.q(tokens)), dim=-1), F.normalize(heads(self.k(tokens)), dim=-1)
        v = heads(v_in) * heads(to_tokens(light))
        attn = ((k @ q.transpose(-2, -1)) * self.rescale).softmax(dim=-1)         # (B, heads, d, d)
        out = self.proj((attn @ v).reshape(b, c, h * w).transpose(1, 2))          # (B, HW, C)
        return out.transpose(1, 2).reshape(b, c, h, w) + self.position(v_in.transpose(1, 2).reshape(b, c, h, w))


class ConvFeedForward(nn.Module):
    """LayerNorm, 1x1 conv to 4 x, GELU, depth-wise 3x3, GELU, 1x1 back (no biases)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = ChannelNorm(dim)
        self.net = nn.Sequential(nn.Conv2d(dim, 4 * dim, 1, bias=False), nn.GELU(),
                                 depthwise_conv(4 * dim, 3, bias=False), nn.GELU(),
                                 nn.Conv2d(4 * dim, dim, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.norm(x))


class GuidedLevel(nn.Module):
    """`depth` blocks of IG-MSA then feed-forward, each residual."""

    def __init__(self, dim: int, heads: int, depth: int) -> None:
        super().__init__()
        self.attns = nn.ModuleList(IlluminationGuidedAttention(dim, heads) for _ in range(depth))
        self.ffns = nn.ModuleList(ConvFeedForward(dim) for _ in range(depth))

    def forward(self, x: Tensor, light: Tensor) -> Tensor:
        for attn, ffn in zip(self.attns, self.ffns):
            x = x + attn(x, light)
            x = x + ffn(x)
        return x


class Retinexformer(Unscriptable):
    """(B, 3, H, W) in [0, 1] -> enhanced (B, 3, H, W), any size (padded to a multiple of 4, cropped back).
    input_views: the illumination estimator also sees the image's stretched views (llie.stretched_views)."""

    def __init__(self, n_feat: int = 40, blocks: Sequence[int] = (1, 2, 2), in_chans: int = 3,
                 input_views: bool = False) -> None:
        super().__init__()
        widths = [n_feat, 2 * n_feat, 4 * n_feat]
        self.in_chans, self.input_views = in_chans, input_views
        self.estimator = IlluminationEstimator(n_feat, in_chans, VIEWS if input_views else 1)
        self.embed = nn.Conv2d(in_chans, n_feat, 3, padding=1, bias=False)
        self.encoders = nn.ModuleList(GuidedLevel(widths[i], widths[i] // n_feat, blocks[i]) for i in range(2))
        self.downs = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1, bias=False)
                                   for i in range(2))
        self.light_downs = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1, bias=False)
                                         for i in range(2))
        self.bottleneck = GuidedLevel(widths[2], widths[2] // n_feat, blocks[2])
        self.ups = nn.ModuleList(nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in range(2))
        self.fuse = nn.ModuleList(nn.Conv2d(widths[i + 1], widths[i], 1, bias=False) for i in range(2))
        self.decoders = nn.ModuleList(GuidedLevel(widths[i], widths[i] // n_feat, blocks[i]) for i in range(2))
        self.out = nn.Conv2d(n_feat, in_chans, 3, padding=1, bias=False)

    def forward(self, img: Tensor) -> Tensor:
        check_image(img, self.in_chans)
        h, w = img.shape[-2], img.shape[-1]
        img = pad_to_multiple(stretched_views(img) if self.input_views else img, 4)
        light, light_map = self.estimator(img)
        img = img[:, :self.in_chans]
        lit = img * light_map + img
        x, skips, lights = self.embed(lit), [], []
        for encoder, down, light_down in zip(self.encoders, self.downs, self.light_downs):
            x = encoder(x, light)
            skips.append(x)
            lights.append(light)
            x, light = down(x), light_down(light)
        x = self.bottleneck(x, light)
        for i in (1, 0):
            x = self.decoders[i](self.fuse[i](torch.cat([self.ups[i](x), skips[i]], dim=1)), lights[i])
        return crop(self.out(x) + lit, h, w)


default_cfgs = {"retinexformer": ModelConfig(task="enhance", in_chans=3, out_chans=3, img_size=128, stride=1,
                                             options={"in_chans": 3, "input_views": False})}


@register_model
def retinexformer(**kwargs: Any) -> Retinexformer:
    """Retinexformer (Cai et al., ICCV 2023) as published: 40 features, blocks (1, 2, 2), 1.61M parameters."""
    return Retinexformer(n_feat=40, blocks=(1, 2, 2), **kwargs)
