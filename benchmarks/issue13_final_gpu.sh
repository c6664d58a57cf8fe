#!/usr/bin/env bash
# Issue 13, last device call of the session: after the bias-in-gate fusion, the low-light nets again at photo
# sizes (batch 1, bf16 inference): saga_llie_small in one pass and in bands of 256 rows, the channel-attention
# twin and retinexformer, eager at 1080x1920, 2160x3840 and 4000x6000, the profile at 2160x2160 and the compiled
# triple at 2160x3840; then the full-size weights (saga_llie_small, 2000 steps of 16 crops of 128x128 on the
# built-in synthetic pairs), with the GPU tests beside it. (The training call before lost its time: seven
# trainings side by side, each with sixteen OpenMP threads, starved the CPU; this one trains alone, 4 threads.)
# Results under $OUT: issue13_final.tar (see device_parts.sh) and full_run.tar (the run folder, best weights).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
TAR=issue13_final.tar
source benchmarks/device_parts.sh
machine
bench 120 eager_bf16 --task enhance --batch 1 --warmup 2 --repeats 5 --res 1080x1920,2160x3840,4000x6000 \
    --models "saga_llie_small,saga_llie_small:band_rows=256,llie_channel_small,retinexformer"
part 30 python3 benchmarks/profile_models.py --models saga_llie_small --res 2160 --batch 1 --out "$R/profile_2160.txt"
bench 100 compiled_bf16 --task enhance --batch 1 --warmup 2 --repeats 5 --res 2160x3840 \
    --models "saga_llie_small@compile,llie_channel_small@compile,retinexformer@compile"
part 260 bash -c "
python3 -m saga_attention.cli train --config lowlight model=saga_llie_small epochs=10 samples_per_epoch=3200 \
    batch_size=16 crop=128 lr=1e-3 min_lr=1e-5 warmup_epochs=1 weight_decay=1e-4 clip_grad=1.0 ema_decay=0.999 \
    workers=6 device=cuda resumable=false out='$R/full' > '$R/full.log' 2>&1 &
python3 -m pytest -q tests/ops/test_saga_triton.py tests/ops/test_gelu_gate.py tests/ops/test_layer_norm.py \
    tests/ops/test_saga_state.py tests/models/test_llie_bands.py -p no:cacheprovider > '$R/pytest.txt' 2>&1 &
wait"
rm -f "$R"/full/last.safetensors
tar -cf "$OUT/full_run.tar" -C "$R" full
rm -rf "$R/full"
pack
