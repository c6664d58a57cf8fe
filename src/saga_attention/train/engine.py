"""The training engine: runs any `Task` (train/task.py) and knows nothing of images or labels.

It owns devices and AMP, DDP (every process takes the same steps), gradient clipping, the warmup +
cosine schedule, EMA, the progress bar with a time estimate, atomic checkpoints with exact resume,
the metrics log and curves, and the best-checkpoint rule the task names. A run folder holds
config.yaml, command.txt (every command that wrote to it), metrics.jsonl / .csv, curves.png,
last.safetensors (the whole training state after every epoch) and best.safetensors (weights).
Each epoch's data order, augmentation and dropout are seeded from (seed, epoch, rank), so a resumed
run ends with the same weights as an uninterrupted one.
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
from typing import Sequence

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..models import load_checkpoint, parse_model_spec, read_checkpoint, save_checkpoint, shipped_models
from ..models.registry import WEIGHTS_DIR
from ..progress import progress
from ..runs import (
    check_new_run_dir,
    clean_partial_writes,
    folder_sizes,
    human_bytes,
    is_run_dir,
    new_run_dir,
    start_run,
)
from ..version import __version__
from . import distributed
from .checkpoint import load_train_state, save_train_state
from .config import load_config, to_yaml
from .data import loader
from .engine_settings import TrainConfig
from .log import MetricsLog
from .task import Task, get_task

LAST, BEST = "last.safetensors", "best.safetensors"
POSTFIX_EVERY = 20        # steps between progress-bar loss readings (each waits for the GPU)
WARMUP_SHARE = 0.2        # warmup takes at most this share of the run's steps


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training; `message` says where the last checkpoint is and how to resume."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def lr_at(step: int, total: int, warmup: int, peak: float, floor: float) -> float:
    """Linear warmup from 0 to `peak` over `warmup` steps, then cosine decay to `floor` at `total`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * min(1.0, progress)))


