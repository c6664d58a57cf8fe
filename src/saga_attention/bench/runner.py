"""Benchmark sweeps: models x resolutions x batch x dtype x mode on one device -> records."""
from __future__ import annotations

import gc
import itertools
import multiprocessing
import queue as queue_module
from typing import Any, Iterable

import torch
import torch.nn.functional as F

from ..measure import DTYPES, environment, is_out_of_memory, peak_memory_mib, time_ms
from ..models import ModelSpec, check_buildable, check_input_size, create_model, model_config, parse_model_spec
from ..ops.inputs import check_choice
from ..progress import progress as progress_bar

MODES = ("inference", "train", "fwd-bwd")   # fwd-bwd: a training step without the optimizer


COMPILE_RUNNERS = {"compile": None, "reduce-overhead": "reduce-overhead"}   # '@' setting -> torch.compile mode


def parse_bench_entry(entry: str) -> tuple[ModelSpec, str | None]:
    """'pvt_tiny:impl=math' -> (spec, None); 'saga_pvt_tiny@compile' -> (spec, 'compile'): what follows '@' is
    a setting of the runner, never an option of the model: 'compile' (torch.compile, fullgraph) or
    'reduce-overhead' (the same with CUDA graphs)."""
    text, at, runner = entry.partition("@")
    runner = runner.strip()
    if at and runner not in COMPILE_RUNNERS:
        raise ValueError(f"after '@' a bench entry takes {' or '.join(COMPILE_RUNNERS)}, e.g. saga_pvt_tiny@compile; "
                         f"got {entry!r}")
    return parse_model_spec(text), runner or None


def parse_resolution(text: str | int) -> tuple[int, int]:
    """'224' -> (224, 224); '256x320' -> (256, 320)."""
    parts = str(text).lower().split("x")
    try:
        hw = tuple(int(p) for p in parts)
    except ValueError:
        hw = ()
    if len(hw) == 1:
        hw = hw * 2
    if len(hw) != 2 or min(hw) <= 0:
        raise ValueError(f"resolution must be N or HxW with positive integers, e.g. 224 or 256x320; got {text!r}")
    return hw


