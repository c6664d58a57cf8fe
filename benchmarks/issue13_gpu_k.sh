#!/usr/bin/env bash
# Issue 13 (and 14's LayerNorm rule): narrow heads packed side by side in one program (ops/saga/triton.py's
# PACK_WIDTH; the low-light net's first level has 2 heads of 20 columns). The GPU tests of the packing and of
# LayerNorm's training rule; the A/B of PACK_WIDTH 0, 64 and 128 in one process (benchmarks/pack_heads_ab.py);
# then, with the default, the eager triple at 2160x3840, the banded pass at 2160x3840 and 4000x6000, the profile
# at 2160x2160 and the compiled pair at 2160x3840; batch 1, bf16. At most 540 s (the parts' limits).
# Results in $OUT/issue13_k.tar (see device_parts.sh). Run once, when the output kernel also packed heads with the
# local conv (slower, since dropped): benchmarks/results/issue13-llie-gpu/pack-h200/conv-packed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue13_k.tar
source benchmarks/device_parts.sh
machine
part 100 python3 -m pytest -q -x -p no:cacheprovider tests/ops/test_saga_triton.py tests/test_gpu.py \
    -k "packed or heads_per or slices or local_conv or layer_norm_auto or llie" > "$R/tests.txt" 2>&1
tail -n 2 "$R/tests.txt"
part 100 python3 benchmarks/pack_heads_ab.py --widths 0,64,128 --out "$R/pack_heads_ab.json"
bench 60 eager_bf16 --task enhance --batch 1 --warmup 2 --repeats 5 --res 2160x3840 \
    --models "saga_llie_small,llie_channel_small,retinexformer"
bench 60 bands_bf16 --task enhance --batch 1 --warmup 1 --repeats 3 --res 2160x3840,4000x6000 \
    --models "saga_llie_small:band_rows=256,saga_llie_small:band_rows=128"
part 40 python3 benchmarks/profile_models.py --models saga_llie_small --res 2160 --batch 1 --ops \
    --out "$R/profile_2160.txt"
bench 140 compiled_bf16 --task enhance --batch 1 --warmup 2 --repeats 5 --res 2160x3840 \
    --models "saga_llie_small@compile,retinexformer@compile"
