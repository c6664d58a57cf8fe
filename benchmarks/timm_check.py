"""Every registered model through timm itself (where timm is installed, as on the GPU image): create_model with
features_only=True, forward_intermediates, FeatureInfo, resolve_data_config and set_grad_checkpointing, with
the checks of timm's own tests/test_models.py. Writes one JSON row per model; exit 1 if any fails.

Run from the repository root: PYTHONPATH=src python3 benchmarks/timm_check.py --out timm.json
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import traceback

import torch

import saga_attention as sa


def check(name: str, device: torch.device) -> dict:
    import timm
    from timm.data import resolve_data_config

    x = torch.randn(1, 3, 96, 160, device=device)
    features = timm.create_model(name, features_only=True).to(device).eval()
    channels, reduction = features.feature_info.channels(), features.feature_info.reduction()
    with torch.no_grad():
        maps = features(x)
    assert len(maps) == len(channels) >= 3
    for c, r, m in zip(channels, reduction, maps):
        assert m.shape[1] == c and m.shape[2] <= math.ceil(96 / r) + 1 and m.shape[3] <= math.ceil(160 / r) + 1

    model = timm.create_model(name).to(device).eval()
    info = timm.models.FeatureInfo(model.feature_info, len(model.feature_info))
    with torch.no_grad():
        output, intermediates = model.forward_intermediates(x, output_fmt="NCHW")
        assert [t.shape[1] for t in intermediates] == info.channels()
        assert torch.allclose(output, model.forward_features(x))
    model.set_grad_checkpointing()
    output3, _ = model.forward_intermediates(x)
    assert torch.allclose(output, output3, rtol=1e-4, atol=1e-5)
    data = resolve_data_config({}, model=model)
    assert data["input_size"] == (3, 224, 224)
    return {"model": name, "status": "ok", "timm": timm.__version__, "feature_channels": channels,
            "feature_reduction": reduction, "module_names": features.feature_info.module_name(),
            "intermediate_shapes": [list(t.shape) for t in intermediates], "data_config": data}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = []
    for name in sa.list_models(task="classify"):
        try:
            rows.append(check(name, device))
        except Exception as err:  # noqa: BLE001  (every model is tried; the row records what failed)
            rows.append({"model": name, "status": "error", "error": f"{type(err).__name__}: {err}",
                         "traceback": traceback.format_exc()[-1500:]})
        print(f"{name:<20} {rows[-1]['status']}", flush=True)
    with open(args.out, "w") as f:
        json.dump({"device": str(device), "rows": rows}, f, indent=2, default=str)
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
