"""SAGA: linear attention whose keys and values are written into the state through input-adaptive gates."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ..ops.inputs import BACKENDS, NORMALIZERS, check_choice
from ..ops.saga import FEATURE_MAPS, saga_attention
from .base import DepthwiseConv, merge_heads
from .linear_attention import LinearAttentionBase

torch.fx.wrap("saga_attention")   # a leaf of FX graphs: it picks its backend from the tensors it gets

GATE_SOURCES = ("linear", "conv", "lowrank")
GATE_GRANULARITIES = ("channel", "head")


class SAGAAttention(LinearAttentionBase):
    """SAGA attention layer (see DESIGN section 1).

    q~, k~, v, g_k, g_v come from one fused Linear (gate_source "linear"); the op applies
    phi to q~, k~ and sigmoid to the gate logits; a depth-wise 3x3 conv on v is added.
    Options (the choices the paper's abstract leaves open):
      gate_source: "linear" (fused) | "conv" (depth-wise 3x3 then Linear) | "lowrank" (C -> r -> C)
      gate_granularity: "channel" | "head" (one scalar per token and head)
      gate_bias_init: initial gate logit (0 -> gates start at 0.5; positive -> near 1, i.e. plain linear attention)
      normalizer: "gated" (z = sum a*phi(k)) | "ungated" (z = sum phi(k))
      value_gate: False keeps the key-side gate only
      band_rows: > 0 runs inference in bands of so many rows (LinearAttentionBase), in less memory
    """

    def __init__(self, dim: int, num_heads: int, sr_ratio: int = 1, qkv_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0, eps: float = 1e-6,
                 feature_map: str = "relu", gate_source: str = "linear", gate_granularity: str = "channel",
                 gate_rank: int = 16, gate_bias_init: float = 0.0, normalizer: str = "gated",
                 value_gate: bool = True, dwc_kernel_size: int = 3, backend: str = "auto", band_rows: int = 0) -> None:
        check_choice("feature_map", feature_map, FEATURE_MAPS)
        check_choice("gate_source", gate_source, GATE_SOURCES)
        check_choice("gate_granularity", gate_granularity, GATE_GRANULARITIES)
        check_choice("normalizer", normalizer, NORMALIZERS)
        check_choice("backend", backend, BACKENDS)
        gate_width = dim if gate_granularity == "channel" else num_heads
        num_gates = 2 if value_gate else 1
        fused = gate_source == "linear"
        super().__init__(dim, num_heads, sr_ratio, qkv_bias, attn_drop, proj_drop,
                         [dim, dim] + ([gate_width] * num_gates if fused else []), eps, band_rows)
        if fused and not qkv_bias and gate_bias_init != 0:
            raise ValueError("gate_bias_init needs a bias: use qkv_bias=True or a gate_source other than 'linear'")
        self.feature_map, self.normalizer, self.backend = feature_map, normalizer, backend
        self.gate_source, self.gate_width, self.gate_bias_init = gate_source, gate_width, gate_bias_init
        self.num_gates = num_gates
        out = gate_width * num_gates
        if gate_source == "conv":
            self.gate_dwc = DepthwiseConv(dim, 3)
            self.gate = nn.Linear(dim, out)
        elif gate_source == "lowrank":
            self.gate = nn.Sequential(nn.Linear(dim, gate_rank, bias=False), nn.Linear(gate_rank, out))
        self.dwc = DepthwiseConv(dim, dwc_kernel_size)
        self.init_weights()
        if band_rows:
            self.check_parts()

    def gate_bias(self) -> Tensor | None:
        """The bias entries of the gate logits (a slice of the fused projection's bias, or the gate Linear's)."""
        if self.gate_source == "linear":
            bias = self.qkv.bias if self.sr_ratio == 1 else self.kv.bias
            return None if bias is None else bias[-self.gate_width * self.num_gates:]
        return (self.gate if self.gate_source == "conv" else self.gate[-1]).bias

    def init_weights(self) -> None:
        bias = self.gate_bias()
        if bias is not None:
            with torch.no_grad():
                bias.fill_(self.gate_bias_init)

    def gate_logits(self, kv: list[Tensor], kv_tokens: Tensor, kv_hw: tuple[int, int]) -> list[Tensor]:
        """The gate logits [(B, M, gate_width)], one per gate."""
        if self.gate_source == "linear":
            return kv[2:]
        source = self.gate_dwc(kv_tokens, kv_hw) if self.gate_source == "conv" else kv_tokens
        return list(self.gate(source).chunk(self.num_gates, dim=-1))

    def heads_gate(self, logits: Tensor) -> Tensor:
        """(B, M, gate_width) -> (B, M, h, d); a per-head gate is broadcast over the head's channels."""
        return self.split_heads(logits).expand(-1, -1, self.num_heads, self.head_dim)

    def head_gates(self, kv: list[Tensor], kv_tokens: Tensor, kv_hw: tuple[int, int]) -> tuple[Tensor, Tensor | None]:
        """Gate logits g_k, g_v (B, M, h, d); g_v is None without the value gate."""
        gates = [self.heads_gate(g) for g in self.gate_logits(kv, kv_tokens, kv_hw)]
        return gates if self.num_gates == 2 else (gates[0], None)

    def state_inputs(self, kv):
        g_k, g_v = self.head_gates(kv, None, None)
        return self.split_heads(kv[0]), self.split_heads(kv[1]), g_k, g_v

    def local_conv(self):
        return self.dwc.conv.weight, self.dwc.conv.bias

    def check_parts(self) -> None:
        super().check_parts()
        if self.gate_source != "linear":
            raise ValueError(f"only SAGA with gate_source='linear' runs in parts; got {self.gate_source!r}")

    def terms(self, q, kv, kv_tokens, kv_hw) -> tuple[Tensor, Tensor, Tensor]:
        phi = FEATURE_MAPS[self.feature_map]
        g_k, g_v = self.head_gates(kv, kv_tokens, kv_hw)
        v = self.split_heads(kv[1])
        return (phi(self.split_heads(q)), torch.sigmoid(g_k) * phi(self.split_heads(kv[0])),
                v if g_v is None else torch.sigmoid(g_v) * v)

    def attend(self, q, kv, kv_tokens, H, W, kv_hw) -> Tensor:
        k, v = kv[0], kv[1]
        g_k, g_v = self.head_gates(kv, kv_tokens, kv_hw)
        # The op adds the depth-wise conv of v in its output kernel (eager and compiled), unless the conv needs
        # upsampling (sr_ratio > 1).
        fused_conv = self.sr_ratio == 1                       # the keys' map is the queries'
        conv = self.dwc.conv
        out = saga_attention(self.split_heads(q), self.split_heads(k), self.split_heads(v), g_k, g_v,
                             self.feature_map, self.eps, self.backend, self.normalizer,
                             conv.weight if fused_conv else None, conv.bias if fused_conv else None,
                             (H, W))
        out = merge_heads(out)  # (B, N, C)
        return out if fused_conv else out + self.dwc(v, kv_hw, (H, W))

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, feature_map={self.feature_map}, gate_source={self.gate_source}, "
                f"gate_width={self.gate_width}, num_gates={self.num_gates}, normalizer={self.normalizer}")
