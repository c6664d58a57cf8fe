"""`saga train` and `saga eval`: the training loop and evaluation of image classifiers.

A run folder holds config.yaml (the resolved config), command.txt, metrics.jsonl / .csv,
curves.png, last.safetensors (the whole training state, written atomically after every epoch)
and best.safetensors (the weights with the best validation top-1). `resume` continues from
last.safetensors exactly: each epoch's data order, augmentation and dropout are seeded from
(seed, epoch, rank), so an interrupted run and an uninterrupted one end with the same weights.
"""
from __future__ import annotations

import copy
import json
import math
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from .. import __version__
from ..bench import new_run_dir
from ..data import mix_batch, normalize
from ..models import create_model, load_checkpoint, save_checkpoint
from . import distributed
from .checkpoint import load_train_state, save_train_state
from .config import TrainConfig, load_config, to_yaml
from .data import build_datasets, class_names, loader, val_dataset
from .log import MetricsLog

LAST, BEST = "last.safetensors", "best.safetensors"


def lr_at(step: int, total: int, warmup: int, peak: float, floor: float) -> float:
    """Linear warmup from 0 to `peak` over `warmup` steps, then cosine decay to `floor` at `total`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * min(1.0, progress)))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: no weight decay on biases, norms and position embeddings (DeiT/PVT)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 or "pos_embed" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    for e, m in zip(ema.state_dict().values(), model.state_dict().values()):
        if e.dtype.is_floating_point:
            e.lerp_(m, 1 - decay)
        else:
            e.copy_(m)


def autocast(config: TrainConfig, device: torch.device):
    """bf16 autocast on CUDA (amp auto or bf16); nothing on CPU with amp auto."""
    use = config.amp == "bf16" or (config.amp == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16) if use else nullcontext()


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable, config: TrainConfig, process: distributed.Process,
             desc: str = "eval") -> dict[str, float]:
    """Top-1, top-5 (%) and mean cross-entropy over every process's shard; unreadable files are counted."""
    model.eval()
    sums = [0.0, 0.0, 0.0, 0.0, 0.0]          # loss, top-1 hits, top-5 hits, images, skipped
    for images, labels, problems in tqdm(batches, desc=desc, leave=False, disable=not process.main):
        sums[4] += len(problems)
        if not len(labels):
            continue
        images, labels = normalize(images.to(process.device)), labels.to(process.device)
        with autocast(config, process.device):
            logits = model(images).float()
        top = logits.topk(min(5, logits.shape[-1]), dim=-1).indices
        sums[0] += F.cross_entropy(logits, labels, reduction="sum").item()
        sums[1] += (top[:, 0] == labels).sum().item()
        sums[2] += (top == labels[:, None]).any(-1).sum().item()
        sums[3] += len(labels)
    loss, top1, top5, count, skipped = distributed.all_sum(sums, process)
    if count == 0:
        raise ValueError("no readable validation images")
    return {"loss": loss / count, "top1": 100 * top1 / count, "top5": 100 * top5 / count,
            "images": int(count), "skipped": int(skipped)}


@dataclass
class Run:
    """What the loop needs besides the config."""

    model: nn.Module          # the bare model (state_dict, checkpoints)
    step_model: nn.Module     # what the step calls: DDP and/or compiled around it
    optimizer: torch.optim.Optimizer
    ema: nn.Module | None
    process: distributed.Process
    num_classes: int


def train_step(run: Run, config: TrainConfig, images: Tensor, labels: Tensor, lr: float) -> float:
    """One optimisation step on a batch (uint8 images on the device); returns the loss."""
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    images, targets = mix_batch(normalize(images), labels, run.num_classes, config.label_smoothing, config.mixup,
                                config.cutmix, config.mix_prob, config.mix_switch_prob)
    with autocast(config, run.process.device):
        logits = run.step_model(images).float()
    loss = torch.sum(-targets * logits.log_softmax(-1), dim=-1).mean()
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.clip_grad > 0:
        nn.utils.clip_grad_norm_(run.model.parameters(), config.clip_grad)
    run.optimizer.step()
    if run.ema is not None:
        update_ema(run.ema, run.model, config.ema_decay)
    return loss.item()


