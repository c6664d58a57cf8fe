#!/usr/bin/env bash
# The issue-3 measurements on one GPU, writing everything under $OUT (run from the repository root):
# the Triton and GPU tests, the kernel benchmark, and `saga bench --suite paper` (eager, compiled, training).
# On the 10-minute device calls these steps were run in separate calls; see results/issue3-kernels-h200/README.md.
set -uo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
OUT=${OUT:-runs/issue3}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/gpu.txt"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" >> "$OUT/gpu.txt"
python3 -m pytest -q -p no:cacheprovider -rf --tb=line tests/ops/test_saga_triton.py tests/test_gpu.py \
  > "$OUT/pytest_gpu.txt" 2>&1; tail -n 3 "$OUT/pytest_gpu.txt"
python3 benchmarks/kernel_bench.py --out "$OUT/kernel.json" > "$OUT/kernel.log" 2>&1; grep -E "^N=|copy" "$OUT/kernel.log"
for part in eager compiled train; do
  python3 -m saga_attention.cli bench --device cuda --suite "paper:$part" --json "$OUT/paper_$part.json" > /dev/null 2>&1
done
