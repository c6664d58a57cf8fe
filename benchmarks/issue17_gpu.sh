#!/usr/bin/env bash
# Issue 17 on a GPU machine, in one device call: timm's own create_model (features_only), forward_intermediates,
# FeatureInfo and resolve_data_config for every registered model; gradient checkpointing at 1024 px, batch 2;
# the timm tests of tests/test_gpu.py. Results under $OUT.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/machine.txt"
python3 -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__)" | tee -a "$OUT/machine.txt"
python3 benchmarks/timm_check.py --out "$OUT/timm_check.json"; echo "timm_check rc=$?"
python3 benchmarks/grad_checkpointing.py --models saga_pvt_tiny,pvt_tiny --res 1024 --batch 2 --device cuda \
    --repeats 10 --out "$OUT/grad_checkpointing_gpu.json"; echo "grad_checkpointing rc=$?"
python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py -k timm 2>&1 | tail -3 | tee "$OUT/pytest_timm.txt"