def _seed(config: TrainConfig, epoch: int, rank: int) -> int:
    """The seed of one epoch on one process (data order, augmentation, mixing, drop path)."""
    return (config.seed * 1_000_003 + epoch) * 1_009 + rank


def build_model(config: TrainConfig, num_classes: int, **overrides) -> nn.Module:
    """The model a config names, with its architecture overrides (model_kwargs) and `overrides`."""
    return create_model(config.model, num_classes=num_classes, img_size=config.img_size,
                        **config.model_kwargs, **overrides)


def run_config(run_dir: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """The config.yaml of a saga train run folder, with overrides; ValueError for any other folder."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise ValueError(f"{str(run_dir)!r} is not a run folder of saga train (it has no config.yaml)")
    return load_config(path, overrides)


def run_dir_of(config: TrainConfig, process: distributed.Process) -> Path:
    """config.out, or a new runs/<model>-<data>-<time> folder named by rank 0 for every process."""
    if config.out:
        return Path(config.out)
    name = None
    if process.main:
        name = str(new_run_dir("runs", f"{config.model}-{Path(config.data).name or 'data'}"))
    return Path(distributed.broadcast_text(name, process))


def train(config: TrainConfig, run_dir: Path | None = None, resume: bool = False, command: str = "") -> dict:
    """Train (or resume) in `run_dir` (default: `run_dir_of`); return the summary also written to
    `<run>/summary.json`."""
    process = distributed.setup(config.device)
    try:
        return _train(config, run_dir or run_dir_of(config, process), resume, command, process)
    finally:
        distributed.teardown()


def _train(config: TrainConfig, run_dir: Path, resume: bool, command: str, process: distributed.Process) -> dict:
    say = print if process.main else (lambda *a, **k: None)
    if not resume and (run_dir / LAST).exists():
        raise ValueError(f"{run_dir} already holds a run; resume it with `saga train --resume {run_dir}` or "
                         "choose another out=")
    if process.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(to_yaml(config))
        (run_dir / "command.txt").write_text(f"{command}\nsaga-attention {__version__}, torch {torch.__version__}, "
                                             f"{process.world} process(es) on {process.device.type}\n")
    torch.manual_seed(config.seed)                       # the same initial weights on every process
    datasets = build_datasets(config)
    model = build_model(config, len(datasets.classes), drop_path_rate=config.drop_path).to(process.device)
    ema = copy.deepcopy(model).requires_grad_(False) if config.ema_decay > 0 else None
    optimizer = torch.optim.AdamW(param_groups(model, config.weight_decay), lr=config.lr)
    counters = {"epoch": 0, "best_top1": -1.0}
    if resume:
        counters = load_train_state(run_dir / LAST, model, optimizer, ema)
        say(f"resuming {run_dir} after epoch {counters['epoch']} of {config.epochs}")
    step_model = model
    if process.world > 1:
        step_model = DistributedDataParallel(model, device_ids=[process.device.index]
                                             if process.device.type == "cuda" else None)
    if config.compile:
        step_model = torch.compile(step_model)
    run = Run(model, step_model, optimizer, ema, process, len(datasets.classes))
    log = MetricsLog(run_dir, keep_epochs=counters["epoch"]) if process.main else None
    scale = config.batch_size * process.world / 512
    steps_per_epoch = len(datasets.train) // process.world // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"the training set ({len(datasets.train)} images) is smaller than one batch "
                         f"({config.batch_size} per process x {process.world}); lower batch_size")
    total, warmup = steps_per_epoch * config.epochs, round(steps_per_epoch * config.warmup_epochs)
    say(f"training {config.model} on {datasets.source}: {len(datasets.train)} train / {len(datasets.val)} val "
        f"images, {len(datasets.classes)} classes, {process.world} process(es) on {process.device.type}, "
        f"{config.epochs} epochs of {steps_per_epoch} steps; run folder {run_dir}")
    val_batches = loader(datasets.val, config, process, None)
    for epoch in range(counters["epoch"], config.epochs):
        torch.manual_seed(_seed(config, epoch, process.rank))
        model.train()
        start, losses, seen, skipped = time.perf_counter(), 0.0, 0, []
        batches = loader(datasets.train, config, process, _seed(config, epoch, 0))
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{config.epochs}", disable=not process.main, leave=False)
        for i, (images, labels, problems) in enumerate(bar):
            skipped += problems
            if not len(labels):
                continue
            lr = lr_at(epoch * steps_per_epoch + i, total, warmup, config.lr * scale, config.min_lr * scale)
            loss = train_step(run, config, images.to(process.device, non_blocking=True),
                              labels.to(process.device, non_blocking=True), lr)
            losses, seen = losses + loss * len(labels), seen + len(labels)
            bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.2e}")
        train_loss, seen_all, skipped_all = distributed.all_sum([losses, seen, len(skipped)], process)
        seconds = time.perf_counter() - start
        metrics = evaluate(model, val_batches, config, process)
        row = {"epoch": epoch + 1, "train_loss": train_loss / max(seen_all, 1), "val_loss": metrics["loss"],
               "val_top1": metrics["top1"], "val_top5": metrics["top5"], "lr": lr,
               "images_per_s": seen_all / seconds, "epoch_s": seconds,
               "skipped_files": int(skipped_all + metrics["skipped"])}
        best_module, best_top1 = model, metrics["top1"]
        if ema is not None:
            ema_metrics = evaluate(ema, val_batches, config, process, desc="eval EMA")
            row.update(ema_top1=ema_metrics["top1"], ema_top5=ema_metrics["top5"])
            if ema_metrics["top1"] > best_top1:
                best_module, best_top1 = ema, ema_metrics["top1"]
        if skipped:
            print(f"[rank {process.rank}] epoch {epoch + 1}: skipped {len(skipped)} unreadable file(s): "
                  + "; ".join(sorted(set(skipped))[:5]), file=sys.stderr, flush=True)
        improved = best_top1 > counters["best_top1"]
        counters = {"epoch": epoch + 1, "best_top1": max(best_top1, counters["best_top1"])}
        if process.main:
            log.add(row)
            if improved:
                save_checkpoint(best_module, run_dir / BEST)
            save_train_state(run_dir / LAST, model, optimizer, ema, counters)
            say(f"epoch {epoch + 1}/{config.epochs}: train loss {row['train_loss']:.4f}, val loss "
                f"{row['val_loss']:.4f}, top-1 {row['val_top1']:.2f}%, top-5 {row['val_top5']:.2f}%"
                + (f", EMA top-1 {row['ema_top1']:.2f}%" if ema is not None else "")
                + f", {row['images_per_s']:.0f} img/s", flush=True)
        distributed.barrier(process)
    checksum = float(sum(p.double().sum() + p.double().square().sum() for p in model.state_dict().values()))
    checksums = distributed.all_gather(checksum, process)
    summary = {"model": config.model, "data": config.data, "epochs": counters["epoch"],
               "best_top1": counters["best_top1"], "last": log.rows[-1] if log and log.rows else None,
               "processes": process.world, "rank_checksums": checksums,
               "ranks_agree": all(c == checksums[0] for c in checksums)}
    if process.main:
        log.plot(f"{config.model} on {datasets.source}")
        log.close()
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        say(f"done: best top-1 {summary['best_top1']:.2f}%; curves {run_dir / 'curves.png'}"
            + ("" if summary["ranks_agree"] else "; WARNING: the processes' weights differ"))
    return summary


def eval_setup(checkpoint: str | Path, overrides: list[str]) -> tuple[Path, TrainConfig]:
    """(weights, config) of a run folder (its config.yaml and best.safetensors, overrides on top) or of a
    weights file (the default config with the overrides, e.g. model=... data=... img_size=...)."""
    path = Path(checkpoint)
    if path.is_dir():
        return path / BEST, run_config(path, overrides)
    return path, load_config(None, overrides)


def run_eval(checkpoint: str | Path, overrides: list[str]) -> dict:
    """Top-1, top-5 and loss of a checkpoint on its config's validation set."""
    weights, config = eval_setup(checkpoint, overrides)
    process = distributed.setup(config.device)
    try:
        classes = class_names(config)
        model = load_checkpoint(build_model(config, len(classes)), weights).to(process.device)
        metrics = evaluate(model, loader(val_dataset(config, classes), config, process, None), config, process)
        return {"checkpoint": str(weights), "model": config.model, "data": config.data, **metrics}
    finally:
        distributed.teardown()

