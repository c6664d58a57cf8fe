"""Parameter and FLOP counts of registered models, without running real arithmetic (meta tensors)."""
from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..models import create_model


def model_stats(name: str, res: int = 224) -> dict[str, float | str]:
    """{'model', 'params_m', 'gflops', 'gmacs'} at res x res, batch 1; FLOPs from torch's FLOP counter
    (2 per multiply-add; papers' "GFLOPs" for PVT are usually multiply-adds, the gmacs column)."""
    with torch.device("meta"):
        model = create_model(name).eval()
        x = torch.empty(1, 3, res, res)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    flops = counter.get_total_flops()
    params = sum(p.numel() for p in model.parameters())
    return {"model": name, "params_m": params / 1e6, "gflops": flops / 1e9, "gmacs": flops / 2e9}
