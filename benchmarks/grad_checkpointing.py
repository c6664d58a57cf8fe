"""Gradient checkpointing: the same training step in less memory. For each model: one forward + backward with
and without `set_grad_checkpointing`, the largest gradient difference between the two, peak memory and time.

Run from the repository root (CPU here, or a GPU):
  PYTHONPATH=src python3 benchmarks/grad_checkpointing.py --models saga_pvt_tiny,pvt_tiny --res 1024 --batch 2 \
      --device cpu --out gc.json
"""
from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F

import saga_attention as sa
from saga_attention.bench import environment, peak_memory_mib, resolve_device, time_ms
from saga_attention.models import split_specs


def measure(spec: str, res: int, batch: int, device: torch.device, repeats: int) -> dict:
    torch.manual_seed(0)
    model = sa.create_model(spec, num_classes=10).to(device).train()
    x = torch.randn(batch, 3, res, res, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    amp = device.type == "cuda"                      # bf16 autocast on the GPU, as saga train does

    def step() -> float:
        model.zero_grad(set_to_none=True)
        torch.manual_seed(0)                         # the same drop-path masks in both runs
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(model(x).float(), y)
        loss.backward()
        return loss.item()

    row = {"model": spec, "res": res, "batch": batch, "amp_bf16": amp}
    grads = {}
    for checkpointing in (False, True):
        model.set_grad_checkpointing(checkpointing)
        key = "checkpointing" if checkpointing else "plain"
        row[f"{key}_loss"] = step()
        grads[key] = [p.grad.detach().float().clone() for p in model.parameters()]
        row[f"{key}_peak_mib"], row["mem_method"] = peak_memory_mib(step, device)
        row[f"{key}_ms"] = time_ms(step, device, warmup=1, repeats=repeats)
    row["max_rel_grad_diff"] = max(((a - b).norm() / b.norm().clamp_min(1e-30)).item()
                                   for a, b in zip(grads["checkpointing"], grads["plain"]))
    row["memory_saved"] = 1 - row["checkpointing_peak_mib"] / row["plain_peak_mib"]
    row["time_ratio"] = row["checkpointing_ms"] / row["plain_ms"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="saga_pvt_tiny,pvt_tiny")
    parser.add_argument("--res", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    device = resolve_device(args.device)
    rows = [measure(spec, args.res, args.batch, device, args.repeats) for spec in split_specs(args.models)]
    with open(args.out, "w") as f:
        json.dump({"environment": environment(device), "rows": rows}, f, indent=2)
    print(f"{'model':<16}{'peak MiB plain':>16}{'checkpointed':>14}{'saved':>8}{'time x':>8}{'grad diff':>11}")
    for r in rows:
        print(f"{r['model']:<16}{r['plain_peak_mib']:>16.0f}{r['checkpointing_peak_mib']:>14.0f}"
              f"{r['memory_saved']:>8.0%}{r['time_ratio']:>8.2f}{r['max_rel_grad_diff']:>11.1e}")


if __name__ == "__main__":
    main()
