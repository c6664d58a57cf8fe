#!/usr/bin/env bash
# Issue 14, second device call: the GPU tests of the fused ops, kernel bandwidth and host cost, training
# steps eager and with CUDA graphs (compile=reduce-overhead), compiled inference at 2048. Everything lands in
# $OUT/issue14b.tar (the device returns at most 8 files), rewritten after each part.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
R="$OUT/r"; mkdir -p "$R"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$R/machine.txt"
part() { local limit=$1; shift; timeout "$limit" "$@"; echo "rc=$? : $*" | tee -a "$R/parts.txt"
  tar -cf "$OUT/issue14b.tar" -C "$R" .; }
bench() { local limit=$1 name=$2; shift 2
  part "$limit" python3 -m saga_attention.cli bench --device cuda --dtype bf16 --warmup 3 --repeats 10 "$@" \
      --json "$R/$name.json"; }
part 100 python3 -m pytest -q -x -p no:cacheprovider tests/ops/test_norm_mlp.py tests/ops/test_saga_triton.py \
    > "$R/tests.txt" 2>&1; tail -3 "$R/tests.txt"
part 70 python3 benchmarks/kernel_bench.py --no-sweep --out "$R/kernels.json"
bench 60 train_eager --models pvt_tiny,saga_pvt_tiny --res 1280 --batch 2,8 --mode train,fwd-bwd
bench 230 train_graphs --models pvt_tiny@reduce-overhead,saga_pvt_tiny@reduce-overhead --res 1280 --batch 2,8 \
    --mode train
bench 80 infer_compiled_2048 --models pvt_tiny@compile,saga_pvt_tiny@compile --res 2048 --batch 4
