#!/usr/bin/env bash
# Issue 4 follow-up on one GPU: (a) pathfinder with 5x the data (100k images, 6 epochs: as many steps
# as the main study's 15 epochs of 20k... times 2) for all four kinds, seed 0; (b) the SAGA options
# DESIGN section 1 leaves open, on match, seed 0, the main study's recipe. Usage: bash benchmarks/issue4_followup.sh
set -uo pipefail
export PYTHONPATH=src SAGA_CACHE=/tmp/saga-cache
OUT=${OUT:-out}; RUNS=/tmp/followup
mkdir -p "$OUT" "$RUNS"
python3 -c "from saga_attention.train.data import builtin_split as b; b('pathfinder','train',64,100000,0); b('pathfinder','val',64,4000,0); b('match','train',64,20000,0); b('match','val',64,4000,0)"
for model in pvt_tiny linear_pvt_tiny focused_pvt_tiny saga_pvt_tiny; do
  timeout 520 python3 -m saga_attention.cli train data=pathfinder train_size=100000 epochs=6 model=$model img_size=64 \
    seed=0 workers=2 batch_size=128 out=$RUNS/pathfinder100k-$model > "$RUNS/pathfinder100k-$model.log" 2>&1 &
done
for option in gate_bias_init=2.0 gate_granularity=head value_gate=false normalizer=ungated; do
  timeout 520 python3 -m saga_attention.cli train data=match epochs=15 model=saga_pvt_tiny img_size=64 seed=0 workers=2 \
    batch_size=128 "model_kwargs={attn_kwargs: {${option/=/: }}}" out=$RUNS/match-saga-$option > "$RUNS/match-saga-$option.log" 2>&1 &
done
wait
tar czf "$OUT/followup.tar.gz" --exclude='*.safetensors' --exclude='tensorboard' -C /tmp followup
for f in $RUNS/*/summary.json; do python3 -c "import json; s=json.load(open('$f')); print('$f', s['best_top1'], s['last']['val_top1'], s['last']['train_loss'])"; done
