#!/usr/bin/env bash
# Issue 14 in one device call: small-batch training speed, inference, compiled memory and host overhead,
# pvt_tiny (SDPA) against saga_pvt_tiny, bf16, the same fusions on both sides (the fused LayerNorm + MLP
# kernel is each model's default in inference). Each part has its own time limit and JSON,
# all in $OUT/issue14a.tar (the run in results/issue14-small-batch/a predates the archive).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue14a.tar; source benchmarks/device_parts.sh
machine
part 100 python3 -m pytest -q -x -p no:cacheprovider tests/ops/test_norm_mlp.py tests/ops/test_saga_triton.py \
    > "$R/tests.txt" 2>&1; tail -3 "$R/tests.txt"
part 90 python3 benchmarks/kernel_bench.py --no-sweep --out "$R/kernels.json"
bench 60 train_eager --models pvt_tiny,saga_pvt_tiny --res 1280 --batch 2,8 --mode train,fwd-bwd
bench 120 infer_eager --models pvt_tiny,saga_pvt_tiny --res 1280,2048 --batch 1,2,4,8
bench 30 infer_mlp_unfused --models pvt_tiny:mlp_backend=torch,saga_pvt_tiny:mlp_backend=torch --res 1280 --batch 4
part 40 python3 benchmarks/busy_fraction.py --models pvt_tiny,saga_pvt_tiny --res 1280 --batch 2 --mode train \
    --out "$R/busy_train_b2.json"
bench 90 train_graphs_b2 --models pvt_tiny@reduce-overhead,saga_pvt_tiny@reduce-overhead --res 1280 --batch 2 \
    --mode train
bench 70 infer_compiled --models pvt_tiny@compile,saga_pvt_tiny@compile --res 1280 --batch 4
bench 60 infer_compiled_2048 --models pvt_tiny@compile,saga_pvt_tiny@compile --res 2048 --batch 4
python3 -m saga_attention.cli report "$R"/*.json --out "$R/issue14" > /dev/null 2>&1 || true
ls "$R"; pack
