#!/usr/bin/env bash
# Issue 14, second device call: the GPU tests of the fused ops, kernel bandwidth and host cost, training
# steps eager and with CUDA graphs (compile=reduce-overhead), compiled inference at 2048. Everything lands in
# $OUT/issue14b.tar (the device returns at most 8 files), rewritten after each part.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue14b.tar; source benchmarks/device_parts.sh
machine
part 100 python3 -m pytest -q -x -p no:cacheprovider tests/ops/test_norm_mlp.py tests/ops/test_saga_triton.py \
    > "$R/tests.txt" 2>&1; tail -3 "$R/tests.txt"
part 70 python3 benchmarks/kernel_bench.py --no-sweep --out "$R/kernels.json"
bench 60 train_eager --models pvt_tiny,saga_pvt_tiny --res 1280 --batch 2,8 --mode train,fwd-bwd
bench 230 train_graphs --models pvt_tiny@reduce-overhead,saga_pvt_tiny@reduce-overhead --res 1280 --batch 2,8 \
    --mode train
bench 80 infer_compiled_2048 --models pvt_tiny@compile,saga_pvt_tiny@compile --res 2048 --batch 4
