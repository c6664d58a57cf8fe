#!/usr/bin/env bash
# Issue 12's equal-budget table (tiny nets and retinexformer, 2 seeds, 400 steps of 4 crops of 128x128 on the
# built-in pairs), all 14 runs at once on one GPU, in one device call. Results under $OUT/equal_budget.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/machine.txt"
timeout 560 python3 benchmarks/llie_equal_budget.py --out "$OUT/equal_budget" --device cuda --parallel 14
echo "equal budget rc=$?"
rm -rf "$OUT"/equal_budget/runs/*/last.safetensors
