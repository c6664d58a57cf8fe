#!/usr/bin/env bash
# Issue 12: which built-in training photographs (and how many steps) lift the held-out score, all at once on one
# GPU: saga_llie_tiny with the shipped weights' CPU recipe (lowlight-cpu: 2000 steps of 4 crops of 128x128),
# 2 seeds each, on (-) the six colour photographs, (no-hubble) without hubble_deep_field (a black sky: dark
# input that must stay dark), (gray) those five and scikit-image's nine grayscale photographs, (gray-long) the same
# for 3500 steps. The best checkpoint is picked on the validation photograph only; the held-out score is reported
# for every run. Results under $OUT: issue12_photos.tar (see device_parts.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue12_photos.tar
source benchmarks/device_parts.sh
machine
FIVE=astronaut,coffee,immunohistochemistry,retina,stereo_motorcycle
GRAY=$FIVE,camera,coins,moon,brick,grass,gravel,clock,page,text
part 520 python3 benchmarks/llie_equal_budget.py --out "$R/photos" --models saga_llie_tiny --steps 2000 --epochs 8 \
    --seeds 0,1 --device cuda --parallel 8 --variant no-hubble "photos=[$FIVE]" --variant gray "photos=[$GRAY]" \
    --variant gray-long "photos=[$GRAY]" epochs=14 > "$R/photos.log" 2>&1
rm -rf "$R"/photos/runs/*/*.safetensors
pack
tail -n 20 "$R/photos.log"
