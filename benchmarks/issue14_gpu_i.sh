#!/usr/bin/env bash
# Issue 14, next device call (prepared, not yet run): the LayerNorm kernel's backward in training. The GPU tests
# of the norm, then benchmarks/layer_norm_train_ab.py at 1280^2, batch 2 and 8 (the norm alone, then a training
# step of pvt_tiny and saga_pvt_tiny with every layers.LayerNorm on aten and on the kernel). If the kernel wins
# for both models, its "auto" path can take training too. Last, the eager inference pair as h/ ran it (three
# times), now with the resized position embedding kept. Results under $OUT: issue14_i.tar (device_parts.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue14_i.tar
source benchmarks/device_parts.sh
machine
part 120 python3 -m pytest -q tests/test_gpu.py -k "layer_norm or norms" tests/ops/test_layer_norm.py \
    -p no:cacheprovider > "$R/tests.txt" 2>&1
part 240 python3 benchmarks/layer_norm_train_ab.py --res 1280 --batch 2,8 --repeats 20 --out "$R/layer_norm_ab.json"
for i in 1 2 3; do
  part 40 python3 -m saga_attention.cli bench --device cuda --dtype bf16 --warmup 10 --repeats 50 \
      --models pvt_tiny,saga_pvt_tiny --res 1280,2048 --batch 4 --json "$R/infer_eager_$i.json"
done
tail -n 3 "$R/tests.txt"
