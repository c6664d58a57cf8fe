#!/usr/bin/env bash
# Issue 14: the eager inference pair again with 5x the repeats (1280^2 b4 is host-bound and moved by +-25% between
# device calls at 10 repeats), three times in one process each, about 1.5 minutes. Results in $OUT/issue14h.tar.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue14h.tar; source benchmarks/device_parts.sh
machine
for i in 1 2 3; do
  part 40 python3 -m saga_attention.cli bench --device cuda --dtype bf16 --warmup 10 --repeats 50 \
      --models pvt_tiny,saga_pvt_tiny --res 1280,2048 --batch 4 --json "$R/infer_eager_$i.json"
done
ls "$R"; pack
