"""The low-light net run exactly in bands of rows, for photos too large for one pass.

Every stage of the net is local in the image (3x3 and strided convs, per-pixel norms and feed-forwards, pixel
shuffles) except the token mixer, whose state sums over the whole map. So each level's map is computed band
by band: for a block, the mixer's state is summed over the bands first (states of disjoint tokens add up),
then each band of the block's output is computed from its rows and a halo of neighbouring rows, and written
back in place. The result is the whole-image pass's (up to float rounding), while what stays in memory is one
map per level (the skips are those maps), not a block's wide intermediates over the whole image.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import Tensor, nn

from ..ops.state import state_over_bands

MapFn = Callable[[Tensor], Tensor]
Progress = Optional[Callable[[], None]]


def map_in_bands(fn: MapFn, src: Tensor, out: Tensor, band: int, halo: int, stride: int = 1) -> Tensor:
    """out[..., a:b, :] = fn(src)[..., a:b, :] for bands [a, b) of out's rows, where fn is row-local: its output
    row i depends on source rows stride*i - halo ... stride*(i+1) + halo - 1 only, zero-padded at the map's
    edges (as fn's own convs pad). `out` may be `src` itself (stride 1): the rows a band's halo needs from the
    band above are kept as they were before that band was written. Returns out."""
    if out is src and (stride != 1 or band < halo):
        raise ValueError(f"an in-place banded map needs stride 1 and bands of at least {halo} rows")
    if halo % stride:
        raise ValueError(f"the halo ({halo}) must be a multiple of the stride ({stride})")
    rows, src_rows = out.shape[-2], src.shape[-2]
    above = src[..., :0, :]  # src's rows [a - halo, a) as they were before band [.., a) was written
    for a in range(0, rows, band):
        b = min(a + band, rows)
        lo, hi = max(0, stride * a - halo), min(src_rows, stride * b + halo)
        window = torch.cat([above, src[..., stride * a:hi, :]], dim=-2) if out is src else src[..., lo:hi, :]
        result = fn(window)
        first = a - lo // stride
        if out is src:
            above = src[..., max(0, b - halo):b, :].clone()
        out[..., a:b, :] = result[..., first:first + b - a, :]
    return out


def block_in_bands(block: nn.Module, x: Tensor, band: int) -> Tensor:
    """A restoration block applied to map x (B, C, H, W) in place, band by band: the mixer's state of the whole
    map first, then each band from its rows and the block's halo."""
    state = state_over_bands(lambda a, b: block.mixer.state(block.norm1(x[..., a:b, :])), x.shape[-2], band)
    return map_in_bands(lambda rows: block.forward_state(rows, state), x, x, band, block.halo())


def level_in_bands(blocks: nn.Sequential, x: Tensor, band: int, progress: Progress) -> Tensor:
    for block in blocks:
        block_in_bands(block, x, band)
        if progress:
            progress()
    return x


def stages(net: nn.Module) -> int:
    """How often forward_in_bands reports progress: once per block."""
    return sum(len(level) for level in (*net.encoders, net.bottleneck, *net.decoders))


def resident_channels(net: nn.Module) -> float:
    """Values per full-resolution pixel that a banded pass keeps for the whole image: the padded input (with its
    stretched views), the head's map, and one map per level (a quarter of the pixels at each level down)."""
    widths = [net.stem.out_channels, *(down.out_channels for down in net.downs)]
    return net.stem.in_channels + net.head.out_channels + sum(width / 4 ** level for level, width in enumerate(widths))


def new_map(like: Tensor, channels: int, h: int, w: int) -> Tensor:
    """An empty (B, channels, h, w) map, channels-last as the nets lay out their maps (a band is then one block)."""
    return torch.empty(like.shape[0], channels, h, w, dtype=like.dtype, device=like.device,
                       memory_format=torch.channels_last)


def forward_in_bands(net: nn.Module, padded: Tensor, band: int, progress: Progress = None) -> Tensor:
    """The net (a LowLightNet) on its padded input (B, 3 or 12, H, W), H and W multiples of 4, in bands of `band` rows
    (a multiple of 8) at full resolution and band/2, band/4 at the lower levels. Returns (B, 3, H, W).
    `progress` is called after each block (`stages(net)` times)."""
    h, w = padded.shape[-2:]
    bands = [band, band // 2, band // 4]
    skips = []
    features = new_map(padded, net.stem.out_channels, h, w)
    map_in_bands(net.stem, padded, features, bands[0], 1)
    for i, (encoder, down) in enumerate(zip(net.encoders, net.downs)):
        skips.append(level_in_bands(encoder, features, bands[i], progress))
        lower = new_map(padded, down.out_channels, features.shape[-2] // 2, features.shape[-1] // 2)
        features = map_in_bands(down, features, lower, bands[i + 1], 2, stride=2)
    features = level_in_bands(net.bottleneck, features, bands[2], progress)
    for i in (1, 0):
        skip, step = skips.pop(), bands[i]
        for a in range(0, skip.shape[-2], step):  # the skip's rows become the fused map's, in place
            rows = skip[..., a:a + step, :]
            rows.copy_(net.fuse[i](torch.cat([net.ups[i](features[..., a // 2:(a + step) // 2, :]), rows], dim=1)))
        features = level_in_bands(net.decoders[i], skip, step, progress)  # the lower level's map is freed here
    head = map_in_bands(net.head, features, new_map(padded, net.head.out_channels, h, w), bands[0], 1)
    out = head[:, :net.in_chans]             # the output, written over the head's map band by band
    for a in range(0, h, bands[0]):
        out[..., a:a + bands[0], :] = net.compose(head[..., a:a + bands[0], :], padded[..., a:a + bands[0], :])
    return out