def step_fn(model: torch.nn.Module, x: torch.Tensor, mode: str, dtype: torch.dtype, graphs: bool = False):
    """The call to time: an inference forward, or one training step (forward, loss, backward, and AdamW in
    mode 'train'; 'fwd-bwd' leaves the optimizer out).
    graphs: the model replays CUDA graphs, so each call starts a new step of them."""
    begin = torch.compiler.cudagraph_mark_step_begin if graphs else (lambda: None)
    if mode == "inference":
        def infer():
            begin()
            with torch.inference_mode():
                return model(x)
        return infer
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=x.is_cuda)   # as saga train runs it
    bare = getattr(model, "_orig_mod", model)
    if model_config(bare.model_name).task == "classify":
        target = torch.randint(0, bare.num_classes, (x.shape[0],), device=x.device)
        criterion = F.cross_entropy
    else:                                                  # image to image: L1 against an image target
        target, criterion = torch.rand_like(x), F.l1_loss
    amp = dtype != torch.float32

    def train_step():
        begin()
        with torch.autocast(x.device.type, dtype=dtype, enabled=amp):
            loss = criterion(model(x).float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if mode == "train":
            optimizer.step()
    return train_step


def bench_one(spec: str, res: tuple[int, int], batch: int, dtype: str, device: torch.device, mode: str,
              warmup: int = 3, repeats: int = 10) -> dict[str, Any]:
    """One measurement. Inference runs the model cast to `dtype`; training keeps fp32 weights under
    autocast. An out-of-memory becomes status 'oom'; any other failure status 'error' with its message."""
    check_choice("mode", mode, MODES)
    check_choice("dtype", dtype, DTYPES)
    env = environment(device)
    record: dict[str, Any] = {"model": spec, "res": f"{res[0]}x{res[1]}", "batch": batch, "dtype": dtype,
                              "device": device.type, "mode": mode, "img_per_s": None, "ms": None,
                              "peak_mem_mib": None, "mem_method": None, "status": "ok", "params_m": None,
                              "torch": env["torch"], "device_name": env["device_name"]}
    model_spec, runner = parse_bench_entry(spec)
    model = x = step = None
    try:
        model = create_model(model_spec).to(device)
        record["params_m"] = round(sum(p.numel() for p in model.parameters()) / 1e6, 3)
        if mode == "inference":
            model = model.eval().to(DTYPES[dtype])
            x = torch.randn(batch, 3, *res, device=device, dtype=DTYPES[dtype])
        else:
            model = model.train()
            x = torch.randn(batch, 3, *res, device=device)
        if runner is not None:
            model = torch.compile(model, fullgraph=True, mode=COMPILE_RUNNERS[runner])
        step = step_fn(model, x, mode, DTYPES[dtype], graphs=runner == "reduce-overhead")
        step()
        record["peak_mem_mib"], record["mem_method"] = peak_memory_mib(step, device)
        ms = time_ms(step, device, warmup=warmup, repeats=repeats)
        record["ms"], record["img_per_s"] = round(ms, 4), round(batch * 1e3 / ms, 3)
    except (RuntimeError, ValueError, NotImplementedError) as err:
        if not is_out_of_memory(err):
            record.update(status="error", error=f"{type(err).__name__}: {str(err).splitlines()[0][:300]}")
        else:
            record.update(status="oom")
    finally:
        del model, x, step
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return record


PAPER_SUITE: dict[str, dict[str, Any]] = {
    # The paper's efficiency table and what a user would pick instead, batch 8.
    "eager": {"models": ["pvt_tiny:impl=math", "pvt_tiny", "saga_pvt_tiny", "saga_pvt_tiny:backend=torch",
                         "linear_pvt_tiny", "focused_pvt_tiny"],
              "resolutions": [224, 512, 1024, 1280, 2048], "batches": [8], "dtypes": ["bf16", "fp32"],
              "modes": ["inference"]},
    "compiled": {"models": ["pvt_tiny:impl=math@compile", "pvt_tiny@compile", "saga_pvt_tiny@compile"],
                 "resolutions": [224, 512, 1024, 1280, 2048], "batches": [8], "dtypes": ["bf16"],
                 "modes": ["inference"]},
    "train": {"models": ["pvt_tiny:impl=math", "pvt_tiny", "saga_pvt_tiny", "saga_pvt_tiny:backend=torch",
                         "pvt_tiny@compile", "saga_pvt_tiny@compile"],
              "resolutions": [1280], "batches": [8], "dtypes": ["bf16"], "modes": ["train"]},
}
# Low-light enhancement at photo sizes (HxW; 400x600 is LOL's size), batch 1: every mixer and retinexformer.
ENHANCE_MODELS = ["saga_llie_small", "llie_channel_small", "llie_window_small", "llie_global_small",
                  "llie_linear_small", "llie_focused_small", "retinexformer"]
ENHANCE_RESOLUTIONS = ["400x600", "1080x1920", "2160x3840", "4000x6000"]
TASK_DEFAULTS = {"classify": {"models": ["pvt_tiny", "saga_pvt_tiny"], "resolutions": ["224"]},
                 "enhance": {"models": ENHANCE_MODELS, "resolutions": ENHANCE_RESOLUTIONS}}
SUITES = {"paper": PAPER_SUITE}


def suite_parts(name: str) -> list[dict[str, Any]]:
    """'paper' -> every part of the suite; 'paper:eager' -> that part alone."""
    suite, _, part = name.partition(":")
    check_choice("suite", suite, SUITES)
    if part:
        check_choice(f"part of suite {suite!r}", part, SUITES[suite])
        return [SUITES[suite][part]]
    return list(SUITES[suite].values())


def _cell(queue, *args) -> None:
    queue.put(bench_one(*args))


def bench_limited(time_limit: float, *args) -> dict[str, Any]:
    """bench_one(*args) in a child process given `time_limit` seconds: past it the cell is stopped and recorded
    with status 'time_limit'; a child killed by the system (out of memory on a CPU) is status 'killed'."""
    spec, res, batch, dtype, device, mode = args[:6]
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_cell, args=(queue, *args), daemon=True)
    child.start()
    try:
        return queue.get(timeout=time_limit)
    except queue_module.Empty:
        status = "time_limit" if child.is_alive() else "killed"
        return {"model": spec, "res": f"{res[0]}x{res[1]}", "batch": batch, "dtype": dtype, "device": device.type,
                "mode": mode, "img_per_s": None, "ms": None, "peak_mem_mib": None, "mem_method": None,
                "status": status, "params_m": None, "time_limit_s": time_limit,
                "error": f"no result within {time_limit:g} s" if status == "time_limit" else
                f"the process died (exit code {child.exitcode}; out of memory?)"}
    finally:
        if child.is_alive():
            child.kill()
        child.join()


def run_sweep(models: Iterable[str], resolutions: Iterable[str | int], batches: Iterable[int],
              dtypes: Iterable[str], device: str | torch.device, modes: Iterable[str],
              warmup: int = 3, repeats: int = 10, progress: bool = True,
              time_limit: float | None = None) -> list[dict[str, Any]]:
    """Every combination, in order; specs and resolutions are checked before anything runs. time_limit: each
    cell runs in its own process and is stopped after that many seconds (a result, not an error)."""
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU; use --device cpu")
    models, modes, dtypes, batches = list(models), list(modes), list(dtypes), list(batches)
    resolutions = list(resolutions)
    for name, values in (("models", models), ("resolutions", resolutions), ("batch sizes", batches),
                         ("dtypes", dtypes), ("modes", modes)):
        if not values:
            raise ValueError(f"no {name} given; e.g. --model pvt_tiny,saga_pvt_tiny --res 224 --batch 1")
    if not all(isinstance(b, int) and b > 0 for b in batches):
        raise ValueError(f"batch sizes must be positive integers; got {batches}")
    if warmup < 0 or repeats < 1:
        raise ValueError(f"warmup must be >= 0 and repeats >= 1; got {warmup} and {repeats}")
    for mode in modes:
        check_choice("mode", mode, MODES)
    for dtype in dtypes:
        check_choice("dtype", dtype, DTYPES)
    resolutions = [parse_resolution(r) for r in resolutions]
    for spec in models:
        model_spec = parse_bench_entry(spec)[0]
        check_buildable(model_spec)
        for res in resolutions:
            check_input_size(model_spec, *res)
    grid = list(itertools.product(modes, dtypes, batches, resolutions, models))
    records = []
    for mode, dtype, batch, res, spec in progress_bar(grid, enabled=progress, desc="bench", unit="run"):
        args = (spec, res, batch, dtype, device, mode, warmup, repeats)
        records.append(bench_limited(time_limit, *args) if time_limit else bench_one(*args))
    return records
