"""Throughput and memory measurement, sweeps, reports and plots."""
from .flops import model_stats
from .measure import environment, peak_memory_mib, resolve_device, time_ms
from .report import markdown, plot, read_records, write_json
from .runner import (DTYPES, MODES, PAPER_SUITE, TASK_DEFAULTS, bench_one, bench_limited, parse_bench_entry, parse_resolution, run_sweep,
                     suite_parts)

__all__ = ["DTYPES", "MODES", "PAPER_SUITE", "TASK_DEFAULTS", "bench_limited", "bench_one", "environment", "markdown", "model_stats",
           "parse_bench_entry", "parse_resolution", "peak_memory_mib", "plot", "read_records", "resolve_device",
           "run_sweep", "suite_parts", "time_ms", "write_json"]
