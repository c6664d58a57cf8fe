#!/usr/bin/env bash
# Issue 4 on one GPU (the device tool's H200): the accuracy study of pvt_tiny (softmax), linear_pvt_tiny,
# focused_pvt_tiny and saga_pvt_tiny on the built-in tasks, one seed per call, all eight runs at once,
# then the rank curves of the trained models. Also the compiled-model check of issue 3.
# Usage (repository root): SEED=0 EPOCHS=15 bash benchmarks/issue4_gpu.sh   (writes under $OUT)
set -uo pipefail
export PYTHONPATH=src SAGA_CACHE=/tmp/saga-cache
SEED=${SEED:-0}; EPOCHS=${EPOCHS:-15}; OUT=${OUT:-out}; RUNS=/tmp/study
mkdir -p "$OUT" "$RUNS"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$OUT/gpu.txt"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" >> "$OUT/gpu.txt"

if [ "$SEED" = 0 ]; then
  python3 benchmarks/compile_check.py "$OUT/compile_check.json" > "$OUT/compile_check.txt" 2>&1 &
fi
for task in match pathfinder; do
  python3 -c "from saga_attention.train.data import builtin_split as b; b('$task','train',64,20000,0); b('$task','val',64,4000,0)" &
done
wait
echo "data ready: $(ls $SAGA_CACHE)"

COMMON="img_size=64 epochs=$EPOCHS seed=$SEED workers=2 batch_size=128"
for task in match pathfinder; do
  for model in pvt_tiny linear_pvt_tiny focused_pvt_tiny saga_pvt_tiny; do
    name=$task-$model-seed$SEED
    timeout 470 python3 -m saga_attention.cli train data=$task model=$model $COMMON out=$RUNS/$name \
      > "$RUNS/$name.log" 2>&1 &
  done
done
wait
for f in $RUNS/*/summary.json; do python3 -c "import json,sys; s=json.load(open('$f')); print('$f', s['best_top1'], s['last']['val_top1'])"; done
for task in match pathfinder; do
  timeout 60 python3 -m saga_attention.cli rank $RUNS/$task-*-seed$SEED --images 16 --out $RUNS/rank-$task-seed$SEED \
    > "$RUNS/rank-$task.log" 2>&1
done
tar czf "$OUT/study-seed$SEED.tar.gz" --exclude='*.safetensors' --exclude='tensorboard' -C /tmp study
tail -n 3 $RUNS/*.log | grep -v "it/s" | tail -n 60
cat "$OUT/compile_check.txt" 2>/dev/null
