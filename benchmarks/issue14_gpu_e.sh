#!/usr/bin/env bash
# Issue 14 on the H200, one device call (~7 minutes): where the inference time and memory of saga_pvt_tiny go
# at 1280 b4 (kernel profiles, eager and compiled, both models), the inference and training pairs again on
# this GPU, and issue 13's layout check of the low-light net's residual operands with its compiled GPU test.
# Results in $OUT/issue14e.tar (see device_parts.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue14e.tar; source benchmarks/device_parts.sh
machine
part 30 python3 benchmarks/llie_layouts.py --model saga_llie_small --res 1080x1920 > "$R/llie_layouts.txt" 2>&1
part 60 python3 -m pytest -q -x -p no:cacheprovider tests/test_gpu.py -k compiled_enhancement > "$R/tests13.txt" 2>&1
part 50 python3 benchmarks/profile_models.py --models pvt_tiny,saga_pvt_tiny --res 1280 --batch 4 --ops \
    --out "$R/profile_eager.txt"
part 80 python3 benchmarks/profile_models.py --models pvt_tiny,saga_pvt_tiny --res 1280 --batch 4 --compile \
    --out "$R/profile_compiled.txt"
bench 60 infer_eager --models pvt_tiny,saga_pvt_tiny --res 1280,2048 --batch 4
bench 90 infer_compiled --models pvt_tiny@compile,saga_pvt_tiny@compile --res 1280,2048 --batch 4
bench 60 train_eager --models pvt_tiny,saga_pvt_tiny --res 1280 --batch 2,8 --mode train,fwd-bwd
python3 -m saga_attention.cli report "$R"/*.json --out "$R/issue14e" > /dev/null 2>&1 || true
ls "$R"; pack
