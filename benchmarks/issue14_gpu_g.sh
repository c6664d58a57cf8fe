#!/usr/bin/env bash
# Issues 14 and 13 on the H200, one device call (~9 minutes), after the output kernel got its own launch for the
# local conv and the conv stayed in it under torch.compile: GPU tests of both; the inference pairs eager and
# compiled (1280 and 2048, b4); compiled SAGA with the conv outside the op as before (a copy of src/ with the old
# condition), the A/B in the same run; training steps b2/b8; the low-light triple eager and the compiled pair at
# 2160x3840. Results in $OUT/issue14g.tar (see device_parts.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue14g.tar; source benchmarks/device_parts.sh
machine
part 70 python3 -m pytest -q -x -p no:cacheprovider tests/ops/test_saga_triton.py -k "local_conv or slices" \
    tests/test_gpu.py -k "fast_paths or local_conv or slices" > "$R/tests.txt" 2>&1; tail -1 "$R/tests.txt"
bench 50 infer_eager --models pvt_tiny,saga_pvt_tiny --res 1280,2048 --batch 4
bench 150 infer_compiled --models pvt_tiny@compile,saga_pvt_tiny@compile --res 1280,2048 --batch 4
OLD=/tmp/old; rm -rf $OLD; mkdir -p $OLD; cp -r src $OLD/
sed -i 's/fused_conv = tuple(kv_hw) == (H, W)$/fused_conv = tuple(kv_hw) == (H, W) and not torch.compiler.is_compiling()/' \
    $OLD/src/saga_attention/layers/saga_attention.py
grep -c "is_compiling" $OLD/src/saga_attention/layers/saga_attention.py | tee "$R/old_condition.txt"
PYTHONPATH=$OLD/src bench 70 infer_compiled_conv_outside --models saga_pvt_tiny@compile --res 1280 --batch 4
bench 45 train_eager --models pvt_tiny,saga_pvt_tiny --res 1280 --batch 2,8 --mode train
bench 45 llie_eager --task enhance --batch 1 --warmup 2 --repeats 5 --res 2160x3840 \
    --models "saga_llie_small,llie_channel_small,retinexformer"
bench 110 llie_compiled --task enhance --batch 1 --warmup 2 --repeats 5 --res 2160x3840 \
    --models "saga_llie_small@compile,retinexformer@compile"
python3 -m saga_attention.cli report "$R"/infer_*.json "$R"/train_eager.json "$R"/llie_*.json --out "$R/issue14g" \
    > /dev/null 2>&1 || true
ls "$R"; pack
