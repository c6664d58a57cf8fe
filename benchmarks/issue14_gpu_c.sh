#!/usr/bin/env bash
# Issue 14, third device call: the GPU tests of the ops, kernel bandwidth, and where the op's host time goes.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue14c.tar; source benchmarks/device_parts.sh
part 60 python3 benchmarks/host_profile.py --out "$R/host_profile.txt" > /dev/null 2> "$R/host_profile.err"
part 90 python3 benchmarks/kernel_bench.py --no-sweep --out "$R/kernels.json" > "$R/kernels.txt" 2>&1
tail -20 "$R/kernels.txt"
part 200 python3 -m pytest -q -p no:cacheprovider tests/ops/test_norm_mlp.py tests/ops/test_saga_triton.py \
    tests/test_gpu.py > "$R/tests.txt" 2>&1; tail -5 "$R/tests.txt"
head -45 "$R/host_profile.txt"
