#!/usr/bin/env bash
# Issues 14 and 13, next device call (prepared, not yet run). Issue 14: benchmarks/layer_norm_train_ab.py at 1280^2,
# batch 2 and 8, two rounds of aten ("auto"), the kernel everywhere ("triton") and the kernel only on norms of at
# least 65,536 or 200,000 rows (PVT's spatial-reduction norms and the late stages stay on aten): i/ found the kernel
# 1.10-1.13x faster at batch 8 and slower at batch 2. Issue 13: the kernels of one eager forward of saga_llie_small
# and retinexformer at 2160x2160 with the current code (the last profile predates the pixel-shuffle layout fix).
# Then SAGA's attention in bands of rows in inference (`saga_pvt_tiny:band_rows=N`: the fused 5C projection of the
# whole stage-1 map, 250 MiB at 1280^2 b4, is what sets compiled SAGA's peak of 400 against PVT's 252 MiB): its GPU
# test, and the inference pair eager and compiled with bands of 80 and 40 rows.
# Results under $OUT: issue14_j.tar (device_parts.sh). At most 570 s (the parts' limits).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue14_j.tar
source benchmarks/device_parts.sh
machine
part 160 python3 benchmarks/layer_norm_train_ab.py --res 1280 --batch 2,8 --repeats 20 --rounds 2 \
    --variants auto,triton,triton:65536,triton:200000 --out "$R/layer_norm_ab.json"
part 100 python3 benchmarks/profile_models.py --models saga_llie_small,retinexformer --res 2160 --batch 1 --ops \
    --out "$R/profile_llie_2160.txt"
part 140 python3 -m pytest -q tests/test_gpu.py -k "bands or layer_norm" -p no:cacheprovider > "$R/tests.txt" 2>&1
bench 50 infer_bands_eager --models pvt_tiny,saga_pvt_tiny,saga_pvt_tiny:band_rows=80,saga_pvt_tiny:band_rows=40 \
    --res 1280,2048 --batch 4
bench 120 infer_bands_compiled --models pvt_tiny@compile,saga_pvt_tiny@compile,saga_pvt_tiny:band_rows=80@compile \
    --res 1280,2048 --batch 4
tail -n 3 "$R/tests.txt"
