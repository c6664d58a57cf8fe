"""A U-shaped restoration transformer for low-light image enhancement, with any token mixer.

Restormer / Retinexformer family: a 3x3 conv stem, three levels of transformer blocks (token mixer and
gated-conv feed-forward, each after a LayerNorm over channels), strided-conv down and pixel-shuffle up,
skip connections, and a residual output `out = x + f(x)` (with input views, `out = blend of the views + f(x)`).
The mixer is SAGA by default; `mixer` picks another for comparisons: "channel" (MDTA / IG-MSA, attention over
channels, linear in pixels), "window" (8x8 window softmax), "global" (softmax over all pixels, SDPA), "linear",
"focused", "mala" (MALA). Inputs of any size are replicate-padded to the net's multiple and cropped back. The
feed-forward width of each variant is set so that every variant has SAGA's parameter count within 5%.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.darkening import gamma_to_mid_gray, linear_to_srgb, srgb_to_linear
from ..layers import build_attention
from ..layers.base import LayerNorm, depthwise_conv, to_map, to_tokens
from ..ops.mlp import gelu_gate, gelu_gate_backend
from .llie_bands import Progress, forward_in_bands
from .registry import ModelConfig, Unscriptable, register_model

MIXERS = ("saga", "channel", "window", "global", "linear", "focused", "mala")
BANDED_MIXERS = ("saga", "linear")  # their state sums over tokens in saga_state's form
WINDOW = 8
MAX_WINDOWS = 16384      # windows per attention call (a CUDA grid dimension is at most 65535 blocks)
VIEWS = 4                # the image and its three brightened copies (stretched_views)


class PointwiseConv(nn.Conv2d):
    """A 1x1 conv. On a channels-last map it runs as a matrix product over the (pixels, C) rows, whose bias
    cuBLAS adds in the product (cuDNN's 1x1 conv added it in a separate strided pass over the map)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return pointwise_conv(x, self.weight, self.bias)


def pointwise_conv(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """A 1x1 conv of (B, Cin, H, W) with weight (Cout, Cin, 1, 1): a matrix product on channels-last maps."""
    if not x.is_contiguous(memory_format=torch.channels_last):
        return F.conv2d(x, weight, bias)
    return F.linear(x.permute(0, 2, 3, 1), weight.flatten(1), bias).permute(0, 3, 1, 2)


class PixelShuffle(nn.PixelShuffle):
    """nn.PixelShuffle that keeps a channels-last map channels-last. CUDA's kernel returns it contiguous, and the
    decoder's blocks then added channels-last branches to a contiguous map through PyTorch's strided element-wise
    path (15.6 ms of an 80.6 ms pass at 2160x2160 on an H200)."""

    def forward(self, x: Tensor) -> Tensor:
        return pixel_shuffle(x, self.upscale_factor)


def pixel_shuffle(x: Tensor, r: int) -> Tensor:
    """F.pixel_shuffle of (B, C, h, w) -> (B, C / r^2, h r, w r), channels-last in and out."""
    if x.is_contiguous() or not x.is_contiguous(memory_format=torch.channels_last):
        return F.pixel_shuffle(x, r)
    b, c, h, w = x.shape
    pixels = x.permute(0, 2, 3, 1).unflatten(-1, (c // r ** 2, r, r))  # (B, h, w, C, r, r)
    return pixels.permute(0, 1, 4, 2, 5, 3).reshape(b, h * r, w * r, c // r ** 2).permute(0, 3, 1, 2)


class ChannelNorm(LayerNorm):
    """layers.LayerNorm over the channels of a (B, C, H, W) map (in place for channels-last maps)."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ChannelAttention(nn.Module):
    """Attention over channels (Restormer's MDTA): per head a (d x d) map from L2-normalised q and k across pixels,
    with a learned temperature; q, k, v from a 1x1 then a depth-wise 3x3 conv. Linear in pixels."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = PointwiseConv(dim, 3 * dim)
        self.qkv_dw = depthwise_conv(3 * dim, 3)
        self.proj = PointwiseConv(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv_dw(self.qkv(x)).reshape(b, 3, self.num_heads, c // self.num_heads, h * w)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]                                 # (B, heads, d, HW)
        attn = (F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)) * self.temperature
        return self.proj((attn.softmax(dim=-1) @ v).reshape(b, c, h, w))


class WindowAttention(nn.Module):
    """Softmax attention inside non-overlapping 8x8 windows (SwinIR / Uformer style, no shift)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        win = x.reshape(b, c, h // WINDOW, WINDOW, w // WINDOW, WINDOW).permute(0, 2, 4, 3, 5, 1)
        win = win.reshape(-1, WINDOW * WINDOW, c)                                     # (B*nW, 64, C)
        out = self.attend(win)
        out = out.reshape(b, h // WINDOW, w // WINDOW, WINDOW, WINDOW, c).permute(0, 5, 1, 3, 2, 4)
        return out.reshape(b, c, h, w)

    def attend(self, win: Tensor) -> Tensor:
        """(n, 64, C) windows -> (n, 64, C)."""
        q, k, v = self.qkv(win).unflatten(-1, (3, self.num_heads, -1)).permute(2, 0, 3, 1, 4)
        return self.proj(windowed_attention(q, k, v).transpose(1, 2).flatten(2))


def windowed_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Softmax attention of (n, h, 64, d) windows, MAX_WINDOWS at a time (CUDA grids cap the batch)."""
    return torch.cat([F.scaled_dot_product_attention(*qkv)
                      for qkv in zip(q.split(MAX_WINDOWS), k.split(MAX_WINDOWS), v.split(MAX_WINDOWS))])


class TokenMixer(nn.Module):
    """A map-to-map wrapper around an attention kind of layers/ (forward(x, H, W) on tokens)."""

    def __init__(self, kind: str, dim: int, num_heads: int, **options: Any) -> None:
        super().__init__()
        self.attn = build_attention(kind, dim, num_heads, sr_ratio=1, **options)

    def forward(self, x: Tensor) -> Tensor:
        return to_map(self.attn(to_tokens(x), x.shape[-2], x.shape[-1]), x.shape[-2:])

    def state(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The attention state of a band (B, C, h, W) of the map; bands' states add up to the map's."""
        return self.attn.kv_state(to_tokens(x))

    def forward_state(self, x: Tensor, state: tuple[Tensor, Tensor]) -> Tensor:
        """forward() of a band (B, C, h, W) given the whole map's state (exact away from the band's cut edges)."""
        return to_map(self.attn.attend_state(to_tokens(x), *x.shape[-2:], state), x.shape[-2:])

    def halo(self) -> int:
        """Rows around a band that its output depends on (the local conv's reach)."""
        weight, _ = self.attn.local_conv()
        return 0 if weight is None else weight.shape[-1] // 2


def build_mixer(mixer: str, dim: int, num_heads: int, options: dict[str, Any]) -> nn.Module:
    if mixer == "channel":
        return ChannelAttention(dim, num_heads)
    if mixer == "window":
        return WindowAttention(dim, num_heads)
    kind = {"global": "softmax"}.get(mixer, mixer)
    return TokenMixer(kind, dim, num_heads, **(options if mixer == "saga" else {}))


class GatedFeedForward(nn.Module):
    """1x1 conv to 2 x hidden, depth-wise 3x3, GELU gate, 1x1 back (Restormer's GDFN). The gate reads each pixel's
    2 x hidden channels in place (ops/mlp gelu_gate: one kernel on CUDA in inference, which also adds the
    depth-wise conv's bias: cuDNN leaves that to a broadcast add, 9.9 of 101 ms at 2160x2160 on an H200)."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.inp = PointwiseConv(dim, 2 * hidden)
        self.dw = depthwise_conv(2 * hidden, 3)
        self.out = PointwiseConv(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(conv_gate(self.inp(x), self.dw.weight, self.dw.bias).permute(0, 3, 1, 2))


def conv_gate(h: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """The depth-wise 3x3 conv (weight (2C, 1, 3, 3), bias) of h (B, 2C, H, W), then the GELU gate: (B, H, W, C)."""
    backend = gelu_gate_backend(h.permute(0, 2, 3, 1), bias)     # decided once: the kernel takes the bias
    bias_in_gate = backend == "triton"
    h = F.conv2d(h, weight, None if bias_in_gate else bias, padding=weight.shape[-1] // 2, groups=weight.shape[0])
    return gelu_gate(h.permute(0, 2, 3, 1), bias if bias_in_gate else None, backend)


class RestorationBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, hidden: int, mixer: str, options: dict[str, Any]) -> None:
        super().__init__()
        self.norm1, self.mixer = ChannelNorm(dim), build_mixer(mixer, dim, num_heads, options)
        self.norm2, self.ffn = ChannelNorm(dim), GatedFeedForward(dim, hidden)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.mixer(self.norm1(x))
        return x + self.ffn(self.norm2(x))

    def forward_state(self, x: Tensor, state: tuple[Tensor, Tensor]) -> Tensor:
        """forward() of a band of rows given the whole map's mixer state (exact `halo()` rows from cut edges)."""
        x = x + self.mixer.forward_state(self.norm1(x), state)
        return x + self.ffn(self.norm2(x))

    def halo(self) -> int:
        return self.mixer.halo() + self.ffn.dw.kernel_size[0] // 2


class LowLightNet(Unscriptable):
    """(B, 3, H, W) RGB in [0, 1] -> enhanced (B, 3, H, W), any H and W. Three levels of widths dim, 2 dim, 4 dim
    with `depths` blocks each (the decoder mirrors the first two); heads of width `head_dim`.

    band_rows > 0 (SAGA and linear mixers): inference without autograd on images taller than that runs in
    bands of so many rows (rounded up to a multiple of 8), exactly, in far less memory (see llie_bands).
    input_views: the net sees the image beside three brightened copies of it (`stretched_views`), and its output is
    a per-pixel blend of the four (softmax weights from the head) plus a residual, so that a darkening that one copy
    undoes needs no large correction."""

    def __init__(self, dim: int = 32, depths: Sequence[int] = (1, 2, 2), head_dim: int = 16,
                 ffn_expansion: float = 2.0, mixer: str = "saga", in_chans: int = 3, band_rows: int = 0,
                 input_views: bool = True, **mixer_options: Any) -> None:
        super().__init__()
        if mixer not in MIXERS:
            raise ValueError(f"mixer must be one of {', '.join(MIXERS)}; got {mixer!r}")
        if isinstance(band_rows, bool) or not isinstance(band_rows, int) or band_rows < 0:
            raise ValueError(f"band_rows must be a whole number >= 0 (0: the whole image in one pass); got "
                             f"{band_rows!r}")
        if band_rows and mixer not in BANDED_MIXERS:
            raise ValueError(f"band_rows needs a mixer with a summed state ({', '.join(BANDED_MIXERS)}); got {mixer!r}")
        self.band_rows = whole_bands(band_rows)
        if len(depths) != 3:
            raise ValueError(f"depths are three numbers (two encoder levels and the bottleneck); got {list(depths)}")
        self.mixer, self.in_chans, self.input_views = mixer, in_chans, input_views
        widths = [dim, 2 * dim, 4 * dim]

        def level(i: int, depth: int) -> nn.Sequential:
            return nn.Sequential(*(RestorationBlock(widths[i], max(1, widths[i] // head_dim),
                                                   int(widths[i] * ffn_expansion), mixer, mixer_options)
                                   for _ in range(depth)))
        self.stem = nn.Conv2d(in_chans * (VIEWS if input_views else 1), dim, 3, padding=1)
        self.encoders = nn.ModuleList(level(i, depths[i]) for i in range(2))
        self.downs = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1) for i in range(2))
        self.bottleneck = level(2, depths[2])
        self.ups = nn.ModuleList(nn.Sequential(PointwiseConv(widths[i + 1], 4 * widths[i]), PixelShuffle(2))
                                 for i in range(2))
        self.fuse = nn.ModuleList(PointwiseConv(2 * widths[i], widths[i]) for i in range(2))
        self.decoders = nn.ModuleList(level(i, depths[i]) for i in range(2))
        self.head = nn.Conv2d(dim, in_chans + (VIEWS if input_views else 0), 3, padding=1)
        self.multiple = 4 * (WINDOW if mixer == "window" else 1)

    def check_input(self, x: Tensor) -> None:
        check_image(x, self.in_chans)

    def forward(self, x: Tensor, band_rows: int | None = None, progress: Progress = None) -> Tensor:
        """x (B, 3, H, W) -> (B, 3, H, W); band_rows overrides the net's own for this call (0: one pass);
        `progress` is called after each block of a banded pass."""
        self.check_input(x)
        h, w = x.shape[-2], x.shape[-1]
        padded = pad_to_multiple(stretched_views(x) if self.input_views else x, self.multiple)
        if isinstance(x, torch.fx.Proxy):                 # an FX graph holds the one-pass forward
            return crop(self.forward_padded(padded), h, w)
        band = self.band_rows if band_rows is None else whole_bands(band_rows)
        if band and band < padded.shape[-2] and not torch.is_grad_enabled():
            if self.mixer not in BANDED_MIXERS:
                raise ValueError(f"only nets with a {' or '.join(BANDED_MIXERS)} mixer run in bands; this one has "
                                 f"{self.mixer!r}")
            return crop(forward_in_bands(self, padded, band, progress), h, w)
        return crop(self.forward_padded(padded), h, w)

    def forward_padded(self, padded: Tensor) -> Tensor:
        """The net in one pass on an image padded to its multiple (with input_views, its views):
        (B, 3 or 12, H, W) -> (B, 3, H, W)."""
        features, skips = self.stem(padded), []
        for encoder, down in zip(self.encoders, self.downs):
            features = encoder(features)
            skips.append(features)
            features = down(features)
        features = self.bottleneck(features)
        for i in (1, 0):
            features = self.fuse[i](torch.cat([self.ups[i](features), skips[i]], dim=1))
            features = self.decoders[i](features)
        return self.compose(self.head(features), padded)

    def compose(self, head: Tensor, padded: Tensor) -> Tensor:
        """The output (B, 3, H, W) from the head's map (B, 3 or 3 + VIEWS, H, W) and the padded input (B, 3 or 12,
        H, W): the residual plus the image, or with input views, plus the views blended by the softmax of the head's
        last VIEWS channels."""
        if not self.input_views:
            return padded + head
        weights = head[:, self.in_chans:].softmax(dim=1).unsqueeze(2)                 # (B, VIEWS, 1, H, W)
        views = padded.unflatten(1, (VIEWS, self.in_chans))                          # (B, VIEWS, 3, H, W)
        return (weights * views).sum(dim=1) + head[:, :self.in_chans]


def stretched_views(x: Tensor) -> Tensor:
    """(B, C, H, W) in [0, 1] -> (B, VIEWS C, H, W): x, x stretched in sRGB, x stretched in linear light (each
    stretch divides by the image's peak, its largest 3x3-averaged value, so that a stray noisy pixel does not set
    it), and x raised to the power that brings its mean to mid-gray. A dark image whose sRGB values were scaled, or
    whose exposure was, comes back near its original in one of the stretched views, and one sunk by a tone curve
    nearer to it in the last; the net blends them where they fit."""
    lin = srgb_to_linear(x)
    stretched_lin = linear_to_srgb((lin / _peak(lin, 1e-4)).clamp(0, 1))
    lifted = gamma_to_mid_gray(x, x.mean(dim=(1, 2, 3), keepdim=True))
    return torch.cat([x, (x / _peak(x, 1 / 255)).clamp(0, 1), stretched_lin, lifted], dim=1)


def _peak(x: Tensor, floor: float) -> Tensor:
    """(B, C, H, W) -> (B, 1, 1, 1): the largest value of x after a 3x3 box average, at least `floor`."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False).amax(dim=(1, 2, 3), keepdim=True) \
        .clamp_min(floor)


def check_image(x: Tensor, in_chans: int) -> None:
    """ValueError unless x is a floating-point (B, in_chans, H, W) image. A leaf of FX graphs (torch.fx.wrap)."""
    if x.dim() != 4 or x.shape[1] != in_chans or not x.is_floating_point():
        raise ValueError(f"input must be a floating-point (B, {in_chans}, H, W) image in [0, 1]; got "
                         f"{tuple(x.shape)} {x.dtype}")


# Leaves of FX graphs: checks of sizes run when the graph runs; layouts and backends are chosen from the tensors.
torch.fx.wrap("check_image")
torch.fx.wrap("pointwise_conv")
torch.fx.wrap("pixel_shuffle")
torch.fx.wrap("conv_gate")
torch.fx.wrap("windowed_attention")   # its chunk count depends on the batch


def whole_bands(rows: int) -> int:
    """Band rows rounded up to a multiple of 8, so that every level's bands (rows / 2, rows / 4) align."""
    return -(-rows // 8) * 8


def crop(x: Tensor, h: int, w: int) -> Tensor:
    """The top-left (B, C, h, w) of x, a new tensor: a gather, which exporters keep symbolic (a slice of the
    channels-last map ties the export to the padding of the example's size)."""
    rows, cols = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


def pad_to_multiple(x: Tensor, multiple: int) -> Tensor:
    """Pad the bottom and right of (B, C, H, W) to multiples of `multiple` by replicating the last row and column:
    a gather of clamped indices, so any size (1x1 included) takes the same ops and exporters keep the padding
    symbolic. The result is laid out channels-last, which the convs keep: the per-pixel LayerNorms and the token
    mixers then read each pixel's channels in place (no permuted copies; 1.5x faster for saga_llie_tiny and 1.2x
    for retinexformer on a 2-core CPU at 540x960)."""
    h, w = x.shape[-2:]
    rows = torch.arange(h + (-h % multiple), device=x.device).clamp(max=h - 1)
    cols = torch.arange(w + (-w % multiple), device=x.device).clamp(max=w - 1)
    x = x.index_select(-2, rows).index_select(-1, cols)
    return x.contiguous(memory_format=torch.channels_last)


# name: (dim, depths). Feed-forward expansions per mixer keep the parameter counts within 5% of SAGA's.
SIZES = {"tiny": (24, (1, 2, 2)), "small": (40, (1, 2, 3))}      # 0.50M and 1.66M parameters with SAGA
EXPANSION = {"saga": 2.0, "channel": 2.45, "window": 2.55, "global": 2.55, "linear": 2.55, "focused": 2.45,
             "mala": 2.55}


def _cfg(mixer: str, weights: str = "") -> ModelConfig:
    options: dict[str, Any] = {"head_dim": 16, "in_chans": 3, "input_views": True}
    if mixer in BANDED_MIXERS:
        options["band_rows"] = 0
    if mixer == "saga":
        options.update(gate_bias_init=0.0, value_gate=True, gate_granularity="channel", backend="auto")
    return ModelConfig(task="enhance", in_chans=3, out_chans=3, img_size=128, stride=1, options=options,
                       weights=weights)


default_cfgs = {
    "saga_llie_tiny": _cfg("saga", weights="saga_llie_tiny.safetensors"),
    "saga_llie_small": _cfg("saga", weights="saga_llie_small.safetensors"),
    **{f"llie_{mixer}_{size}": _cfg(mixer) for mixer in MIXERS if mixer != "saga" for size in SIZES},
}


def _create(mixer: str, size: str, **kwargs: Any) -> LowLightNet:
    dim, depths = SIZES[size]
    return LowLightNet(dim=dim, depths=depths, mixer=mixer, ffn_expansion=EXPANSION[mixer], **kwargs)



@register_model
def saga_llie_tiny(**kwargs: Any) -> LowLightNet:
    """The low-light U-net, tiny, with SAGA as its token mixer. Weights ship in the package."""
    return _create("saga", "tiny", **kwargs)


@register_model
def saga_llie_small(**kwargs: Any) -> LowLightNet:
    """The low-light U-net, small, with SAGA as its token mixer. Weights ship in the package."""
    return _create("saga", "small", **kwargs)


@register_model
def llie_channel_tiny(**kwargs: Any) -> LowLightNet:
    """The low-light U-net, tiny, with channel attention (Restormer's MDTA) as its token mixer."""
    return _create("channel", "tiny", **kwargs)


@register_model
def llie_channel_small(**kwargs: Any) -> LowLightNet:
    """The low-light U-net, small, with channel attention (Restormer's MDTA) as its token mixer."""
    return _create("channel", "small", **kwargs)


@register_model
def llie_window_tiny(**kwargs: Any) -> LowLightNet:
    """The low-light U-net, tiny, with 8x8 window softmax attention as its token mixer."""
    return _create("window", "tiny", **kwargs)


@register_model
def llie_window_small(**kwargs: Any) -> LowLightNet:
    """The low-light U-net, small, with 8x8 window softmax attention as its token mixer."""
    return _create("window", "small", **kwargs)


@register_model
def llie_global_tiny(**kwargs: Any) -> LowLightNet:
    """The low-light U-net, tiny, with softmax attention over every pixel as its token mixer."""
    return _create("global", "tiny", **kwargs)


@register_model
def llie_global_small(**kwargs: Any) -> LowLightNet:
    """The low-light U-net, small, with softmax attention over every pixel as its token mixer."""
    return _create("global", "small", **kwargs)


@register_model
def llie_linear_tiny(**kwargs: Any) -> LowLightNet:
    """The low-light U-net, tiny, with ReLU linear attention as its token mixer."""
    return _create("linear", "tiny", **kwargs)


@register_model
def llie_linear_small(**kwargs: Any) -> LowLightNet:
    """The low-light U-net, small, with ReLU linear attention as its token mixer."""
    return _create("linear", "small", **kwargs)


@register_model
def llie_focused_tiny(**kwargs: Any) -> LowLightNet:
    """The low-light U-net, tiny, with FLatten's focused linear attention as its token mixer."""
    return _create("focused", "tiny", **kwargs)


@register_model
def llie_focused_small(**kwargs: Any) -> LowLightNet:
    """The low-light U-net, small, with FLatten's focused linear attention as its token mixer."""
    return _create("focused", "small", **kwargs)


@register_model
def llie_mala_tiny(**kwargs: Any) -> LowLightNet:
    """The low-light U-net, tiny, with MALA (magnitude-aware linear attention) as its token mixer."""
    return _create("mala", "tiny", **kwargs)


@register_model
def llie_mala_small(**kwargs: Any) -> LowLightNet:
    """The low-light U-net, small, with MALA (magnitude-aware linear attention) as its token mixer."""
    return _create("mala", "small", **kwargs)
