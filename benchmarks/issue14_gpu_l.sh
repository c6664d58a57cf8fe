#!/usr/bin/env bash
# Issue 14's inference table with the current code (run right after issue13_gpu_l.sh, which takes the training
# steps): eager at 1280^2 and 2048^2, batch 1/2/4/8; compiled at batch 4, and compiled SAGA in bands of 80 rows at
# 1280^2 (the compiled-memory target); the compiled training step at batch 2; the GPU-busy fraction of a batch-2
# step. pvt_tiny (SDPA) against saga_pvt_tiny, bf16. At most 430 s (the parts' limits).
# Results in $OUT/issue14_l.tar (see device_parts.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue14_l.tar
source benchmarks/device_parts.sh
machine
bench 120 infer_eager --models pvt_tiny,saga_pvt_tiny --res 1280,2048 --batch 1,2,4,8
bench 100 infer_compiled --models pvt_tiny@compile,saga_pvt_tiny@compile --res 1280,2048 --batch 4
bench 50 infer_compiled_bands --models saga_pvt_tiny:band_rows=80@compile --res 1280 --batch 4
part 40 python3 benchmarks/busy_fraction.py --models pvt_tiny,saga_pvt_tiny --res 1280 --batch 2 --mode train \
    --out "$R/busy_train_b2.json"
bench 120 train_compiled --models pvt_tiny@compile,saga_pvt_tiny@compile --res 1280 --batch 2 --mode train
