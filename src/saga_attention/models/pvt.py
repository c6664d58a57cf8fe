"""The Pyramid Vision Transformer (PVT v1) family, with any attention kind.

Four stages of patch embedding (stride 4, 2, 2, 2), a learned position embedding per stage
(interpolated for other input sizes) and pre-norm blocks. Unlike PVT v1's classifier, the head
pools all final tokens instead of reading a class token, as PVT v2 and PVT's dense-prediction
variant do: every stage is then an H x W map, which the depth-wise convs of the linear kinds need.
"""
from __future__ import annotations

import inspect
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD
from ..layers import ATTENTION_KINDS, AttentionBase, Block, LayerNorm, PatchEmbed
from ..layers.base import to_map, to_tokens
from .features import FeatureInfo, take_indices
from .registry import ModelConfig, Unscriptable, register_model

STRIDE = 32


def check_image(x: Tensor, in_chans: int) -> None:
    """ValueError unless x is a floating-point (B, in_chans, H, W) with H and W divisible by 32. A leaf of FX
    graphs (torch.fx.wrap): its checks of sizes run when the graph runs, not while it is traced."""
    if x.dim() != 4 or x.shape[1] != in_chans:
        raise ValueError(f"input must be (B, {in_chans}, H, W); got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"input must be a floating-point tensor of normalised images; got {x.dtype} (for "
                         "uint8 images use saga_attention.data.normalize(images))")
    if x.shape[-2] % STRIDE or x.shape[-1] % STRIDE or x.shape[-2] == 0 or x.shape[-1] == 0:
        raise ValueError(f"input height and width must be positive multiples of {STRIDE}; got "
                         f"{x.shape[-2]}x{x.shape[-1]} (resize or pad to e.g. "
                         f"{-(-x.shape[-2] // STRIDE) * STRIDE}x{-(-x.shape[-1] // STRIDE) * STRIDE})")


torch.fx.wrap("check_image")


def pretrained_cfg(num_classes: int = 1000, in_chans: int = 3, img_size: int = 224) -> dict[str, Any]:
    """timm's pretrained config of a PVT classifier: input size and normalisation, pooled map, first conv, head."""
    return {"url": "", "num_classes": num_classes, "input_size": (in_chans, img_size, img_size),
            "pool_size": (img_size // STRIDE, img_size // STRIDE), "fixed_input_size": False,
            "min_input_size": (in_chans, STRIDE, STRIDE), "crop_pct": 0.875, "crop_mode": "center",
            "interpolation": "bilinear", "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
            "first_conv": "stages.0.patch_embed.proj", "classifier": "head", "license": "apache-2.0"}

class PVTStage(nn.Module):
    """Patch embedding, position embedding and blocks: map (B, Cin, H, W) -> tokens (B, N, C) and (h, w)."""

    def __init__(self, in_chans: int, dim: int, patch_size: int, grid: tuple[int, int], depth: int,
                 num_heads: int, mlp_ratio: float, sr_ratio: int, attn_kind: str, drop: float,
                 drop_paths: Sequence[float], attn_kwargs: dict[str, Any], mlp_backend: str = "auto") -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(patch_size, in_chans, dim)
        self.grid = grid
        self.pos_embed = nn.Parameter(torch.zeros(1, grid[0] * grid[1], dim))
        self.pos_drop = nn.Dropout(drop)
        self.blocks = nn.ModuleList(
            Block(dim, num_heads, mlp_ratio, attn_kind, sr_ratio, drop, dp, mlp_backend, **attn_kwargs)
            for dp in drop_paths
        )
        self.grad_checkpointing = False
        self._resized: tuple[tuple, Tensor | None] = ((), None)     # (key, embedding) of the last resize

    def position_embedding(self, hw: tuple[int, int]) -> Tensor:
        """(1, h*w, C): the learned embedding, bilinearly resized when the map is not the trained grid. Without
        autograd (and outside torch.compile) the last resize is kept until the size or the embedding changes.
        Symbolic sides (export, tracing) always take the resize, which is exact at the trained grid: no guard on
        the size."""
        if not all(isinstance(side, int) for side in hw):
            return self._resize(hw)
        if hw == self.grid:
            return self.pos_embed
        if torch.is_grad_enabled() or torch.compiler.is_compiling():
            return self._resize(hw)
        p = self.pos_embed
        key = (hw, p.device, p.dtype, p.data_ptr(), p._version)     # an in-place update bumps _version
        if self._resized[0] != key:
            self._resized = (key, self._resize(hw).contiguous())
        return self._resized[1]

    def _resize(self, hw: tuple[int, int]) -> Tensor:
        grid = to_map(self.pos_embed, self.grid)  # (1, C, gh, gw)
        return to_tokens(F.interpolate(grid, size=hw, mode="bilinear", align_corners=False))

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        x, hw = self.patch_embed(x)
        x = self.pos_drop(x + self.position_embedding(hw))
        for block in self.blocks:
            if self.grad_checkpointing and torch.is_grad_enabled():
                x = checkpoint(block, x, *hw, use_reentrant=False)     # recomputed in backward (same drop path)
            else:
                x = block(x, *hw)
        return x, hw


class PyramidVisionTransformer(Unscriptable):
    """PVT backbone and classifier; the attention kind of every block is `attn_kind`.

    Follows timm's model contract: forward_features -> (B, C, H/32, W/32), forward_head,
    reset_classifier, num_features, head_hidden_size, feature_info, pretrained_cfg / default_cfg,
    forward_intermediates, prune_intermediate_layers, set_grad_checkpointing, no_weight_decay,
    group_matcher. features_only=True makes forward return the maps of `out_indices` (stage outputs,
    strides 4, 8, 16, 32), drops the head and gives `feature_info` as a FeatureInfo.
    fused=False runs every LayerNorm as aten's and each MLP as nn.Linear, GELU, nn.Linear: PVT as its users run
    it (with impl=sdpa, the stock baseline of the benchmarks); the weights are the same either way.
    stage_attn_kwargs: per stage, attention options under attn_kwargs (which win), e.g. Agent-PVT's agent counts.
    """

    def __init__(self, depths: Sequence[int] = (2, 2, 2, 2), embed_dims: Sequence[int] = (64, 128, 320, 512),
                 num_heads: Sequence[int] = (1, 2, 5, 8), mlp_ratios: Sequence[float] = (8, 8, 4, 4),
                 sr_ratios: Sequence[int] = (8, 4, 2, 1), attn_kind: str = "softmax",
                 attn_kwargs: dict[str, Any] | None = None, in_chans: int = 3, num_classes: int = 1000,
                 img_size: int = 224, drop_rate: float = 0.0, drop_path_rate: float = 0.1,
                 qkv_bias: bool = True, global_pool: str = "avg", features_only: bool = False,
                 out_indices: Sequence[int] = (0, 1, 2, 3), mlp_backend: str = "auto", fused: bool = True,
                 stage_attn_kwargs: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__()
        if img_size <= 0 or img_size % STRIDE:
            raise ValueError(f"img_size must be a positive multiple of {STRIDE}; got {img_size}")
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0 (0: no head); got {num_classes}")
        for name, rate in (("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)):
            if not 0 <= rate < 1:
                raise ValueError(f"{name} must be in [0, 1); got {rate}")
        self.in_chans, self.num_classes, self.attn_kind = in_chans, num_classes, attn_kind
        self.num_features = self.head_hidden_size = embed_dims[-1]
        self.global_pool = _check_pool(global_pool)
        self.features_only, self.out_indices = features_only, tuple(take_indices(len(depths), list(out_indices)))
        attn_kwargs = dict(attn_kwargs or {}, qkv_bias=qkv_bias)
        total = sum(depths)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]  # linear in depth
        self.stages = nn.ModuleList()
        self.feature_info: list[dict[str, Any]] | FeatureInfo = []
        chans, reduction, start = in_chans, 1, 0
        for i, depth in enumerate(depths):
            patch = 4 if i == 0 else 2
            reduction *= patch
            grid = (img_size // reduction, img_size // reduction)
            self.stages.append(PVTStage(chans, embed_dims[i], patch, grid, depth, num_heads[i], mlp_ratios[i],
                                        sr_ratios[i], attn_kind, drop_rate, rates[start:start + depth],
                                        {**(stage_attn_kwargs[i] if stage_attn_kwargs else {}), **attn_kwargs},
                                        mlp_backend))
            self.feature_info.append({"num_chs": embed_dims[i], "reduction": reduction, "module": f"stages.{i}",
                                      "stage": i})
            chans, start = embed_dims[i], start + depth
        self.pretrained_cfg = self.default_cfg = pretrained_cfg(num_classes, in_chans, img_size)
        if features_only:
            self.feature_info = FeatureInfo(self.feature_info, self.out_indices)
        else:
            self.norm = LayerNorm(self.num_features, eps=1e-6)
            self.head_drop = nn.Dropout(drop_rate)
            self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(_init_weights)
        for stage in self.stages:
            nn.init.trunc_normal_(stage.pos_embed, std=0.02)
        if not fused:
            for module in self.modules():
                if isinstance(module, LayerNorm):
                    module.backend = "torch"
                if isinstance(module, Block):
                    module.fused = False

    def check_input(self, x: Tensor) -> None:
        """ValueError unless x is a floating-point (B, in_chans, H, W) with H and W divisible by 32."""
        check_image(x, self.in_chans)

    def forward_stages(self, x: Tensor, last: int | None = None) -> list[Tensor]:
        """The maps of every stage up to `last` (default: all): [(B, C_i, H/s_i, W/s_i)], strides 4, 8, 16, 32."""
        self.check_input(x)
        maps = []
        for stage in self.stages[:None if last is None else last + 1]:
            tokens, hw = stage(x)
            x = to_map(tokens, hw)
            maps.append(x)
        return maps

    def final_norm(self, x: Tensor) -> Tensor:
        """The head's LayerNorm on a last-stage map (B, C, h, w)."""
        return to_map(self.norm(to_tokens(x)), x.shape[-2:])

    def forward_features(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) -> normalised last-stage map (B, C, H/32, W/32)."""
        return self.final_norm(self.forward_stages(x)[-1])

    def forward_intermediates(self, x: Tensor, indices: int | Sequence[int] | None = None, norm: bool = False,
                              stop_early: bool = False, output_fmt: str = "NCHW",
                              intermediates_only: bool = False) -> list[Tensor] | tuple[Tensor, list[Tensor]]:
        """timm 1.0's feature-pyramid call: the stage maps of `indices` (None: all four; n: the last n; a list),
        and the normalised final map unless `intermediates_only`. norm: the final LayerNorm on the last stage's
        map too. stop_early: with intermediates_only, run no stage after the last one asked for."""
        if output_fmt != "NCHW":
            raise ValueError(f"PVT gives NCHW maps; got output_fmt={output_fmt!r}")
        taken = take_indices(len(self.stages), indices)
        last = taken[-1] if intermediates_only and stop_early else None
        maps = self.forward_stages(x, last)
        final = len(self.stages) - 1
        has_norm = hasattr(self, "norm")
        intermediates = [self.final_norm(maps[i]) if norm and has_norm and i == final else maps[i] for i in taken]
        if intermediates_only:
            return intermediates
        if not has_norm:
            raise ValueError("the final norm was pruned (prune_intermediate_layers(prune_norm=True)): "
                             "ask for intermediates_only=True")
        return self.final_norm(maps[-1]), intermediates

    def prune_intermediate_layers(self, indices: int | Sequence[int] = 1, prune_norm: bool = False,
                                  prune_head: bool = True) -> list[int]:
        """Drop the stages after the last of `indices` (and the head, and the final norm if asked); return the
        indices forward_intermediates will now take."""
        taken = take_indices(len(self.stages), indices)
        self.stages = self.stages[:taken[-1] + 1]
        if prune_norm and hasattr(self, "norm"):
            del self.norm
        if prune_head:
            self.reset_classifier(0, "")
        return taken

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block's activations in backward instead of keeping them (less memory, more compute)."""
        for stage in self.stages:
            stage.grad_checkpointing = enable

    def no_weight_decay(self) -> set[str]:
        """Parameter names to train without weight decay: position embeddings, biases, norm weights and other
        per-channel scales (every parameter of one dimension)."""
        return {name for name, p in self.named_parameters() if p.ndim <= 1 or name.endswith("pos_embed")}

    def group_matcher(self, coarse: bool = False) -> dict[str, Any]:
        """Regexes that group parameters by depth (timm's layer-wise lr decay): the stem, then each stage
        (coarse) or each block, the stages' patch embeddings with their stage, the final norm last."""
        stages = [(r"^stages\.(\d+)", None)] if coarse else [(r"^stages\.(\d+)\.blocks\.(\d+)", None),
                                                            (r"^stages\.(\d+)\.(patch_embed|pos_embed)", (0,))]
        return {"stem": r"^stages\.0\.(patch_embed|pos_embed)", "blocks": stages + [(r"^norm", (99999,))]}

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """(B, C, h, w) -> logits (B, num_classes), or the pooled (B, C) features when pre_logits; with
        global_pool '' the map itself."""
        if self.global_pool == "avg":
            x = x.mean(dim=(2, 3))
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor | list[Tensor]:
        if self.features_only:
            maps = self.forward_stages(x, max(self.out_indices))
            return [maps[i] for i in self.out_indices]
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the head with a fresh one for `num_classes` (0: none, forward gives the pooled features);
        global_pool '' leaves the map unpooled (with num_classes 0), 'avg' pools."""
        if global_pool is not None:
            self.global_pool = _check_pool(global_pool)
        if self.global_pool == "" and num_classes > 0:
            raise ValueError("global_pool='' leaves the map unpooled, which a classifier head cannot take; "
                             "use num_classes=0")
        self.num_classes = num_classes
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        if num_classes > 0:
            _init_weights(self.head)


def _check_pool(global_pool: str) -> str:
    if global_pool not in ("avg", ""):
        raise ValueError(f"PVT pools by average ('avg') or not at all (''); got global_pool={global_pool!r}")
    return global_pool


def _init_weights(m: nn.Module) -> None:
    """PVT's initialisation (truncated normal Linears, unit LayerNorms), then each attention kind's own."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, AttentionBase):
        m.init_weights()


# The PVT v1 sizes (depths per stage) and the attention kinds each is registered with.
SIZES = {"tiny": (2, 2, 2, 2), "small": (3, 4, 6, 3), "medium": (3, 4, 18, 3), "large": (3, 8, 27, 3)}
KINDS = {
    "pvt": {"attn_kind": "softmax"},
    "global_pvt": {"attn_kind": "softmax", "sr_ratios": (1, 1, 1, 1)},    # softmax over every token: the reference
    "linear_pvt": {"attn_kind": "linear", "sr_ratios": (1, 1, 1, 1)},
    "focused_pvt": {"attn_kind": "focused", "sr_ratios": (1, 1, 1, 1)},
    "agent_pvt": {"attn_kind": "agent", "sr_ratios": (1, 1, 1, 1),
                  "stage_attn_kwargs": ({"agent_num": 9}, {"agent_num": 16}, {"agent_num": 49}, {"agent_num": 49})},
    "mala_pvt": {"attn_kind": "mala", "sr_ratios": (1, 1, 1, 1)},
    "saga_pvt": {"attn_kind": "saga", "sr_ratios": (1, 1, 1, 1)},
}
# Keywords of PyramidVisionTransformer that are no spec options: the task sets the head, the kind is the model's.
ARGUMENTS = frozenset({"num_classes", "features_only", "out_indices", "attn_kwargs", "global_pool",
                       "stage_attn_kwargs"})
LAYER_ARGUMENTS = ("self", "dim", "num_heads", "sr_ratio", "qkv_bias")


def _scalar_parameters(fn: Any, skip: Sequence[str]) -> dict[str, Any]:
    """{name: default} of fn's keyword parameters with bool, int, float or str defaults."""
    return {k: p.default for k, p in inspect.signature(fn).parameters.items()
            if k not in skip and isinstance(p.default, (bool, int, float, str))}


def _layer_options(family: str) -> dict[str, Any]:
    return _scalar_parameters(ATTENTION_KINDS[KINDS[family]["attn_kind"]], LAYER_ARGUMENTS)


def _cfg(family: str) -> ModelConfig:
    options = {**_scalar_parameters(PyramidVisionTransformer, ("attn_kind", *ARGUMENTS)), **_layer_options(family)}
    return ModelConfig(task="classify", in_chans=3, out_chans=1000, img_size=224, stride=STRIDE, options=options,
                       arguments=ARGUMENTS)


default_cfgs = {f"{family}_{size}": _cfg(family) for family in KINDS for size in SIZES}


def _create(family: str, size: str, attn_kwargs: dict[str, Any] | None = None,
            **kwargs: Any) -> PyramidVisionTransformer:
    """A PVT of `size` with the attention of `family`; kwargs that are options of its attention layer go there."""
    layer = {k: kwargs.pop(k) for k in list(kwargs) if k in _layer_options(family)}
    return PyramidVisionTransformer(depths=SIZES[size], **{**KINDS[family], **kwargs},
                                    attn_kwargs={**(attn_kwargs or {}), **layer})



@register_model
def pvt_tiny(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT v1 with its spatial-reduction softmax attention (sr ratios 8, 4, 2, 1), tiny."""
    return _create("pvt", "tiny", **kwargs)


@register_model
def pvt_small(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT v1 with its spatial-reduction softmax attention (sr ratios 8, 4, 2, 1), small."""
    return _create("pvt", "small", **kwargs)


@register_model
def pvt_medium(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT v1 with its spatial-reduction softmax attention (sr ratios 8, 4, 2, 1), medium."""
    return _create("pvt", "medium", **kwargs)


@register_model
def pvt_large(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT v1 with its spatial-reduction softmax attention (sr ratios 8, 4, 2, 1), large."""
    return _create("pvt", "large", **kwargs)


@register_model
def global_pvt_tiny(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with softmax attention over every token (the quadratic reference), tiny."""
    return _create("global_pvt", "tiny", **kwargs)


@register_model
def global_pvt_small(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with softmax attention over every token (the quadratic reference), small."""
    return _create("global_pvt", "small", **kwargs)


@register_model
def global_pvt_medium(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with softmax attention over every token (the quadratic reference), medium."""
    return _create("global_pvt", "medium", **kwargs)


@register_model
def global_pvt_large(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with softmax attention over every token (the quadratic reference), large."""
    return _create("global_pvt", "large", **kwargs)


@register_model
def linear_pvt_tiny(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with ReLU linear attention, tiny."""
    return _create("linear_pvt", "tiny", **kwargs)


@register_model
def linear_pvt_small(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with ReLU linear attention, small."""
    return _create("linear_pvt", "small", **kwargs)


@register_model
def linear_pvt_medium(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with ReLU linear attention, medium."""
    return _create("linear_pvt", "medium", **kwargs)


@register_model
def linear_pvt_large(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with ReLU linear attention, large."""
    return _create("linear_pvt", "large", **kwargs)


@register_model
def focused_pvt_tiny(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with FLatten's focused linear attention, tiny."""
    return _create("focused_pvt", "tiny", **kwargs)


@register_model
def focused_pvt_small(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with FLatten's focused linear attention, small."""
    return _create("focused_pvt", "small", **kwargs)


@register_model
def focused_pvt_medium(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with FLatten's focused linear attention, medium."""
    return _create("focused_pvt", "medium", **kwargs)


@register_model
def focused_pvt_large(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with FLatten's focused linear attention, large."""
    return _create("focused_pvt", "large", **kwargs)


@register_model
def agent_pvt_tiny(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with Agent attention (agents 9, 16, 49, 49 over the stages), tiny."""
    return _create("agent_pvt", "tiny", **kwargs)


@register_model
def agent_pvt_small(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with Agent attention (agents 9, 16, 49, 49 over the stages), small."""
    return _create("agent_pvt", "small", **kwargs)


@register_model
def agent_pvt_medium(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with Agent attention (agents 9, 16, 49, 49 over the stages), medium."""
    return _create("agent_pvt", "medium", **kwargs)


@register_model
def agent_pvt_large(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with Agent attention (agents 9, 16, 49, 49 over the stages), large."""
    return _create("agent_pvt", "large", **kwargs)


@register_model
def mala_pvt_tiny(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with MALA, magnitude-aware linear attention, tiny."""
    return _create("mala_pvt", "tiny", **kwargs)


@register_model
def mala_pvt_small(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with MALA, magnitude-aware linear attention, small."""
    return _create("mala_pvt", "small", **kwargs)


@register_model
def mala_pvt_medium(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with MALA, magnitude-aware linear attention, medium."""
    return _create("mala_pvt", "medium", **kwargs)


@register_model
def mala_pvt_large(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with MALA, magnitude-aware linear attention, large."""
    return _create("mala_pvt", "large", **kwargs)


@register_model
def saga_pvt_tiny(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with SAGA attention, tiny."""
    return _create("saga_pvt", "tiny", **kwargs)


@register_model
def saga_pvt_small(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with SAGA attention, small."""
    return _create("saga_pvt", "small", **kwargs)


@register_model
def saga_pvt_medium(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with SAGA attention, medium."""
    return _create("saga_pvt", "medium", **kwargs)


@register_model
def saga_pvt_large(**kwargs: Any) -> PyramidVisionTransformer:
    """PVT with SAGA attention, large."""
    return _create("saga_pvt", "large", **kwargs)
