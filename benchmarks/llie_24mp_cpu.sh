#!/usr/bin/env bash
# Issue 12's 24 MP target on the CPU: a 6000x4000 photo (chelsea, which the shipped weights never saw, upscaled and
# darkened 8x in linear light) through `saga enhance` with the shipped weights, timed with GNU time for the peak
# resident memory of the whole command. About 3 minutes on 2 cores. Writes under ${1:-benchmarks/results/issue12-llie/cpu-24mp}.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-benchmarks/results/issue12-llie/cpu-24mp}
WORK=$(mktemp -d)
mkdir -p "$OUT_DIR"
python3 - "$WORK/dark_6000x4000.jpg" <<'PY'
import sys

import numpy as np
from PIL import Image
from skimage import data

img = Image.fromarray(data.chelsea()).resize((6000, 4000), Image.BICUBIC)
dark = (np.asarray(img, dtype=np.float32) / 255) ** 2.2 / 8
Image.fromarray(np.round(np.clip(dark, 0, 1) ** (1 / 2.2) * 255).astype(np.uint8)).save(sys.argv[1], quality=95)
PY
/usr/bin/time -v python3 -m saga_attention.cli enhance "$WORK/dark_6000x4000.jpg" -o "$WORK/out" --device cpu \
    2>&1 | tr '\r' '\n' | grep -v "^blocks:" | tee "$OUT_DIR/time.txt"
python3 -c "
import sys
from PIL import Image
before, after = (Image.open(p).resize((600, 400)) for p in sys.argv[1:3])
side = Image.new('RGB', (1200, 400)); side.paste(before, (0, 0)); side.paste(after, (600, 0)); side.save(sys.argv[3])
" "$WORK/dark_6000x4000.jpg" "$WORK/out/dark_6000x4000.jpg" "$OUT_DIR/before_after.png"
rm -rf "$WORK"
