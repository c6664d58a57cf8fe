#!/usr/bin/env bash
# Issue 13 after the exact banded pass (models/llie_bands.py), in one device call: the GPU tests of the split op and
# the bands, then the low-light nets at photo sizes, batch 1, inference: saga_llie_small in one pass and in bands of
# 128/256/512 rows against its channel-attention twin and retinexformer (bf16 eager at 1080x1920, 2160x3840 and
# 4000x6000; fp32 eager at 1080x1920), where the time of a banded pass goes at 2160x3840, and last the
# compiled pair at 2160x3840 (a banded pass compiles to one long graph: it may not finish in its time). SMOKE=1 runs the
# same parts on the CPU at small sizes. Results under $OUT (one tar; see device_parts.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue13_bands.tar
source benchmarks/device_parts.sh
SAGA="saga_llie_small,saga_llie_small:band_rows=128,saga_llie_small:band_rows=256,saga_llie_small:band_rows=512"
MODELS="$SAGA,llie_channel_small,retinexformer"
if [ "${SMOKE:-0}" = 1 ]; then
  part 300 python3 -m saga_attention.cli bench --device cpu --task enhance --batch 1 --warmup 0 --repeats 1 \
      --models "saga_llie_tiny,saga_llie_tiny:band_rows=32,retinexformer" --res 96x160 --json "$R/smoke.json"
  exit 0
fi
machine
part 110 bash -c "python3 -m pytest -q tests/ops/test_saga_state.py tests/models/test_llie_bands.py \
    -p no:cacheprovider > '$R/pytest.txt' 2>&1"
bench 230 eager_bf16 --task enhance --batch 1 --warmup 2 --repeats 5 --models "$MODELS" \
    --res 1080x1920,2160x3840,4000x6000
part 50 python3 -m saga_attention.cli bench --device cuda --dtype fp32 --task enhance --batch 1 --warmup 2 \
    --repeats 5 --models "saga_llie_small,saga_llie_small:band_rows=256,retinexformer" --res 1080x1920 \
    --json "$R/eager_fp32.json"
part 40 python3 benchmarks/profile_models.py --models saga_llie_small:band_rows=256,saga_llie_small --res 2160 \
    --batch 1 --out "$R/profile_bands_2160.txt"
bench 150 compiled_bf16 --task enhance --batch 1 --warmup 2 --repeats 5 --res 2160x3840 \
    --models "saga_llie_small@compile,retinexformer@compile"
bench 100 compiled_bands_bf16 --task enhance --batch 1 --warmup 2 --repeats 5 --res 2160x3840 \
    --models "saga_llie_small:band_rows=256@compile"
