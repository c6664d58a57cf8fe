"""Seams: how far tiled and banded passes are from one whole-image pass (issue 12's tiling target, 40 dB).

The shipped weights on a photograph darkened the synthetic way (seed 0); PSNR of the 8-bit outputs of plain
ramp-blended tiles and of the exact banded pass against the one-pass output. CPU, fp32, about a minute.

    PYTHONPATH=src python3 benchmarks/llie_seams.py --out benchmarks/results/issue12-llie/seams_cpu.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from saga_attention import metrics
from saga_attention.data.lowlight import Degradation, builtin_photos
from saga_attention.enhancement import Enhancer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--photo", default="astronaut")
    parser.add_argument("--tiles", default="128,256,384")
    parser.add_argument("--bands", default="16,32,64")
    args = parser.parse_args()
    photo = builtin_photos([args.photo])[args.photo]
    low = Degradation()(photo, np.random.default_rng(0)).astype(np.float32) / 255
    whole = Enhancer(device="cpu", band=0, max_memory=1e12)         # no bands, no limit: one pass
    assert whole.plan(*low.shape[:2]) == ("whole", 0)
    reference = torch.from_numpy(whole(low)).permute(2, 0, 1)[None]

    def score(**plan: int) -> float:
        out = Enhancer(whole.model, device="cpu", max_memory=1e12, **plan)(low)
        return round(metrics.psnr(torch.from_numpy(out).permute(2, 0, 1)[None], reference)[0], 2)

    result = {"image": f"{args.photo} {low.shape[1]}x{low.shape[0]}, darkened (seed 0)",
              "model": "saga_llie_tiny (shipped)", "device": "cpu",
              "psnr_tiled_vs_whole_db": {side: score(tile=int(side)) for side in args.tiles.split(",")},
              "psnr_banded_vs_whole_db": {rows: score(band=int(rows)) for rows in args.bands.split(",")}}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
