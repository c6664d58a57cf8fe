"""Do the low-light nets' 1x1 convs run faster as matrix products (`PointwiseConv`) than as convs (cuDNN)? Times
each model's inference forward (batch 1, bf16, eager) both ways in the same process, at each resolution, and
prints and saves ms, img/s and peak memory. The conv side calls nn.Conv2d.forward (cuDNN on the GPU) on the same modules. A CPU
run works too (fp32, slower); on the GPU, under a minute.

    PYTHONPATH=src python3 benchmarks/llie_pointwise_ab.py --res 1080x1920,2160x3840 --out pointwise_ab.json
"""
from __future__ import annotations

import argparse
import json
from functools import partial

import torch
from torch import nn

import saga_attention as sa
from saga_attention.bench.measure import peak_memory_mib, resolve_device, time_ms
from saga_attention.models.llie import PointwiseConv


def as_convs(model: nn.Module, convs: bool) -> int:
    """Route every PointwiseConv of `model` through nn.Conv2d.forward (convs=True) or its own forward; the count."""
    layers = [m for m in model.modules() if isinstance(m, PointwiseConv)]
    for layer in layers:
        if convs:
            layer.forward = partial(nn.Conv2d.forward, layer)
        else:
            layer.__dict__.pop("forward", None)
    return len(layers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="saga_llie_small,llie_channel_small")
    parser.add_argument("--res", default="1080x1920,2160x3840", help="HxW,HxW,...")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    device = resolve_device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    rows = []
    for name in args.models.split(","):
        model = sa.create_model(name).to(device, dtype).eval()
        for res in args.res.split(","):
            h, w = (int(s) for s in res.split("x"))
            x = torch.rand(1, 3, h, w, device=device, dtype=dtype)
            for convs in (True, False):
                layers = as_convs(model, convs)
                with torch.inference_mode():
                    ms = time_ms(lambda: model(x), device, warmup=2, repeats=args.repeats)
                    mib, method = peak_memory_mib(lambda: model(x), device)
                rows.append({"model": name, "res": res, "one_by_one": "nn.Conv2d" if convs else "matrix product",
                             "layers": layers, "ms": round(ms, 2), "img_per_s": round(1000 / ms, 2),
                             "peak_mib": None if mib is None else round(mib), "memory": method})
                print(json.dumps(rows[-1]), flush=True)
    with open(args.out, "w") as f:
        json.dump({"device": str(device), "dtype": str(dtype), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
