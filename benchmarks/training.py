"""Training: samples per second of whole steps (forward, loss, backward, AdamW) on synthetic batches, on one
process or every process torchrun starts (DistributedDataParallel), and what gradient checkpointing saves.

    PYTHONPATH=src python3 benchmarks/training.py throughput --model saga_pvt_tiny --res 224 --batch 32
    PYTHONPATH=src torchrun --nproc_per_node 2 benchmarks/training.py throughput --batch 128 --out runs/ddp2.json
    PYTHONPATH=src python3 benchmarks/training.py checkpointing --model saga_pvt_tiny,pvt_tiny --res 1024 --batch 2

On a 2-core CPU, throughput at 224 and batch 8 takes about a minute per model, checkpointing at 512 two.
Steps run as `saga train` runs them: bf16 autocast on CUDA, fused AdamW, no data loading.
"""
from __future__ import annotations

import argparse
import sys
import time

import torch
import torch.nn.functional as F
from common import device_argument, out_argument, the_device, write_results
from torch.nn.parallel import DistributedDataParallel

from saga_attention.bench.runner import parse_resolution
from saga_attention.measure import peak_memory_mib, time_ms
from saga_attention.models import create_model, model_config, parse_model_spec, split_specs
from saga_attention.train import distributed


def loss_of(model, x, target, device: torch.device):
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        out = model(x).float()
    return F.cross_entropy(out, target) if target.dtype == torch.long else F.l1_loss(out, target)


def batch_for(spec, model, batch: int, res: str, device: torch.device):
    x = torch.randn(batch, 3, *parse_resolution(res), device=device)
    if model_config(spec.name).task == "classify":
        return x, torch.randint(0, model.num_classes, (batch,), device=device)
    return x, torch.rand_like(x)


def throughput(spec_text: str, args, process) -> dict | None:
    """Mean time of a step (the slowest process's, which every step waits for) and samples per second."""
    spec = parse_model_spec(spec_text)
    torch.manual_seed(0)
    model = create_model(spec).to(process.device).train()
    step_model = model if process.world == 1 else DistributedDataParallel(
        model, device_ids=[process.device.index] if process.device.type == "cuda" else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=process.device.type == "cuda")
    x, target = batch_for(spec, model, args.batch, args.res, process.device)
    sync = torch.cuda.synchronize if process.device.type == "cuda" else (lambda: None)
    times = []
    for i in range(args.warmup + args.steps):
        sync()
        start = time.perf_counter()
        loss = loss_of(step_model, x, target, process.device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        sync()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    per_rank = distributed.all_gather_objects(times, process)
    slowest = [max(step) for step in zip(*per_rank)]
    step_s = sum(slowest) / len(slowest)
    return {"model": spec_text, "res": args.res, "batch_per_process": args.batch, "processes": process.world,
            "step_ms": step_s * 1e3, "samples_per_s": args.batch * process.world / step_s}


def checkpointing(spec_text: str, args, device: torch.device) -> dict:
    """One forward + backward with and without set_grad_checkpointing: peak memory, time, gradient difference."""
    torch.manual_seed(0)
    model = create_model(spec_text, num_classes=10).to(device).train()
    x, target = torch.randn(args.batch, 3, *parse_resolution(args.res), device=device), \
        torch.randint(0, 10, (args.batch,), device=device)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        torch.manual_seed(0)                         # the same drop-path masks in both runs
        loss_of(model, x, target, device).backward()

    row: dict = {"model": spec_text, "res": args.res, "batch": args.batch}
    grads = {}
    for on in (False, True):
        model.set_grad_checkpointing(on)
        key = "checkpointed" if on else "plain"
        step()
        grads[key] = [p.grad.detach().float().clone() for p in model.parameters()]
        row[f"{key}_peak_mib"], _ = peak_memory_mib(step, device)
        row[f"{key}_ms"] = time_ms(step, device, warmup=1, repeats=args.steps)
    row["max_rel_grad_diff"] = max(((a - b).norm() / b.norm().clamp_min(1e-30)).item()
                                   for a, b in zip(grads["checkpointed"], grads["plain"]))
    if row["plain_peak_mib"]:
        row["memory_saved"] = 1 - row["checkpointed_peak_mib"] / row["plain_peak_mib"]
    row["time_ratio"] = row["checkpointed_ms"] / row["plain_ms"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("throughput", "checkpointing"))
    parser.add_argument("--model", "--models", dest="models",
                        default="saga_pvt_tiny", help="comma-separated model specs")
    parser.add_argument("--res", default="224", help="N or HxW")
    parser.add_argument("--batch", type=int, default=8, help="per process")
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3)
    device_argument(parser)
    out_argument(parser, "runs/training/training.json")
    args = parser.parse_args()
    try:
        specs = split_specs(args.models)
        for spec in specs:
            parse_model_spec(spec)
        parse_resolution(args.res)
        if min(args.batch, args.steps) < 1 or args.warmup < 0:
            raise ValueError("--batch and --steps must be >= 1 and --warmup >= 0")
    except ValueError as err:
        print(f"training.py: error: {err}", file=sys.stderr)
        sys.exit(2)
    if args.what == "checkpointing":
        device = the_device(args.device)
        rows = [checkpointing(spec, args, device) for spec in specs]
        write_results(args.out, rows, device, ("model", "res", "batch"),
                      ("memory_saved", "time_ratio", "plain_peak_mib", "checkpointed_peak_mib", "max_rel_grad_diff"),
                      "Gradient checkpointing: one training step's peak memory and time")
        return
    the_device(args.device)                     # a device that is not there: one line, exit 2
    process = distributed.setup(args.device)
    rows = [throughput(spec, args, process) for spec in specs]
    if process.main:
        write_results(args.out, rows, process.device, ("model", "res", "batch_per_process", "processes"),
                      ("samples_per_s", "step_ms"), "Training steps with AdamW (synthetic batches)")
    distributed.teardown()


if __name__ == "__main__":
    main()
