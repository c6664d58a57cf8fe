"""Training throughput with DistributedDataParallel on every process torchrun starts (or on one process):
synthetic batches (no data loading), bf16 autocast on CUDA, fused AdamW, as `saga train` steps.

Run from the repository root, e.g.
  PYTHONPATH=src torchrun --nproc_per_node 2 benchmarks/ddp_throughput.py --model saga_pvt_tiny --res 224 \
      --batch 128 --out ddp2.json
Each rank's step times are gathered, so a straggler shows; rank 0 writes the JSON.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from saga_attention.bench import parse_resolution
from saga_attention.models import create_model, model_config, parse_model_spec
from saga_attention.train import distributed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="saga_pvt_tiny")
    parser.add_argument("--res", default="224", help="N or HxW")
    parser.add_argument("--batch", type=int, default=128, help="per process")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    process = distributed.setup(args.device)
    spec = parse_model_spec(args.model)
    classify = model_config(spec.name).task == "classify"
    torch.manual_seed(0)
    model = create_model(spec).to(process.device).train()
    step_model = model if process.world == 1 else DistributedDataParallel(
        model, device_ids=[process.device.index] if process.device.type == "cuda" else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=process.device.type == "cuda")
    x = torch.randn(args.batch, 3, *parse_resolution(args.res), device=process.device)
    target = (torch.randint(0, model.num_classes, (args.batch,), device=process.device) if classify
              else torch.rand_like(x))
    loss_fn = F.cross_entropy if classify else F.l1_loss
    sync = torch.cuda.synchronize if process.device.type == "cuda" else (lambda: None)
    times = []
    for i in range(args.warmup + args.steps):
        sync()
        start = time.perf_counter()
        with torch.autocast(process.device.type, dtype=torch.bfloat16, enabled=process.device.type == "cuda"):
            loss = loss_fn(step_model(x).float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sync()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    per_rank = distributed.all_gather_objects(times, process)
    if process.main:
        slowest = [max(step) for step in zip(*per_rank)]       # every step waits for the slowest rank
        mean_step = sum(slowest) / len(slowest)
        result = {"model": args.model, "res": args.res, "batch_per_process": args.batch, "processes": process.world,
                  "device": torch.cuda.get_device_name() if process.device.type == "cuda" else "cpu",
                  "step_s": mean_step, "samples_per_s": args.batch * process.world / mean_step,
                  "rank_mean_step_s": [sum(t) / len(t) for t in per_rank]}
        print(json.dumps(result))
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    distributed.teardown()


if __name__ == "__main__":
    main()
