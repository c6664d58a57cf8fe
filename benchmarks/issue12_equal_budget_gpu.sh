#!/usr/bin/env bash
# Issue 12's equal-budget table (tiny nets and retinexformer, 2 seeds, 400 steps of 4 crops of 128x128 on the
# built-in pairs), all 14 runs at once on one GPU (each with its share of the CPU cores), in one device call.
# Arguments are added to llie_equal_budget.py's (a later one wins). Results under $OUT: $TAR (default
# issue12_equal_budget.tar, see device_parts.sh). LIMIT (default 560 s) bounds the table.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=${TAR:-issue12_equal_budget.tar}
source benchmarks/device_parts.sh
machine
part "${LIMIT:-560}" python3 benchmarks/llie_equal_budget.py --out "$R/equal_budget" --device cuda --parallel 14 "$@" \
    > "$R/equal_budget.log" 2>&1
rm -rf "$R"/equal_budget/runs/*/*.safetensors "$R"/equal_budget/runs/*/tensorboard
pack
grep '^{' "$R/equal_budget.log"; tail -n 14 "$R/equal_budget.log"
