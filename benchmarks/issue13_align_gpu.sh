#!/usr/bin/env bash
# Issue 13, fourth device call: after the SAGA kernels' row alignment (heads of any width load as vectors) and the
# gated feed-forward's GELU gate kernel (ops/mlp gelu_gate). GPU tests of both and of the bands; the head-width
# probe again; then the low-light nets at photo sizes, batch 1, bf16 inference: saga_llie_small in one pass and in
# bands of 256 rows against its channel-attention twin and retinexformer, eager at 400x600 to 4000x6000, the
# profile at 2160x2160, and the compiled triple at 2160x3840. Results under $OUT (one tar; see device_parts.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue13_align.tar
source benchmarks/device_parts.sh
machine
part 100 bash -c "python3 -m pytest -q tests/ops/test_saga_triton.py tests/ops/test_saga_state.py \
    tests/ops/test_gelu_gate.py tests/ops/test_saga_vector_loads.py tests/models/test_llie_bands.py \
    -p no:cacheprovider > '$R/pytest.txt' 2>&1"
part 40 python3 benchmarks/llie_head_width.py --tokens 4665600 --out "$R/head_width.json"
bench 180 eager_bf16 --task enhance --batch 1 --warmup 2 --repeats 5 --res 400x600,1080x1920,2160x3840,4000x6000 \
    --models "saga_llie_small,saga_llie_small:band_rows=256,llie_channel_small,retinexformer"
part 35 python3 benchmarks/profile_models.py --models saga_llie_small,llie_channel_small,retinexformer --res 2160 \
    --batch 1 --out "$R/profile_2160.txt"
bench 170 compiled_bf16 --task enhance --batch 1 --warmup 2 --repeats 5 --res 2160x3840 \
    --models "saga_llie_small@compile,llie_channel_small@compile,retinexformer@compile"
