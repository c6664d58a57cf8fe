"""Rank of attention states and maps, per layer (the paper's rank curves).

For every attention layer of a model, on a batch of images:
  * the KV state S = sum_j K_j^T V_j of each head (d x dv; linear kinds only), with K and V as the
    layer combines them (features, and SAGA's gates, applied);
  * the attention map of a subset of query tokens: softmax(Q K^T) for softmax attention, and the
    row-normalised Q K^T (the weights each query gives the keys) for the linear kinds.
Two measures of each matrix, averaged over images and heads:
  numerical rank: singular values above `rel_tol` times the largest;
  effective rank: exp(entropy of the normalised singular values) (Roy & Vetterli, 2007).
The state's measures are also given as a fraction of its full rank min(d, dv), so stages of
different head widths compare.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor, nn

from ..layers import AttentionBase

REL_TOL = 1e-3


def matrix_ranks(m: Tensor, rel_tol: float = REL_TOL) -> tuple[Tensor, Tensor]:
    """Numerical and effective rank of each matrix of a batch (..., r, c), as float tensors (...)."""
    s = torch.linalg.svdvals(m.double())
    numerical = (s > rel_tol * s[..., :1]).sum(-1).double()
    p = s / s.sum(-1, keepdim=True).clamp_min(1e-300)
    entropy = -(p * p.clamp_min(1e-300).log()).sum(-1)
    return numerical, entropy.exp()


def attention_map(q: Tensor, k: Tensor, softmax: bool, eps: float = 1e-6) -> Tensor:
    """(B, h, n, d), (B, h, M, d) -> (B, h, n, M): softmax(q k^T) or q k^T normalised per row."""
    scores = q @ k.transpose(-2, -1)
    return scores.softmax(-1) if softmax else scores / (scores.sum(-1, keepdim=True) + eps)


def layer_ranks(layer: AttentionBase, x: Tensor, H: int, W: int, map_tokens: int, rel_tol: float) -> dict:
    """The measures of one layer for its input tokens x (B, N, C) of an H x W map."""
    q, k, v = layer.attention_terms(x, H, W)                       # (B, h, N|M, d)
    picks = torch.linspace(0, q.shape[2] - 1, min(map_tokens, q.shape[2]), device=q.device).round().long()
    numerical, effective = matrix_ranks(attention_map(q[:, :, picks], k, softmax=not layer.has_state), rel_tol)
    row = {"tokens": q.shape[2], "keys": k.shape[2], "head_dim": q.shape[-1], "heads": q.shape[1],
           "map_rank": numerical.mean().item(), "map_effective_rank": effective.mean().item()}
    if layer.has_state:
        full = min(k.shape[-1], v.shape[-1])
        numerical, effective = matrix_ranks(k.transpose(-2, -1) @ v, rel_tol)   # (B, h, d, dv)
        row.update(state_rank=numerical.mean().item(), state_effective_rank=effective.mean().item(),
                   state_rank_fraction=numerical.mean().item() / full,
                   state_effective_rank_fraction=effective.mean().item() / full)
    return row


@torch.no_grad()
def model_ranks(model: nn.Module, images: Tensor, map_tokens: int = 64, rel_tol: float = REL_TOL) -> list[dict]:
    """Per attention layer (in forward order): its name and `layer_ranks`, for images (B, 3, H, W)."""
    rows: list[dict] = []
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, AttentionBase):
            def hook(layer, args, _output, name=name):
                rows.append({"layer": name, **layer_ranks(layer, *args, map_tokens, rel_tol)})
            hooks.append(module.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        model(images)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return rows


def plot_rank_curves(results: dict[str, list[dict]], path: str | Path, title: str = "") -> Path:
    """One line per model across its layers: the effective rank of the state and of the map (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plots import integer_x, log_y

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for label, rows in results.items():
        layers = range(1, len(rows) + 1)
        if all("state_effective_rank" in r for r in rows):
            left.plot(layers, [r["state_effective_rank"] for r in rows], marker="o", label=label)
        right.plot(layers, [r["map_effective_rank"] for r in rows], marker="o", label=label)
    left.set(xlabel="attention layer (stage by stage)", ylabel="effective rank (full: head width 64)",
             title="KV state S (linear kinds)")
    right.set(xlabel="attention layer (stage by stage)", ylabel="effective rank", title="attention map")
    for ax in (left, right):
        log_y(ax)
        integer_x(ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def summarize(results: dict[str, list[dict]], keys: Sequence[str] = ("state_effective_rank", "state_rank",
                                                                      "map_effective_rank")) -> str:
    """A Markdown table: each model's measures averaged over its layers."""
    lines = ["| model | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for label, rows in results.items():
        cells = []
        for key in keys:
            values = [r[key] for r in rows if key in r]
            cells.append(f"{sum(values) / len(values):.3f}" if values else "n/a")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
