#!/usr/bin/env bash
# Issue 14 (and 13) on the H200, one device call (~8 minutes), after the narrow-row LayerNorm kernel became PVT's
# inference norm and the low-light decoders' pixel shuffle kept channels-last: the inference pairs again (against
# issue14e's run), the eager low-light triple at 2160x3840, and SAGA's local conv inside the output kernel against
# no conv and a separate conv, with a launch sweep of the output kernel. Results in $OUT/issue14f.tar.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue14f.tar; source benchmarks/device_parts.sh
machine
part 60 python3 -m pytest -q -x -p no:cacheprovider tests/test_gpu.py -k "fast_paths or compiled_saga_model" \
    > "$R/tests.txt" 2>&1; tail -1 "$R/tests.txt"
bench 60 infer_eager --models pvt_tiny,saga_pvt_tiny --res 1280,2048 --batch 4
bench 90 infer_compiled --models pvt_tiny@compile,saga_pvt_tiny@compile --res 1280,2048 --batch 4
bench 60 llie_eager --task enhance --batch 1 --warmup 2 --repeats 5 --res 2160x3840 \
    --models "saga_llie_small,llie_channel_small,retinexformer"
part 220 python3 benchmarks/local_conv_bench.py --out "$R/local_conv.json" > "$R/local_conv.txt" 2>&1
tail -4 "$R/local_conv.txt"
part 40 python3 benchmarks/profile_models.py --models saga_pvt_tiny --res 1280 --batch 4 --out "$R/profile_eager.txt"
python3 -m saga_attention.cli report "$R"/infer_*.json "$R"/llie_eager.json --out "$R/issue14f" > /dev/null 2>&1 || true
ls "$R"; pack
