#!/usr/bin/env bash
# Issue 13: full-size weights on the built-in pairs' fourteen photographs: saga_llie_small, 2000 steps of 16 crops of
# 128x128 (the recipe of train-h200), seeds 0 and 1 side by side, then each best checkpoint on the held-out table
# (llie_heldout.py). Results under $OUT: issue13_weights.tar (see device_parts.sh) and weights.tar (best weights).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
TAR=issue13_weights.tar
source benchmarks/device_parts.sh
machine
train() { python3 -m saga_attention.cli train --config lowlight model=saga_llie_small epochs=10 samples_per_epoch=3200 \
    batch_size=16 crop=128 lr=1e-3 min_lr=1e-5 warmup_epochs=1 weight_decay=1e-4 clip_grad=1.0 ema_decay=0.999 \
    workers=4 device=cuda resumable=false seed="$1" out="$R/full-seed$1" > "$R/full-seed$1.log" 2>&1
  python3 benchmarks/llie_heldout.py --model "$R/full-seed$1" --out "$R/heldout-seed$1.json" > /dev/null 2>&1; }
part 420 bash -c "$(declare -f train); R='$R'; train 0 & train 1 & wait"
rm -f "$R"/full-seed*/last.safetensors
tar -cf "$OUT/weights.tar" -C "$R" full-seed0/best.safetensors full-seed1/best.safetensors
pack
cat "$R"/heldout-seed*.md
