#!/usr/bin/env bash
# Issue 13: the equal-budget table at small size on the GPU: saga_llie_small, llie_channel_small and retinexformer,
# seeds 0 and 1, 1000 steps of 8 crops of 128x128 on the built-in pairs, all six runs side by side on one GPU (each
# with its share of the CPU cores), then every best checkpoint on the held-out photographs.
# Results under $OUT: issue13_equal_budget.tar (see device_parts.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue13_equal_budget.tar
source benchmarks/device_parts.sh
machine
part "${LIMIT:-480}" python3 benchmarks/llie_equal_budget.py --out "$R/equal_budget" --device cuda --parallel 6 \
    --models saga_llie_small,llie_channel_small,retinexformer --steps 1000 --epochs 4 --batch 8 \
    > "$R/equal_budget.log" 2>&1
rm -rf "$R"/equal_budget/runs/*/*.safetensors "$R"/equal_budget/runs/*/tensorboard
pack
tail -n 16 "$R/equal_budget.log"
