"""The gate decomposition on real images: decomposed equals materialized, and what it saves."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

from ..layers import PatchEmbed, SAGAAttention
from ..measure import peak_memory_mib, time_ms
from ..ops import saga_attention, saga_attention_materialized

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def load_photos(size: int = 128, names: tuple[str, ...] = PHOTOS) -> torch.Tensor:
    """Real photographs that ship with scikit-image, resized to size x size: (B, 3, size, size) in [0, 1]."""
    try:
        from skimage import data
    except ImportError as err:
        raise ImportError("the photographs come from scikit-image: pip install scikit-image") from err
    images = []
    for name in names:
        rgb = Image.fromarray(getattr(data, name)()).convert("RGB").resize((size, size), Image.BICUBIC)
        images.append(torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0).permute(2, 0, 1))
    return torch.stack(images)


def check_decomposition(images: torch.Tensor, dim: int = 64, num_heads: int = 1, patch: int = 4,
                        device: str | torch.device = "cpu", seed: int = 0) -> dict[str, Any]:
    """Run images through a patch embedding and a SAGA layer (PVT stage-1 width) and compare the
    decomposed gate with the materialized one: error, peak memory and time of each."""
    device = torch.device(device)
    torch.manual_seed(seed)
    embed, layer = PatchEmbed(patch, 3, dim).to(device), SAGAAttention(dim, num_heads).to(device)
    with torch.no_grad():
        tokens, (h, w) = embed(images.to(device))  # (B, N, C)
        q, kv, _, _ = layer.project(tokens, h, w)
        q, k, v, g_k, g_v = (layer.split_heads(t) for t in (q, *kv))  # (B, N, H, d)
        args = (q, k, v, g_k, g_v)
        decomposed = saga_attention(*args)
        materialized = saga_attention_materialized(*args)
        err = ((decomposed - materialized).norm() / decomposed.norm()).item()
        results = {}
        for name, fn in [("decomposed", saga_attention), ("materialized", saga_attention_materialized)]:
            mem, method = peak_memory_mib(lambda: fn(*args), device)
            results[name] = {"peak_mem_mib": mem, "ms": time_ms(lambda: fn(*args), device, warmup=1, repeats=5)}
    B, N, H, d = q.shape
    return {
        "images": int(B), "tokens": int(N), "heads": int(H), "head_dim": int(d),
        "relative_error": err, "max_abs_diff": (decomposed - materialized).abs().max().item(),
        "gate_tensor_mib": B * N * H * d * d * 4 / 2**20,  # every per-token d x d gate, fp32
        "state_mib": B * H * d * d * 4 / 2**20,  # the d x d state the decomposition keeps
        "mem_method": method, **results,
    }
