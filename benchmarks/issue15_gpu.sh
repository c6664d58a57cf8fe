#!/usr/bin/env bash
# Issue 15 on one or more GPUs: one step of benchmarks/accuracy_study.py (STEP=sweep, diagnose or study), its trainings
# side by side on every GPU, with GPU use sampled every 10 s. Everything lands in $OUT/issue15-$STEP.tar.
# Usage (repository root): STEP=sweep SLOTS=18 DEADLINE=300 bash benchmarks/issue15_gpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1 SAGA_CACHE=${SAGA_CACHE:-/tmp/saga-cache}
STEP=${STEP:-sweep}; TAR=issue15-$STEP.tar; source benchmarks/device_parts.sh
machine
nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader -l 10 > "$R/gpu-use.csv" &
part "${LIMIT:-560}" python3 benchmarks/accuracy_study.py "$STEP" "$R/$STEP" --slots "${SLOTS:-18}" \
    --deadline "${DEADLINE:-300}" ${STUDY_OPTIONS:-} > "$R/$STEP.log" 2>&1
kill %1; pack
tail -n 60 "$R/$STEP.log"