def warmup_steps(warmup_epochs: float, steps_per_epoch: int, total: int) -> int:
    """The warmup in steps, scaled to the run: never more than WARMUP_SHARE of it."""
    return round(min(steps_per_epoch * warmup_epochs, int(total * WARMUP_SHARE)))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: no weight decay on what the model's `no_weight_decay()` names (timm's contract), or, for a
    model without it, on every parameter of one dimension (biases, norms)."""
    skip = model.no_weight_decay() if hasattr(model, "no_weight_decay") else set()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 or name in skip else decay).append(p)
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
    amp = config.engine.amp
    use = amp == "bf16" or (amp == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16) if use else nullcontext()


def _say(process: distributed.Process):
    return (lambda *a, **k: tqdm.write(" ".join(map(str, a)))) if process.main else (lambda *a, **k: None)


@torch.no_grad()
def evaluate(task: Task, model: nn.Module, batches, desc: str = "eval") -> dict[str, float]:
    """The task's metrics over every process's shard, with 'count' and 'skipped' (unreadable files, named
    on stderr). ValueError when nothing was readable or a metric is not finite (broken weights)."""
    process = task.process
    model.eval()
    sums: dict[str, float] = {}
    problems: list[str] = []
    for batch in progress(batches, enabled=process.main, desc=desc, leave=False):
        problems += batch[-1]
        with autocast(task.config, process.device):
            for key, value in task.evaluate_batch(model, batch).items():
                sums[key] = sums.get(key, 0.0) + value
    keys = sorted(set().union(*distributed.all_gather_objects(sorted(sums), process)) | {"count"})
    *values, skipped = distributed.all_sum([sums.get(k, 0.0) for k in keys] + [float(len(problems))], process)
    totals, skipped = dict(zip(keys, values)), int(skipped)
    if problems:
        print(f"[rank {process.rank}] {desc}: skipped {len(problems)} unreadable file(s): "
              + "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else ""), file=sys.stderr, flush=True)
    if totals.get("count", 0) == 0:
        raise ValueError(f"{desc}: no readable validation samples ({skipped} unreadable)")
    metrics = task.finish(totals)
    broken = [k for k, v in metrics.items() if not math.isfinite(v)]
    if broken:
        bad = sum(int((~torch.isfinite(p)).sum()) for p in model.state_dict().values() if p.is_floating_point())
        raise ValueError(f"{desc}: the model's outputs are not finite ({', '.join(broken)} = "
                         f"{metrics[broken[0]]}); {bad} of its weights are NaN or infinite")
    return {**metrics, "count": int(totals["count"]), "skipped": skipped}


@dataclass
class Run:
    """What the loop holds besides the config."""

    task: Task
    model: nn.Module          # the bare model (state_dict, checkpoints)
    step_model: nn.Module     # what the step calls: DDP and/or compiled around it
    optimizer: torch.optim.Optimizer
    ema: nn.Module | None


def train_step(run: Run, batch: tuple, lr: float) -> tuple[torch.Tensor, int]:
    """One optimisation step on a batch; returns (the detached loss, samples). The loss stays on the device,
    so the host can queue the next step while this one runs."""
    config = run.task.config
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    if config.engine.compile == "reduce-overhead":
        torch.compiler.cudagraph_mark_step_begin()        # the graph's outputs of the last step may be reused
    with autocast(config, run.task.process.device):
        loss, count = run.task.loss(run.step_model, batch)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.engine.clip_grad > 0:
        nn.utils.clip_grad_norm_(run.model.parameters(), config.engine.clip_grad)
    run.optimizer.step()
    if run.ema is not None:
        update_ema(run.ema, run.model, config.engine.ema_decay)
    return loss.detach(), count


def epoch_seed(config: TrainConfig, epoch: int, rank: int) -> int:
    """The seed of one epoch on one process (data order, augmentation, mixing, drop path)."""
    return (config.engine.seed * 1_000_003 + epoch) * 1_009 + rank


def run_config(run_dir: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """The config.yaml of a saga train run folder, with overrides; ValueError for any other folder."""
    path = Path(run_dir)
    if not path.exists():
        raise ValueError(f"{str(run_dir)!r} does not exist")
    if not is_run_dir(path):
        raise ValueError(f"{str(run_dir)!r} is not a run folder of saga train (it has no config.yaml)")
    return load_config(path / "config.yaml", overrides)


def _run_dir(config: TrainConfig, task: type[Task], process: distributed.Process) -> Path:
    """config.out, or a new runs/<model>-<label>-<time> folder named by rank 0 for every process."""
    if config.engine.out:
        return Path(config.engine.out)
    name = None
    if process.main:
        label = task.run_label(config)
        name = str(new_run_dir("runs", f"{config.engine.model.split(':')[0]}-{label}", create=False))
    return Path(distributed.broadcast_text(name, process))


def train(config: TrainConfig, run_dir: Path | str | None = None, resume: bool = False, command: str = "") -> dict:
    """Train (or resume) in `run_dir` (default: config.out or a new folder under runs/); return the summary
    also written to `<run>/summary.json`. The folder is checked first and written only once the data, the
    model and (on resume) the checkpoint have loaded."""
    process = distributed.setup(config.engine.device)
    try:
        task_class = get_task(config.task_name)
        run_dir = Path(run_dir) if run_dir else _run_dir(config, task_class, process)
        problem = None
        if process.main:                 # one process probes the folder; every process learns the answer
            try:
                (_check_resumable if resume else check_new_run_dir)(run_dir)
            except ValueError as err:
                problem = str(err)
        problem = distributed.broadcast_text(problem, process)
        if problem:
            raise ValueError(problem)
        if resume and not (run_dir / LAST).is_file():    # stopped before its first checkpoint: start again
            _say(process)(f"{run_dir} has no checkpoint yet (stopped before its first epoch ended): starting it "
                          "again in place")
            resume = False
        history = (f"{command or 'saga train (from Python)'}  # saga-attention {__version__}, torch "
                   f"{torch.__version__}, {process.world} process(es) on {process.device.type}"
                   + (", resumed" if resume else ""))
        return _train(task_class(config, process), run_dir, resume, history)
    finally:
        distributed.teardown()


def _check_resumable(run_dir: Path) -> None:
    """ValueError unless `run_dir` can go on: a run folder with its last checkpoint, or one stopped before any
    epoch finished (it starts again in place)."""
    if not is_run_dir(run_dir):
        raise ValueError(f"{str(run_dir)!r} is not a run folder of saga train (it has no config.yaml)")
    if not (run_dir / LAST).is_file() and (run_dir / BEST).is_file():
        raise ValueError(f"{run_dir} has no {LAST} to resume from: the run was started with resumable=false; start "
                         "it again with another out=")


def _train(task: Task, run_dir: Path, resume: bool, history: str) -> dict:
    config, process = task.config, task.process
    engine, say = config.engine, _say(process)
    torch.manual_seed(engine.seed)                       # the same initial weights on every process
    datasets = task.datasets()
    steps_per_epoch = len(datasets.train) // process.world // engine.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"the training set ({len(datasets.train)} samples) is smaller than one batch "
                         f"({engine.batch_size} per process x {process.world}); lower batch_size")
    model = task.build_model().to(process.device)
    if engine.grad_checkpointing:
        if not hasattr(model, "set_grad_checkpointing"):
            raise ValueError(f"grad_checkpointing=true: {engine.model} has no set_grad_checkpointing; set it false")
        model.set_grad_checkpointing(True)
    ema = copy.deepcopy(model).requires_grad_(False) if engine.ema_decay > 0 else None
    optimizer = torch.optim.AdamW(param_groups(model, engine.weight_decay), lr=engine.lr,
                                  fused=process.device.type == "cuda")    # one kernel per step on the GPU
    counters = {"epoch": 0, "best": None}
    if resume:
        removed = clean_partial_writes(run_dir) if process.main else []
        counters = load_train_state(run_dir / LAST, model, optimizer, ema)
        say(f"resuming {run_dir} after epoch {counters['epoch']} of {engine.epochs}"
            + (f"; removed {len(removed)} partial checkpoint write(s)" if removed else ""))
    if process.main:
        start_run(run_dir, to_yaml(config), history)
    distributed.barrier(process)
    step_model = model
    if process.world > 1:
        step_model = DistributedDataParallel(model, device_ids=[process.device.index]
                                             if process.device.type == "cuda" else None)
    if engine.compile != "false":
        step_model = torch.compile(step_model, mode="reduce-overhead" if engine.compile == "reduce-overhead" else None)
    run = Run(task, model, step_model, optimizer, ema)
    log = MetricsLog(run_dir, keep_epochs=counters["epoch"]) if process.main else None
    scale = task.lr_scale(engine.batch_size * process.world)
    total = steps_per_epoch * engine.epochs
    warmup = warmup_steps(engine.warmup_epochs, steps_per_epoch, total)
    say(f"training {engine.model} ({task.name}) on {datasets.source}: {len(datasets.train)} train / "
        f"{len(datasets.val)} val samples, {process.world} process(es) on {process.device.type}, "
        f"{engine.epochs} epochs of {steps_per_epoch} steps; run folder {run_dir}")
    val_batches = loader(datasets.val, config, process, None, task.collate)
    start = saved = counters["epoch"]
    try:
        for epoch in range(start, engine.epochs):
            row, best_module, best_value = _epoch(run, datasets.train, val_batches, epoch, steps_per_epoch,
                                                  total, warmup, scale, counters, estimate=epoch == start)
            improved = counters["best"] is None or _better(task, best_value, counters["best"])
            counters = {"epoch": epoch + 1, "best": best_value if improved else counters["best"],
                        "best_metric": task.best_metric}
            if process.main:
                log.add(row)
                if improved:
                    save_checkpoint(best_module, run_dir / BEST)
                if engine.resumable:
                    save_train_state(run_dir / LAST, model, optimizer, ema, counters)
            saved = epoch + 1
            say(f"epoch {epoch + 1}/{engine.epochs}: train loss {row['train_loss']:.4f}; validation "
                f"{task.describe({k[4:]: v for k, v in row.items() if k.startswith('val_')})}"
                + (f"; EMA {task.describe({k[4:]: v for k, v in row.items() if k.startswith('ema_')})}"
                   if ema is not None else "") + f", {row['samples_per_s']:.0f} samples/s")
            distributed.barrier(process)
    except KeyboardInterrupt:              # checkpoints are written atomically: `saved` is what is on disk
        raise Interrupted(_resume_hint(run_dir, saved, engine)) from None
    return _finish(run, run_dir, counters, log, datasets.source)


def _better(task: Task, value: float, than: float) -> bool:
    return value > than if task.higher_is_better else value < than


def _epoch(run: Run, train_set, val_batches, epoch: int, steps_per_epoch: int, total: int, warmup: int,
           scale: float, counters: dict, estimate: bool) -> tuple[dict, nn.Module, float]:
    """Train one epoch and evaluate: (log row, the module with the better metric, its value). estimate: say how
    long an epoch and the rest of the run will take, after the first few steps."""
    task, process, engine = run.task, run.task.process, run.task.config.engine
    torch.manual_seed(epoch_seed(task.config, epoch, process.rank))
    run.model.train()
    start, losses, seen, problems = time.perf_counter(), 0.0, 0, []
    if hasattr(train_set, "set_epoch"):          # a stream: this epoch's images
        train_set.set_epoch(epoch)
    batches = loader(train_set, task.config, process, epoch_seed(task.config, epoch, 0), task.collate)
    bar = progress(batches, enabled=process.main, desc=f"epoch {epoch + 1}/{engine.epochs}", leave=False)
    for i, batch in enumerate(bar):
        problems += batch[-1]
        lr = lr_at(epoch * steps_per_epoch + i, total, warmup, engine.lr * scale, engine.min_lr * scale)
        loss, count = train_step(run, batch, lr)
        losses, seen = losses + loss.float() * count, seen + count
        if i % POSTFIX_EVERY == 0 or i == steps_per_epoch - 1:    # reading the loss waits for the GPU
            bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.2e}")
        if i == 0:
            first = time.perf_counter()
        elif estimate and i == min(4, steps_per_epoch - 1):
            loss.item()                                          # wait for the queued steps before timing them
            _estimate(process, (time.perf_counter() - first) / i, steps_per_epoch, engine.epochs - epoch)
    train_loss, seen_all, replaced = distributed.all_sum([float(losses), seen, len(problems)], process)
    seconds = time.perf_counter() - start
    if problems:
        print(f"[rank {process.rank}] epoch {epoch + 1}: replaced {len(problems)} unreadable training file(s) by "
              "others of the set: " + "; ".join(sorted(set(problems))[:5]), file=sys.stderr, flush=True)
    if not math.isfinite(train_loss):
        raise ValueError(f"training diverged in epoch {epoch + 1}: the loss is {train_loss / max(seen_all, 1)}; "
                         f"lower lr (now {engine.lr}) or set clip_grad=1.0; the last good checkpoint is from "
                         f"epoch {counters['epoch']}")
    metrics = evaluate(task, run.model, val_batches)
    row = {"epoch": epoch + 1, "train_loss": train_loss / max(seen_all, 1),
           **{f"val_{k}": metrics[k] for k in task.metrics}, "lr": lr,
           "samples_per_s": seen_all / seconds, "epoch_s": seconds, "skipped_files": int(replaced + metrics["skipped"])}
    best_module, best_value = run.model, metrics[task.best_metric]
    if run.ema is not None:
        ema_metrics = evaluate(task, run.ema, val_batches, desc="eval EMA")
        row.update({f"ema_{k}": ema_metrics[k] for k in task.metrics})
        if _better(task, ema_metrics[task.best_metric], best_value):
            best_module, best_value = run.ema, ema_metrics[task.best_metric]
    return row, best_module, best_value


def _estimate(process: distributed.Process, step_s: float, steps: int, epochs_left: int) -> None:
    _say(process)(f"about {_duration(step_s * steps)} per epoch of training (evaluation not counted); "
                  f"{epochs_left} epoch(s) to go: about {_duration(step_s * steps * epochs_left)}")


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h {rest // 60:02d}m" if hours else f"{rest // 60}m {rest % 60:02d}s"


def _resume_hint(run_dir: Path, done: int, engine) -> str:
    if done and engine.resumable:
        return (f"interrupted; the last checkpoint is {run_dir / LAST} (after epoch {done} of {engine.epochs}); "
                f"resume with: saga train --resume {run_dir}")
    return f"interrupted before a resumable checkpoint was written; {run_dir} holds nothing to resume"


def _finish(run: Run, run_dir: Path, counters: dict, log: MetricsLog | None, source: str) -> dict:
    task, process, engine = run.task, run.task.process, run.task.config.engine
    checksum = float(sum(p.double().sum() + p.double().square().sum() for p in run.model.state_dict().values()))
    checksums = distributed.all_gather(checksum, process)
    summary = {"model": engine.model, "task": task.name, "data": source, "epochs": counters["epoch"],
               f"best_{task.best_metric}": counters["best"], "best_metric": task.best_metric,
               "last": log.rows[-1] if log and log.rows else None, "processes": process.world,
               "rank_checksums": checksums, "ranks_agree": all(c == checksums[0] for c in checksums)}
    if process.main:
        log.plot(f"{engine.model} on {source}", task.best_metric)
        log.close()
        summary["files"] = folder_sizes(run_dir)
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        sizes = ", ".join(f"{name} {human_bytes(size)}" for name, size in summary["files"].items()
                          if name.endswith(".safetensors"))
        _say(process)(f"done: best {task.best_metric} {counters['best']:.4g}; curves {run_dir / 'curves.png'}; "
                      f"checkpoints: {sizes}"
                      + ("" if summary["ranks_agree"] else "; WARNING: the processes' weights differ"))
    return summary


def best_weights(run_dir: str | Path, overrides: Sequence[str] = ()) -> tuple[Path, TrainConfig]:
    """(best.safetensors, config) of a saga train run folder, overrides on top of its config.yaml; ValueError for
    any other folder or one with no finished epoch."""
    config = run_config(run_dir, overrides)
    weights = Path(run_dir) / BEST
    if not weights.is_file():
        raise ValueError(f"run folder {str(run_dir)!r} has no {BEST} yet: no epoch of it finished")
    return weights, config


def load_run(run_dir: str | Path, overrides: Sequence[str] = ()) -> tuple[nn.Module, Task]:
    """The best weights of a saga train run folder in its model (on the CPU), and the run's task."""
    weights, config = best_weights(run_dir, overrides)
    task = get_task(config.task_name)(config, distributed.Process(0, 1, torch.device("cpu")))
    return load_checkpoint(task.model_for_weights(), weights), task


