"""Devices and dtypes by name, timing and peak memory of a callable on CUDA or CPU, and what machine they were
taken on. Shared by the benchmarks, the enhancer and the analysis."""
from __future__ import annotations

import ctypes
import gc
import platform
import re
import statistics
import time
from typing import Callable

import torch

MIB = 2**20
DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")                                  # the device names commands take
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}    # by the names commands take


def environment(device: torch.device) -> dict[str, str | int | None]:
    """Versions and hardware a measurement holds for."""
    try:
        import triton
        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    return {"torch": torch.__version__, "triton": triton_version, "device": str(device), "device_name": name,
            "cpu_threads": torch.get_num_threads(), "python": platform.python_version()}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn: Callable[[], object], device: torch.device, warmup: int = 3, repeats: int = 10) -> float:
    """Median milliseconds of `fn` after `warmup` calls: CUDA events on GPU, perf_counter after sync on CPU."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def _proc_status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            match = re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def _release_cached_memory() -> None:
    """Hand memory that glibc keeps after frees back to the OS, so that RSS growth sees every new peak."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_rss_peak() -> bool:
    """Reset this process's peak RSS (Linux: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


MEMORY_METHODS = {
    "cuda": "cuda_max_allocated_minus_baseline",
    "cpu": "peak_rss_growth (VmHWM after minus VmRSS before, after malloc_trim; an approximation)",
}


def peak_memory_mib(fn: Callable[[], object], device: torch.device) -> tuple[float | None, str]:
    """Peak memory one call of `fn` adds, in MiB, and how it was measured (None where it cannot be)."""
    if device.type == "cuda":
        synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - baseline) / MIB, MEMORY_METHODS["cuda"]
    gc.collect()
    _release_cached_memory()
    before = _proc_status_kib("VmRSS")
    if before is None or not _reset_rss_peak():
        fn()
        return None, "unavailable (needs Linux /proc/self/clear_refs)"
    fn()
    peak = _proc_status_kib("VmHWM")
    return max(peak - before, 0) * 1024 / MIB, MEMORY_METHODS["cpu"]


def is_out_of_memory(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()


def resolve_device(device: str) -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU, or any other name, is a ValueError."""
    if not DEVICE.match(str(device)):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N; got {str(device)!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but torch sees no CUDA GPU; use --device cpu")
    return torch.device(device)
