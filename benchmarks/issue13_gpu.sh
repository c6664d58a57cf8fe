#!/usr/bin/env bash
# Issue 13, part 1, in one device call: the low-light nets at photo sizes on one GPU, batch 1, inference.
# bf16 eager: every mixer variant (small) and retinexformer at 400x600, 1080x1920, 2160x3840 and 4000x6000 (HxW);
# global softmax only up to 1080x1920 (beyond, one pass takes minutes: no memory limit stops it).
# bf16 compiled at 1080x1920 and 2160x3840 for SAGA, channel attention and retinexformer; fp32 eager at 1080x1920.
# Results under $OUT: JSON per part, then one table and plot.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/machine.txt"
LINEAR="saga_llie_small,llie_channel_small,llie_window_small,llie_linear_small,llie_focused_small,retinexformer"
bench() { python3 -m saga_attention.cli bench --device cuda --warmup 2 --repeats 5 --batch 1 "$@"; echo "bench rc=$?"; }
bench --models "$LINEAR" --res 400x600,1080x1920,2160x3840,4000x6000 --dtype bf16 --json "$OUT/eager_bf16.json"
bench --models llie_global_small --res 400x600,1080x1920 --dtype bf16 --json "$OUT/global_bf16.json"
bench --models "saga_llie_small@compile,llie_channel_small@compile,retinexformer@compile" --res 1080x1920,2160x3840 \
    --dtype bf16 --json "$OUT/compiled_bf16.json"
bench --models "$LINEAR,llie_global_small" --res 1080x1920 --dtype fp32 --json "$OUT/eager_fp32.json"
python3 -m saga_attention.cli report "$OUT"/eager_bf16.json "$OUT"/global_bf16.json "$OUT"/compiled_bf16.json \
    "$OUT"/eager_fp32.json --out "$OUT/enhance_gpu"
python3 benchmarks/profile_models.py --models saga_llie_small,llie_channel_small,retinexformer --res 2160 --batch 1 \
    --out "$OUT/profile_2160.txt"; echo "profile rc=$?"
