#!/usr/bin/env bash
# Everything a GPU machine should check and measure (run from the repository root; the GPU image runs the
# package from source), in two calls of under 10 minutes each:
#
#   OUT=runs/gpu PARTS=tests bash benchmarks/gpu.sh                      # the GPU tests, about 6 minutes
#   OUT=runs/gpu PARTS="ops pvt lowlight busy" bash benchmarks/gpu.sh    # the measurements, about 9 minutes
#   OUT=runs/gpu PARTS=llie bash benchmarks/gpu.sh                       # low-light trainings, about 7 minutes
#
# Parts, in order, each under its own time limit (seconds), writing under $OUT:
#   tests     the GPU tests (pytest -m gpu: kernels against float64, compiled models, timm's contract),
#             dealt to SHARDS processes (default 4) side by side                                      500
#   ops       the op and its kernels: share of the copy bandwidth, host time per call (benchmarks/ops.py)  100
#   pvt       saga_pvt_tiny against pvt_tiny, bf16, 1280 and 2048: inference eager at batch 1, 4 and 8,
#             compiled at batch 4, training steps at batch 2 and 8 (saga bench)                          300
#   lowlight  saga_llie_small against retinexformer and the channel-attention twin at 3840x2160, batch 1,
#             eager and compiled, and in bands of 256 rows (saga bench --task enhance)                     240
#   busy      how busy the GPU is in a training step at batch 2 (benchmarks/profiling.py busy)             60
#   llie      saga_llie_small and retinexformer (given the same stretched input views) trained alike (recipe
#             llie-small, LLIE_STEPS steps (default 1000), 2 seeds, four runs side by side; needs data/photos,
#             from tools/prepare_photos.py); each run packed as $OUT/llie-RUN.tar, to score with
#             benchmarks/lowlight.py heldout --model RUN                                                     420
# Each part's exit code goes to $OUT/parts.txt; the machine and versions to $OUT/machine.txt. No part runs past
# DEADLINE seconds from the start (default 570): a part cut short records rc=124. After every part $OUT.tar.gz
# holds the whole folder.
set -uo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
OUT=${OUT:-runs/gpu}
PARTS=${PARTS:-tests ops pvt lowlight busy}     # all of them take about 15 minutes
DEADLINE=${DEADLINE:-570}
START=$SECONDS
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/machine.txt"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$OUT/machine.txt"

part() {   # part NAME LIMIT COMMAND...: run COMMAND under LIMIT seconds (TESTS_LIMIT: the tests'), log its rc
  local name=$1 limit=$2; shift 2
  case " $PARTS " in *" $name "*) ;; *) return ;; esac
  local left=$((DEADLINE - (SECONDS - START)))
  if [ "$left" -lt 5 ]; then echo "rc=124 : $name : not started (deadline) : $*" | tee -a "$OUT/parts.txt"; return; fi
  local began=$SECONDS
  timeout "$((limit < left ? limit : left))" "$@"
  echo "rc=$? : $name : $((SECONDS - began)) s : $*" | tee -a "$OUT/parts.txt"
  tar -czf "$OUT.tar.gz" -C "$OUT" .     # the whole folder in one file, for machines that return few files
}
bench() {  # bench NAME LIMIT SAGA-BENCH-ARGS...
  local name=$1 limit=$2; shift 2
  part "$name" "$limit" python3 -m saga_attention.cli bench --device cuda --dtype bf16 "$@"
}

# The GPU tests, dealt round-robin to $SHARDS processes that share the one GPU: compiling kernels and graphs is
# most of their time, and that runs on the CPU cores.
gpu_tests() {
  local pids=() rc=0 shard pid
  python3 -m pytest -q -p no:cacheprovider -m gpu --collect-only | grep "::" > "$OUT/tests/ids.txt"
  for shard in $(seq 0 $((SHARDS - 1))); do
    awk -v n="$SHARDS" -v k="$shard" 'NR % n == k' "$OUT/tests/ids.txt" > "$OUT/tests/shard$shard.ids"
    xargs -a "$OUT/tests/shard$shard.ids" python3 -m pytest -q -p no:cacheprovider -m gpu -rf --durations=10 \
        --junitxml="$OUT/tests/shard$shard.xml" > "$OUT/tests/shard$shard.txt" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || rc=$?; done
  return "$rc"
}
mkdir -p "$OUT/tests"
part tests "${TESTS_LIMIT:-500}" bash -c "$(declare -f gpu_tests); OUT='$OUT' SHARDS=${SHARDS:-4}; gpu_tests"
tail -qn 3 "$OUT"/tests/shard*.txt 2>/dev/null
part ops 100 python3 benchmarks/ops.py --no-sweep --out "$OUT/ops.json"
mkdir -p "$OUT/pvt" "$OUT/lowlight"
bench pvt 120 --model pvt_tiny,saga_pvt_tiny --res 1280,2048 --batch 1,4,8 --json "$OUT/pvt/inference_eager.json"
bench pvt 120 --model pvt_tiny@compile,saga_pvt_tiny@compile --res 1280,2048 --batch 4 \
    --json "$OUT/pvt/inference_compiled.json"
bench pvt 60 --model pvt_tiny,saga_pvt_tiny --res 1280 --batch 2,8 --mode train --json "$OUT/pvt/train_eager.json"
bench lowlight 90 --task enhance --model saga_llie_small,saga_llie_small:band_rows=256,llie_channel_small,retinexformer \
    --res 2160x3840 --warmup 2 --repeats 5 --json "$OUT/lowlight/eager.json"
bench lowlight 150 --task enhance --model saga_llie_small@compile,retinexformer@compile --res 2160x3840 \
    --warmup 2 --repeats 5 --json "$OUT/lowlight/compiled.json"
part busy 60 python3 benchmarks/profiling.py busy --model pvt_tiny,saga_pvt_tiny --mode train --batch 2 \
    --out "$OUT/busy.json"
part llie 420 python3 benchmarks/lowlight.py equal-budget --recipe llie-small --data data/photos \
    --models saga_llie_small,retinexformer:input_views=true --seeds 0,1 --steps "${LLIE_STEPS:-1000}" --epochs 5 --batch 16 \
    --crop 192 --device cuda --parallel 4 --workers 3 --out "$OUT/llie"
for run in "$OUT"/llie/runs/*/; do      # one small archive per run: its best weights, settings, metrics and log
  [ -d "$run" ] || continue
  name=$(basename "$run")
  tar -cf "$OUT/llie-${name//[:=]/-}.tar" -C "$OUT/llie/runs" --exclude='*/last*' --exclude='*/checkpoints' "$name" "$name.log"
done
