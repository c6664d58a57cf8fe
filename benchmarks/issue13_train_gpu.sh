#!/usr/bin/env bash
# Issue 13, training call: the profile of saga_llie_small at 2160x2160 with the aten op and shape of every kernel;
# then, side by side on the one GPU, (1) full-size weights: saga_llie_small trained on the built-in synthetic pairs
# (2400 steps of 16 crops of 128x128), (2) the equal-budget table at small size: saga_llie_small,
# llie_channel_small and retinexformer, 2 seeds each, 1000 steps of 8 crops of 128x128, then the held-out
# photographs, and (3) the GPU tests of the kernels. Results under $OUT: issue13_train.tar (see device_parts.sh)
# and full_run.tar (the weights' run folder, with best.safetensors).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue13_train.tar
source benchmarks/device_parts.sh
machine
part 45 python3 benchmarks/profile_models.py --models saga_llie_small --res 2160 --batch 1 --ops \
    --out "$R/profile_ops_2160.txt"
part 430 bash -c "
python3 benchmarks/llie_equal_budget.py --out '$R/equal_budget' --device cuda --parallel 6 \
    --models saga_llie_small,llie_channel_small,retinexformer --steps 1000 --epochs 4 --batch 8 \
    > '$R/equal_budget.log' 2>&1 &
python3 -m saga_attention.cli train --config lowlight model=saga_llie_small epochs=12 samples_per_epoch=3200 \
    batch_size=16 crop=128 lr=1e-3 min_lr=1e-5 warmup_epochs=1 weight_decay=1e-4 clip_grad=1.0 ema_decay=0.999 \
    workers=4 device=cuda resumable=false out='$R/full' > '$R/full.log' 2>&1 &
python3 -m pytest -q tests/ops/test_saga_triton.py tests/ops/test_saga_state.py tests/ops/test_gelu_gate.py \
    tests/ops/test_layer_norm.py tests/models/test_llie_bands.py -p no:cacheprovider > '$R/pytest.txt' 2>&1 &
wait"
rm -f "$R"/full/last.safetensors
tar -cf "$OUT/full_run.tar" -C "$R" full
rm -rf "$R/full" "$R"/equal_budget/runs/*/*.safetensors
pack
