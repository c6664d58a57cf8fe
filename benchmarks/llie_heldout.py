"""The held-out table: the built-in held-out pairs (photographs no run trains on, darkened the fixed synthetic way)
as they are, brightened by the best single gamma curve per image chosen with the target in hand (an oracle),
by CLAHE (scikit-image's equalize_adapthist, defaults), and by a low-light model. PSNR / SSIM as metrics.py.

    PYTHONPATH=src python3 benchmarks/llie_heldout.py --out benchmarks/results/issue12-llie/heldout.json
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import torch
from skimage.exposure import equalize_adapthist

from saga_attention import metrics
from saga_attention.enhancement import Enhancer
from saga_attention.train import get_task, load_config
from saga_attention.train.enhance import HELD_OUT_DRAWS
from saga_attention.train.distributed import Process

EXPONENTS = np.exp(np.linspace(np.log(0.05), np.log(1.5), 200))      # y = x ** p, the oracle's search grid


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None]


def oracle_gamma(low: np.ndarray, target: torch.Tensor) -> tuple[np.ndarray, float]:
    """The x ** p (one p for the image) with the highest PSNR against the target, and that p."""
    best = max(EXPONENTS, key=lambda p: metrics.psnr(_tensor(low ** p), target)[0])
    return low ** best, float(best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="JSON file; a .md table is written beside it")
    parser.add_argument("--model", help="a low-light model (default: the shipped weights)")
    args = parser.parse_args()
    task = get_task("enhance")(load_config(None, ["data=lowlight-heldout", "model=saga_llie_tiny"]),
                               Process(0, 1, torch.device("cpu")))
    pairs = task.eval_dataset()
    enhancer = Enhancer(args.model, device="cpu")
    rows = []
    for i, name in enumerate(pairs.names):
        low_t, high_t, _ = pairs[i]
        target = high_t[None].float() / 255
        low = low_t.permute(1, 2, 0).numpy().astype(np.float32) / 255
        gamma, exponent = oracle_gamma(low, target)
        results = {"input": low, "oracle gamma": gamma, "CLAHE": equalize_adapthist(low), "model": enhancer(low)}
        row = {"image": name, "oracle_exponent": exponent}
        for method, output in results.items():
            row[f"{method} psnr"], row[f"{method} ssim"] = metrics.image_scores(output, target)
        rows.append(row)
        print(json.dumps(row), flush=True)
    methods = ["input", "oracle gamma", "CLAHE", "model"]
    means = {m: {k: statistics.mean(r[f"{m} {k}"] for r in rows) for k in ("psnr", "ssim")} for m in methods}
    model_name = enhancer.model.model_name + ("" if args.model else " (shipped weights)")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"model": model_name, "pairs": len(rows), "mean": means, "rows": rows},
                                         indent=2) + "\n")
    lines = [f"Held-out pairs: {len(rows)} ({', '.join(sorted({r['image'].rsplit('-', 1)[0] for r in rows}))}, "
             f"each darkened {HELD_OUT_DRAWS} fixed ways); model {model_name}.", "",
             "| method | PSNR (dB) | SSIM |", "|---|---|---|"]
    lines += [f"| {m} | {means[m]['psnr']:.2f} | {means[m]['ssim']:.4f} |" for m in methods]
    lines += ["", f"model - oracle gamma: {means['model']['psnr'] - means['oracle gamma']['psnr']:+.2f} dB; "
              f"model - CLAHE: {means['model']['psnr'] - means['CLAHE']['psnr']:+.2f} dB"]
    Path(args.out).with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
