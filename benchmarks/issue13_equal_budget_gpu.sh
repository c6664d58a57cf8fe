#!/usr/bin/env bash
# Issue 13: the equal-budget table at small size on the GPU: saga_llie_small, llie_channel_small and retinexformer,
# seeds 0 and 1, 1000 steps of 8 crops of 128x128 on the built-in pairs, all six runs side by side on one GPU, then
# every best checkpoint on the held-out photographs. Results under $OUT: issue13_equal_budget.tar.
TAR=issue13_equal_budget.tar LIMIT=${LIMIT:-480} exec bash "$(dirname "$0")/issue12_equal_budget_gpu.sh" \
    --parallel 6 --models saga_llie_small,llie_channel_small,retinexformer --steps 1000 --epochs 4 --batch 8
