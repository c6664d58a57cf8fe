#!/usr/bin/env bash
# Issue 14, fourth device call: host cost after skipping the one-split sums, kernel bandwidth, `saga train`
# with compile=reduce-overhead end to end, and the GPU tests of the fused MLP and the models.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src PYTHONUNBUFFERED=1 SAGA_CACHE=/tmp/saga-cache
TAR=issue14d.tar; source benchmarks/device_parts.sh
part 60 python3 benchmarks/host_profile.py --out "$R/host_profile.txt" > /dev/null 2> "$R/host_profile.err"
part 100 python3 benchmarks/kernel_bench.py --no-sweep --out "$R/kernels.json" > "$R/kernels.txt" 2>&1
tail -16 "$R/kernels.txt"
part 150 python3 -m saga_attention.cli train model=saga_pvt_tiny data=match img_size=64 train_size=512 val_size=64 \
    epochs=2 batch_size=32 workers=4 compile=reduce-overhead ema_decay=0.99 out=/tmp/run-graphs > "$R/train_graphs.txt" 2>&1
tail -4 "$R/train_graphs.txt"; cp /tmp/run-graphs/metrics.csv "$R/train_graphs_metrics.csv" 2>/dev/null
part 120 python3 -m pytest -q -p no:cacheprovider tests/ops/test_norm_mlp.py tests/test_gpu.py > "$R/tests.txt" 2>&1
tail -4 "$R/tests.txt"; head -30 "$R/host_profile.txt"
