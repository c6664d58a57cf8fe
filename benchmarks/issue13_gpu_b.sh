#!/usr/bin/env bash
# Issue 13, part 1b (the rest of issue13_gpu.sh that one call's 10 minutes did not reach): fp32 eager at 1080x1920,
# the window variant at the sizes that failed before (CUDA grid limit, now chunked), and where the time goes at
# 2160x2160 for SAGA, channel attention and retinexformer. Results under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/machine.txt"
python3 -m saga_attention.cli bench --device cuda --warmup 2 --repeats 5 --batch 1 --models llie_window_small \
    --res 2160x3840,4000x6000 --dtype bf16 --json "$OUT/window_bf16.json" 2>&1 | grep -v "it/s" | tail -8
python3 -m saga_attention.cli bench --device cuda --warmup 2 --repeats 5 --batch 1 --dtype fp32 --res 1080x1920 \
    --models saga_llie_small,llie_channel_small,llie_window_small,llie_linear_small,llie_focused_small,retinexformer \
    --json "$OUT/eager_fp32.json" 2>&1 | grep -v "it/s" | tail -12
timeout 240 python3 benchmarks/profile_models.py --models saga_llie_small,llie_channel_small,retinexformer --res 2160 \
    --batch 1 --out "$OUT/profile_2160.txt"; echo "profile rc=$?"
