"""Does training get faster with the narrow-row LayerNorm kernel's backward (layers.LayerNorm backend "triton")
than with aten's LayerNorm? First the norm alone, forward + backward at PVT-T stage 1's 64 channels; then one
training step (forward, loss, backward, AdamW: `saga bench --mode train`'s step) of each model with every
layers.LayerNorm on aten ("torch"), on the default ("auto": the kernel on norms of >= ops.norm.TRAIN_MIN_ROWS rows),
on the kernel ("triton"), and on the kernel only where a norm sees at least N rows ("triton:N"), in the same process, every variant `--rounds` times in turn. (The MLP's own norm, inside
ops.mlp.norm_mlp, stays aten's in training either way.) Prints and saves ms and peak memory.

    PYTHONPATH=src python3 benchmarks/layer_norm_train_ab.py --res 1280 --batch 2,8 --out layer_norm_ab.json
"""
from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F

import saga_attention as sa
from saga_attention.bench.measure import peak_memory_mib, resolve_device, time_ms
from saga_attention.bench.runner import step_fn
from saga_attention.ops.norm import TRAIN_MIN_ROWS, layer_norm


def rows_seen(model: torch.nn.Module, step) -> dict[torch.nn.Module, int]:
    """How many rows each layers.LayerNorm of `model` normalises in one call of `step`."""
    rows, hooks = {}, []
    for norm in (m for m in model.modules() if isinstance(m, sa.layers.LayerNorm)):
        hooks.append(norm.register_forward_pre_hook(lambda m, args: rows.__setitem__(m, args[0].numel() // args[0].shape[-1])))
    step()
    for hook in hooks:
        hook.remove()
    return rows


def set_backend(rows: dict[torch.nn.Module, int], variant: str) -> int:
    """Every layers.LayerNorm on `variant`'s backend: "torch", "auto", "triton", or "triton:N" (the kernel where a
    norm sees at least N rows, aten's elsewhere); how many train on the kernel."""
    backend, _, least = variant.partition(":")
    for norm, count in rows.items():
        norm.backend = "torch" if least and count < int(least) else backend
    return sum(norm.backend == "triton" or (norm.backend == "auto" and count >= TRAIN_MIN_ROWS) for norm, count
               in rows.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="pvt_tiny,saga_pvt_tiny")
    parser.add_argument("--res", type=int, default=1280)
    parser.add_argument("--batch", default="2,8")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--variants", default="torch,auto,triton",
                        help='"torch" (aten), "auto" (the default), "triton", "triton:N" (the kernel on norms of >= N rows)')
    parser.add_argument("--rounds", type=int, default=1, help="measure every variant this many times, in turn")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    device = resolve_device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    rows = []
    tokens = 4 * (args.res // 4) ** 2                       # batch 4 of stage 1
    x = torch.randn(tokens, 64, device=device, dtype=dtype, requires_grad=True)
    weight, bias = (torch.randn(64, device=device, requires_grad=True) for _ in range(2))
    grad = torch.randn_like(x)
    for backend in ("torch", "triton"):
        def norm_step():
            out = layer_norm(x, weight.to(dtype), bias.to(dtype), 1e-6, backend=backend)
            torch.autograd.grad(out, (x, weight, bias), grad)
        rows.append({"part": "LayerNorm fwd+bwd", "shape": [tokens, 64], "backend": backend,
                     "ms": round(time_ms(norm_step, device, repeats=args.repeats), 4)})
        print(json.dumps(rows[-1]), flush=True)
    for name in args.models.split(","):
        for batch in (int(b) for b in args.batch.split(",")):
            model = sa.create_model(name).to(device).train()
            images = torch.randn(batch, 3, args.res, args.res, device=device)
            step = step_fn(model, images, "train", dtype)
            seen = rows_seen(model, step)
            for turn in range(args.rounds):
                for variant in args.variants.split(","):
                    on_kernel = set_backend(seen, variant)
                    step()
                    mib, method = peak_memory_mib(step, device)
                    ms = time_ms(step, device, repeats=args.repeats)
                    rows.append({"part": "train step", "model": name, "res": args.res, "batch": batch, "round": turn,
                                 "layer_norm": variant, "norms": len(seen), "on_kernel": on_kernel, "ms": round(ms, 3),
                                 "img_per_s": round(batch * 1e3 / ms, 2),
                                 "peak_mib": None if mib is None else round(mib), "memory": method})
                    print(json.dumps(rows[-1]), flush=True)
            del model, images, step
    with open(args.out, "w") as f:
        json.dump({"device": str(device), "dtype": str(dtype), "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
