#!/usr/bin/env bash
# Issue 13, third device call: the narrow-row LayerNorm kernel (ops/norm) that every low-light net's ChannelNorm
# now uses in inference on CUDA, retinexformer's too. GPU tests of the kernel, of the fused MLP kernel that shares
# its row normalisation, and of the bands; then the bf16 eager bench of issue13_bands_gpu.sh again (one pass and
# bands of 128/256 rows, channel twin, retinexformer at 1080x1920, 2160x3840, 4000x6000) and the profile at
# 2160x2160. Results under $OUT (one tar; see device_parts.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue13_norm.tar
source benchmarks/device_parts.sh
machine
part 150 bash -c "python3 -m pytest -q tests/ops/test_layer_norm.py tests/ops/test_norm_mlp.py \
    tests/ops/test_saga_state.py tests/models/test_llie_bands.py -p no:cacheprovider > '$R/pytest.txt' 2>&1"
bench 200 eager_bf16 --task enhance --batch 1 --warmup 2 --repeats 5 --res 1080x1920,2160x3840,4000x6000 \
    --models "saga_llie_small,saga_llie_small:band_rows=128,saga_llie_small:band_rows=256,llie_channel_small,retinexformer"
part 40 python3 benchmarks/profile_models.py --models saga_llie_small,saga_llie_small:band_rows=256,retinexformer \
    --res 2160 --batch 1 --out "$R/profile_2160.txt"
