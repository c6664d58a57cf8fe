#!/usr/bin/env bash
# One device call: the full test suite (GPU tests included) on the GPU machine, then the baseline
# benchmark of the plain-PyTorch SAGA models against PVT-T. Writes everything under $OUT.
# Run from the repository root: OUT=/some/dir bash benchmarks/gpu_check.sh
set -uo pipefail
export PYTHONPATH=src PYTHONUNBUFFERED=1
OUT=${OUT:-runs/gpu-check}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$OUT/gpu.txt"
python3 -m pytest -q -p no:cacheprovider -m "gpu or not gpu" 2>&1 | tee "$OUT/pytest.txt" | tail -n 5
python3 -m saga_attention.cli bench --device cuda --dtype bf16,fp32 --mode inference --batch 8 \
    --models pvt_tiny:impl=math,pvt_tiny,saga_pvt_tiny,linear_pvt_tiny,focused_pvt_tiny \
    --res 224,512,1024,1280,2048 --json "$OUT/bench_inference.json" 2>/dev/null | tail -n 30
python3 -m saga_attention.cli bench --device cuda --dtype bf16 --mode train --batch 8 \
    --models pvt_tiny:impl=math,pvt_tiny,saga_pvt_tiny --res 1280 --json "$OUT/bench_train.json" 2>/dev/null | tail -n 12
