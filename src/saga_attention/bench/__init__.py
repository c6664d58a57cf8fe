"""Throughput and memory of models (runner.py: one cell, sweeps, the built-in suites), reports and plots
(report.py), parameter and FLOP counts (flops.py). Timing and memory of a callable live in saga_attention.measure."""
