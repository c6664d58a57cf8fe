#!/usr/bin/env bash
# Issue 13, after k/: the output kernel packs narrow heads only without the local conv (packed with it, the
# low-light net ran slower), the state kernel always. The A/B of PACK_WIDTH 0 and 64 in one process, then the
# eager triple and the compiled pair at 2160x3840 (batch 1, bf16). Then issue 14's training steps at 1280^2
# (eager, and with CUDA graphs), batch 2 and 8, with LayerNorm's training rule. At most 370 s (the parts' limits).
# Results in $OUT/issue13_l.tar (see device_parts.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
TAR=issue13_l.tar
source benchmarks/device_parts.sh
machine
part 80 python3 benchmarks/pack_heads_ab.py --widths 0,64 --out "$R/pack_heads_ab.json"
bench 60 eager_bf16 --task enhance --batch 1 --warmup 2 --repeats 5 --res 2160x3840 \
    --models "saga_llie_small,llie_channel_small,retinexformer"
bench 70 compiled_bf16 --task enhance --batch 1 --warmup 2 --repeats 5 --res 2160x3840 \
    --models "saga_llie_small@compile,retinexformer@compile"
bench 60 train_eager --models pvt_tiny,saga_pvt_tiny --res 1280 --batch 2,8 --mode train,fwd-bwd
bench 100 train_graphs --models pvt_tiny@reduce-overhead,saga_pvt_tiny@reduce-overhead --res 1280 --batch 2,8 \
    --mode train