def eval_setup(source: str | Path, overrides: list[str]) -> tuple[Path, TrainConfig]:
    """(weights, config) of what `saga eval --model` takes: a run folder (its config.yaml and best.safetensors,
    overrides on top), a .safetensors file (its metadata names the model) or a model name with shipped weights
    (both with the task's default settings and the overrides, e.g. data=...)."""
    path = Path(source)
    if path.is_dir():
        return best_weights(path, overrides)
    if path.suffix == ".safetensors" or path.is_file():
        _, metadata = read_checkpoint(path)
        if "model" not in metadata:
            raise ValueError(f"{str(source)!r} does not say which model it holds (no 'model' metadata); give a run "
                             "folder, or weights saved by this package")
        return path, load_config(None, [f"model={metadata['model']}", *overrides])
    if not path.exists() and (path.suffix or len(path.parts) > 1):
        raise ValueError(f"{str(source)!r} does not exist; --model takes a run folder of saga train, a .safetensors "
                         "file or a model name (saga models)")
    spec = parse_model_spec(str(source))
    if not spec.config.weights:
        raise ValueError(f"no weights are shipped for {spec.name}; give a run folder of saga train or a .safetensors "
                         f"file (shipped: {', '.join(shipped_models())})")
    return WEIGHTS_DIR / spec.config.weights, load_config(None, [f"model={spec}", *overrides])


def run_eval(source: str | Path, overrides: list[str]) -> dict:
    """The task's metrics of a run folder, checkpoint or shipped model (see eval_setup) on its validation set."""
    weights, config = eval_setup(source, overrides)
    process = distributed.setup(config.engine.device)
    try:
        task = get_task(config.task_name)(config, process)
        model = load_checkpoint(task.model_for_weights(), weights).to(process.device)
        metrics = evaluate(task, model, loader(task.eval_dataset(), config, process, None, task.collate))
        return {"checkpoint": str(weights), "model": config.engine.model, "task": task.name,
                "data": task.run_label(config), **metrics, "summary": task.describe(metrics)}
    finally:
        distributed.teardown()
