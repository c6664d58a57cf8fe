#!/usr/bin/env bash
# Issue 13: does PointwiseConv (the low-light nets' 1x1 convs as matrix products, so that cuBLAS adds the bias)
# pay on the GPU? The A/B in one process (saga_llie_small and the channel twin, 1080x1920 and 2160x3840), the
# eager triple with retinexformer at 2160x3840, the aten-op profile at 2160x2160 and the compiled pair at
# 2160x3840; batch 1, bf16. About 5 minutes. Results in $OUT/issue13_pointwise.tar (see device_parts.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue13_pointwise.tar
source benchmarks/device_parts.sh
machine
part 80 python3 benchmarks/llie_pointwise_ab.py --res 1080x1920,2160x3840 --out "$R/pointwise_ab.json"
bench 60 eager_bf16 --task enhance --batch 1 --warmup 2 --repeats 5 --res 2160x3840 \
    --models "saga_llie_small,llie_channel_small,retinexformer"
part 40 python3 benchmarks/profile_models.py --models saga_llie_small --res 2160 --batch 1 --ops \
    --out "$R/profile_2160.txt"
bench 110 compiled_bf16 --task enhance --batch 1 --warmup 2 --repeats 5 --res 2160x3840 \
    --models "saga_llie_small@compile,retinexformer@compile"
