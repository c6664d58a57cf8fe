#!/usr/bin/env bash
# Issue 16 in one device call on nvidia-h200-x2: torchrun over NCCL, checked and measured.
#  1. saga_pvt_tiny (classification, `match` at 64 px) and saga_llie_small (enhancement, built-in pairs, 256 crops)
#     on 2 GPUs: the ranks' weight checksums must agree (summary.json ranks_agree); the same total batch and seed
#     on 1 GPU ends within 2% of the 2-GPU final training loss.
#  2. One rank of a 2-GPU run is killed after epoch 1; `--resume` finishes it; its last checkpoint is compared,
#     tensor by tensor, with the uninterrupted run's.
#  3. Throughput, synthetic batches, 1 vs 2 GPUs at the same per-GPU batch (benchmarks/ddp_throughput.py).
# SMOKE=1 runs the same plumbing on the CPU (gloo) at toy sizes. Everything lands in $OUT/issue16.tar.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1 SAGA_CACHE=${SAGA_CACHE:-/tmp/saga-cache}
TAR=issue16.tar; source benchmarks/device_parts.sh
TORCHRUN="python3 -m torch.distributed.run --nproc_per_node"
if [ "${SMOKE:-0}" = 1 ]; then
  CLS="model=saga_pvt_tiny data=match img_size=64 train_size=32 val_size=16 epochs=2 workers=0 device=cpu"
  ENH="model=saga_llie_tiny data=lowlight crop=64 samples_per_epoch=16 epochs=1 workers=0 device=cpu"
  CB=(8 16); EB=(2 4); TP_CLS=(--res 64 --batch 4 --steps 2 --warmup 1 --device cpu)
  TP_ENH=(--model saga_llie_tiny --res 64 --batch 2 --steps 2 --warmup 1 --device cpu)
else
  machine
  CLS="model=saga_pvt_tiny data=match img_size=64 train_size=2048 val_size=256 epochs=2 workers=6"
  ENH="model=saga_llie_small data=lowlight crop=256 samples_per_epoch=256 epochs=2 workers=6"
  CB=(64 128); EB=(16 32); TP_CLS=(--res 224 --batch 128 --steps 20); TP_ENH=(--model saga_llie_small --res 256 --batch 16 --steps 20)
fi
train() { local limit=$1 name=$2; shift 2; part "$limit" "$@" > "$R/$name.log" 2>&1; tail -2 "$R/$name.log"; }
train 150 cls-2 $TORCHRUN 2 -m saga_attention.cli train $CLS batch_size=${CB[0]} out=$R/cls-2
train 120 cls-1 python3 -m saga_attention.cli train $CLS batch_size=${CB[1]} out=$R/cls-1
train 150 enh-2 $TORCHRUN 2 -m saga_attention.cli train $ENH batch_size=${EB[0]} out=$R/enh-2
train 120 enh-1 python3 -m saga_attention.cli train $ENH batch_size=${EB[1]} out=$R/enh-1

# kill one rank (a worker process of torchrun) once epoch 1 is logged, then resume
$TORCHRUN 2 -m saga_attention.cli train $CLS batch_size=${CB[0]} out=$R/cls-killed > "$R/cls-killed.log" 2>&1 &
launcher=$!
for _ in $(seq 300); do
  [ -s "$R/cls-killed/metrics.jsonl" ] && break; sleep 0.5
done
victim=$(pgrep -P "$launcher" | tail -1); echo "killing rank process $victim" | tee -a "$R/parts.txt"
kill -9 "$victim"; wait "$launcher"; echo "killed run rc=$?" | tee -a "$R/parts.txt"
train 150 cls-resumed $TORCHRUN 2 -m saga_attention.cli train --resume "$R/cls-killed"
part 60 python3 benchmarks/issue16_check.py "$R" > /dev/null      # the checkpoints stay on the machine

part 120 python3 benchmarks/ddp_throughput.py "${TP_CLS[@]}" --out "$R/tp-cls-1.json"
part 120 $TORCHRUN 2 benchmarks/ddp_throughput.py "${TP_CLS[@]}" --out "$R/tp-cls-2.json"
part 120 python3 benchmarks/ddp_throughput.py "${TP_ENH[@]}" --out "$R/tp-enh-1.json"
part 120 $TORCHRUN 2 benchmarks/ddp_throughput.py "${TP_ENH[@]}" --out "$R/tp-enh-2.json"
python3 benchmarks/issue16_check.py "$R" | tee "$R/check.txt"
pack
