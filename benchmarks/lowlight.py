"""Low-light enhancement: quality on photographs no run trains on, seams of tiled and banded passes, the
equal-budget training table of the low-light nets, and a 24 MP photo through `saga enhance`.

    PYTHONPATH=src python3 benchmarks/lowlight.py heldout --out runs/lowlight/heldout.json   # CPU, 3 minutes
    PYTHONPATH=src python3 benchmarks/lowlight.py seams --out runs/lowlight/seams.json       # CPU, 1 minute
    PYTHONPATH=src python3 benchmarks/lowlight.py photo --out runs/lowlight/photo.json       # CPU, 3 minutes
    PYTHONPATH=src python3 benchmarks/lowlight.py equal-budget --out runs/equal-budget --device cuda --parallel 7

heldout: photographs no run trains on or chooses by (or a folder of yours), darkened by every family of
saga_attention.data.darkening (a sensor's noisy exposure, sRGB scaling, gamma, linear exposure; each also as
JPEG), brightened by the models (default: the shipped saga_llie_tiny), by a gain and a gamma chosen from the dark
image alone, by CLAHE and by the gain a target in hand would choose; PSNR, SSIM, CIEDE2000, saturation ratio,
banding and grid per family, and a before/after grid. seams: the shipped weights on a darkened photograph; the
PSNR of plain tiles and of the exact banded pass against one pass. photo: a 6000x4000 photograph (chelsea, which
no shipped weights saw, upscaled and darkened 8x in linear light) through `saga enhance`, timed, with the
command's peak resident memory. equal-budget: `saga train` and `saga eval` processes, several at a time; the
default budget (400 steps of 4 crops of 128 x 128, tiny nets) takes about 8 minutes a run on 2 CPU cores.
Speed and memory of the nets: `saga bench --task enhance`.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from skimage import data as skimage_data

from saga_attention import metrics
from saga_attention.data.darkening import FAMILIES, Degradation, darken
from saga_attention.data.lowlight import (
    BUILTIN_HELD_OUT,
    BUILTIN_TRAIN,
    BUILTIN_VAL,
    IMAGE_SUFFIXES,
    builtin_photos,
)
from saga_attention.enhancement import Enhancer
from saga_attention.enhancement.baselines import BASELINES, oracle_gain

GALLERY = BUILTIN_HELD_OUT                 # photographs no training run and no model choice ever sees
SHOWN_FAMILIES = ("srgb-scale", "sensor", "gamma+jpeg")        # rows of the before/after grid (when chosen)
THUMB = 160                                                     # grid cell height, pixels


def _refuse(message: str) -> None:
    print(f"lowlight.py: error: {message}", file=sys.stderr)
    sys.exit(2)


def _gallery(spec: str, max_side: int) -> dict[str, np.ndarray]:
    """Built-in photographs by name (comma-separated), or every image of a folder, as (H, W, 3) uint8."""
    if Path(spec).is_dir():
        photos = {}
        for path in sorted(p for p in Path(spec).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            try:
                image = Image.open(path).convert("RGB")
            except (OSError, ValueError, Image.DecompressionBombError) as err:
                print(f"lowlight.py: skipping {path}: {type(err).__name__}: {err}", file=sys.stderr)
                continue
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            photos[path.stem] = np.asarray(image)
        if not photos:
            _refuse(f"{spec!r} holds no images")
        return photos
    names = [n.strip() for n in spec.split(",") if n.strip()]
    if not names:
        _refuse(f"--photos is a folder of images or built-in photographs by name (e.g. {','.join(GALLERY)}); "
                f"got {spec!r}")
    trained = sorted(set(names) & set(BUILTIN_TRAIN + BUILTIN_VAL))
    if trained:
        _refuse(f"{', '.join(trained)} are training or validation photographs, not held out")
    photos = {}
    for name in names:
        try:
            photos.update(builtin_photos([name], max_side=max_side))
        except (AttributeError, ImportError, TypeError, ValueError, OSError) as err:
            _refuse(f"--photos: {name!r} is neither a folder nor a photograph of scikit-image's data or matplotlib's "
                    f"samples ({type(err).__name__}); the default gallery is {','.join(GALLERY)}")
    return photos


def heldout(args: argparse.Namespace) -> None:
    """Every darkening family on every held-out photograph: the models against the no-target baselines (gain,
    gamma, CLAHE) and the target-oracle gain, by PSNR, SSIM, CIEDE2000, saturation ratio, banding and grid."""
    families = [f.strip() for f in args.families.split(",")]
    unknown = sorted(set(families) - set(FAMILIES))
    if unknown:
        _refuse(f"unknown families {unknown}; known: {', '.join(FAMILIES)}")
    photos = _gallery(args.photos, args.max_side)
    models = {name: Enhancer(name, device=args.device) for name in (args.models or "saga_llie_tiny").split(",")}
    rows, grid = [], []
    shown = [f for f in families if f in SHOWN_FAMILIES] or families[:1]      # the grid's rows
    for name, photo in photos.items():
        target = photo.astype(np.float32) / 255
        target_t = torch.from_numpy(target).permute(2, 0, 1)[None]
        for family in families:
            dark = darken(photo, family, args.seed, name).astype(np.float32) / 255
            outputs = {"dark input": dark, **{k: f(dark) for k, f in BASELINES.items()},
                       "oracle gain": oracle_gain(dark, target),
                       **{label: enhancer(dark) for label, enhancer in models.items()}}
            for method, output in outputs.items():
                psnr, ssim = metrics.image_scores(output, target_t)
                rows.append({"photo": name, "family": family, "method": method, "psnr": psnr, "ssim": ssim,
                             "ciede2000": metrics.ciede2000(output, target),
                             "saturation": metrics.saturation_ratio(output, target),
                             "banding": metrics.banding(output, target), "grid": metrics.grid(output, target)})
            if family in shown:
                grid.append((f"{name}, {family}", [*outputs.values(), target]))
            print(f"{name} {family}: " + ", ".join(f"{r['method']} {r['psnr']:.2f} dB" for r in rows[-len(outputs):]),
                  flush=True)
    methods = list(dict.fromkeys(r["method"] for r in rows))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"command": " ".join(sys.argv), "photos": list(photos), "families": families,
                               "seed": args.seed, "max_side": args.max_side, "rows": rows}, indent=2) + "\n")
    out.with_suffix(".md").write_text(heldout_table(rows, families, methods, list(photos)))
    heldout_grid(grid, [*methods, "target"], out.with_suffix(".png"))
    print(out.with_suffix(".md").read_text() + f"wrote {out}, {out.with_suffix('.md')} and {out.with_suffix('.png')}")


def _mean(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.mean(values) if values else float("nan")


def heldout_table(rows: list[dict], families: list[str], methods: list[str], photos: list[str]) -> str:
    """One table per darkening family (means over the photographs), then the means over every family."""
    keys = [("psnr", "PSNR (dB)", ".2f"), ("ssim", "SSIM", ".3f"), ("ciede2000", "CIEDE2000", ".2f"),
            ("saturation", "saturation / target", ".2f"), ("banding", "banding (%)", ".2f"),
            ("grid", "grid (levels)", ".2f")]
    lines = [f"Held-out photographs: {', '.join(photos)}. Higher is better for PSNR and SSIM; lower for CIEDE2000 "
             "and banding (the share of the target's smooth pixels where the output has an edge) and grid (the "
             "amplitude, in 8-bit levels, of a checkerboard of alternate rows or columns there); saturation / "
             "target should be near 1. Baselines gain, gamma and CLAHE see the dark image only; the oracle gain "
             "is chosen with the target.", ""]
    for family in [*families, "all families"]:
        chosen = [r for r in rows if family == "all families" or r["family"] == family]
        lines += [f"### {family}", "", "| method | " + " | ".join(k[1] for k in keys) + " |",
                  "|---" * (len(keys) + 1) + "|"]
        for method in methods:
            picked = [r for r in chosen if r["method"] == method]
            lines.append(f"| {method} | " + " | ".join(format(_mean([r[k] for r in picked]), f) for k, _, f in keys)
                         + " |")
        lines.append("")
    return "\n".join(lines)


def heldout_grid(grid: list[tuple[str, list[np.ndarray]]], columns: list[str], path: Path) -> None:
    """Rows of (dark input, methods..., target) thumbnails, labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(grid), len(columns), figsize=(1.9 * len(columns), 1.6 * len(grid)), squeeze=False)
    for (label, images), row in zip(grid, axes):
        for column, (image, ax) in enumerate(zip(images, row)):
            ax.imshow(np.clip(image, 0, 1))
            ax.set_xticks([])
            ax.set_yticks([])
            if column == 0:
                ax.set_ylabel(label, fontsize=7)
    for title, ax in zip(columns, axes[0]):
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    plt.close(fig)


def seams(args: argparse.Namespace) -> None:
    """PSNR of tiled and banded passes' 8-bit outputs against one whole-image pass."""
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
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


MODELS = ["saga_llie_tiny", "llie_channel_tiny", "llie_window_tiny", "llie_global_tiny", "llie_linear_tiny",
          "llie_focused_tiny", "retinexformer"]


def command(model: str, seed: int, run: Path, args: argparse.Namespace, extra: list[str]) -> list[str]:
    per_epoch = args.steps // args.epochs * args.batch
    return [sys.executable, "-m", "saga_attention.cli", "train", "--config", args.recipe, f"model={model}",
            f"data={args.data}", f"seed={seed}", f"epochs={args.epochs}", f"samples_per_epoch={per_epoch}",
            f"batch_size={args.batch}", f"crop={args.crop}", f"device={args.device}", f"workers={args.workers}",
            f"out={run}", "resumable=false", *extra]


def equal_budget(args: argparse.Namespace) -> None:
    """Every model trained with the same steps, batch and crop, several seeds, then scored held out."""
    if not Path(args.data).is_dir():
        _refuse(f"--data {args.data} is not a folder; make it with tools/prepare_photos.py --out {args.data}")
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    variants = {"-": [], **{v[0]: v[1:] for v in args.variant}}
    models = (args.models or ",".join(MODELS)).split(",")
    jobs = [(m, v, int(s)) for s in args.seeds.split(",") for v in variants for m in models]
    pending, running, results = list(jobs), [], []
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // args.parallel))}
    start = time.time()
    while pending or running:
        while pending and len(running) < args.parallel:
            model, variant, seed = pending.pop(0)
            name = f"{model}-seed{seed}" if variant == "-" else f"{model}-{variant}-seed{seed}"
            run, log = out / "runs" / name, open(out / "runs" / f"{name}.log", "w")
            proc = subprocess.Popen(command(model, seed, run, args, variants[variant]), stdout=log,
                                    stderr=subprocess.STDOUT, env=env)
            running.append((model, variant, seed, run, proc, time.time(), None))
        time.sleep(2)
        for item in [r for r in running if r[4].poll() is not None]:
            running.remove(item)
            model, variant, seed, run, proc, began, row = item
            if row is None:                       # training ended: score the best checkpoint held out, in its slot
                row = {"model": model, "variant": variant, "settings": variants[variant], "seed": seed,
                       "rc": proc.returncode, "train_s": round(time.time() - began, 1)}
                if proc.returncode == 0:
                    row.update(val_psnr=json.loads((run / "summary.json").read_text())["best_psnr"])
                    held = subprocess.Popen([sys.executable, "-m", "saga_attention.cli", "eval", "--model", str(run),
                                             "data=lowlight-heldout", f"device={args.device}", "workers=0", "--json",
                                             str(run / "heldout.json")], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, env=env)
                    running.append((model, variant, seed, run, held, began, row))
                    continue
            elif proc.returncode == 0:
                metrics = json.loads((run / "heldout.json").read_text())
                row.update(heldout_psnr=metrics["psnr"], heldout_ssim=metrics["ssim"])
            results.append(row)
            print(json.dumps(row), flush=True)
    setup = {k: getattr(args, k) for k in ("recipe", "data", "steps", "epochs", "batch", "crop", "device", "seeds")}
    (out / "results.json").write_text(json.dumps({"setup": setup, "wall_s": round(time.time() - start),
                                                  "runs": results}, indent=2) + "\n")
    (out / "table.md").write_text(table(results, setup))
    print(table(results, setup))


def _mean_sd(values: list[float], digits: int = 2) -> str:
    if len(values) < 2:
        return f"{values[0]:.{digits}f} (one seed)" if values else "-"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def table(results: list[dict], setup: dict) -> str:
    lines = [f"Equal budget: {setup['steps']} steps of {setup['batch']} crops of {setup['crop']}x{setup['crop']} on "
             f"{setup['data']} (recipe {setup['recipe']}), seeds {setup['seeds']} ({setup['device']}). PSNR in dB, "
             "mean ± sd over seeds; held-out: the built-in held-out photographs, each darkened by every family.", "",
             "| model | variant | seeds | val PSNR (best epoch) | held-out PSNR | held-out SSIM |",
             "|---|---|---|---|---|---|"]
    for model, variant in dict.fromkeys((r["model"], r.get("variant", "-")) for r in results):
        rows = [r for r in results if (r["model"], r.get("variant", "-")) == (model, variant) and r["rc"] == 0]
        lines.append(f"| {model} | {variant} | {len(rows)} | {_mean_sd([r['val_psnr'] for r in rows])} | "
                     f"{_mean_sd([r['heldout_psnr'] for r in rows if 'heldout_psnr' in r])} | "
                     f"{_mean_sd([r['heldout_ssim'] for r in rows if 'heldout_ssim' in r], 4)} |")
    settings = {r.get("variant", "-"): r.get("settings", []) for r in results}
    notes = [f"* variant `{v}`: {' '.join(extra)}" for v, extra in settings.items() if extra]
    lines += ["", *notes] if notes else []
    return "\n".join(lines) + "\n"


def photo(args: argparse.Namespace) -> None:
    """A dark 6000x4000 JPEG through `saga enhance` in a child process: seconds and the child's peak RSS."""
    with tempfile.TemporaryDirectory() as work:
        dark_path = Path(work) / "dark_6000x4000.jpg"
        img = Image.fromarray(skimage_data.chelsea()).resize((6000, 4000), Image.BICUBIC)
        dark = (np.asarray(img, dtype=np.float32) / 255) ** 2.2 / 8
        Image.fromarray(np.round(np.clip(dark, 0, 1) ** (1 / 2.2) * 255).astype(np.uint8)).save(dark_path, quality=95)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "saga_attention.cli", "enhance", str(dark_path), "-o",
                               str(Path(work) / "out"), "--device", args.device], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            sys.exit(f"lowlight.py photo: saga enhance failed: {done.stderr.strip().splitlines()[-1]}")
        peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9
        result = {"photo": "chelsea, 6000x4000, darkened 8x in linear light", "device": args.device,
                  "seconds": round(seconds, 1), "peak_resident_gb": round(peak_gb, 2),
                  "plan": done.stdout.strip().splitlines()[0]}
        before, after = (Image.open(p).resize((600, 400)) for p in (dark_path, Path(work) / "out" / dark_path.name))
    side = Image.new("RGB", (1200, 400))
    side.paste(before, (0, 0))
    side.paste(after, (600, 0))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    side.save(Path(args.out).with_suffix(".png"))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("heldout", "seams", "photo", "equal-budget"))
    parser.add_argument("--out", required=True, help="the JSON file (a folder for equal-budget); .md/.png beside it")
    parser.add_argument("--model", "--models", dest="models",
                        help="heldout: comma-separated low-light models (default: the shipped saga_llie_tiny); "
                             f"equal-budget: comma-separated models (default {','.join(MODELS)})")
    parser.add_argument("--photos", default=",".join(GALLERY), help="heldout: built-in photographs or a folder")
    parser.add_argument("--families", default=",".join(FAMILIES), help="heldout: darkening families")
    parser.add_argument("--max-side", type=int, default=512, help="heldout: photographs shrunk to this side")
    parser.add_argument("--seed", type=int, default=0, help="heldout: draws each family's strength per photo")
    parser.add_argument("--photo", default="astronaut", help="seams: a built-in photograph")
    parser.add_argument("--tiles", default="128,256,384", help="seams: tile sides")
    parser.add_argument("--bands", default="16,32,64", help="seams: band heights")
    parser.add_argument("--device", default="cpu", help="heldout, photo and equal-budget: cpu, cuda or cuda:N")
    parser.add_argument("--recipe", default="llie-tiny", help="equal-budget: the recipe every model trains with")
    parser.add_argument("--data", default="data/photos", help="equal-budget: the training photographs "
                                                              "(tools/prepare_photos.py)")
    parser.add_argument("--seeds", default="0,1", help="equal-budget")
    parser.add_argument("--steps", type=int, default=400, help="equal-budget: optimizer steps per run")
    parser.add_argument("--epochs", type=int, default=4, help="equal-budget")
    parser.add_argument("--batch", type=int, default=4, help="equal-budget")
    parser.add_argument("--crop", type=int, default=128, help="equal-budget")
    parser.add_argument("--parallel", type=int, default=1, help="equal-budget: runs at a time")
    parser.add_argument("--workers", type=int, default=1, help="equal-budget: DataLoader workers per run")
    parser.add_argument("--variant", nargs="+", action="append", default=[], metavar=("NAME", "SETTING"),
                        help="equal-budget: train every model also with these settings added (plain runs: '-')")
    args = parser.parse_args()
    if min(args.steps, args.epochs, args.batch, args.crop, args.parallel, args.max_side) < 1 or args.workers < 0:
        parser.error("--steps, --epochs, --batch, --crop, --parallel and --max-side must be >= 1, --workers >= 0")
    {"heldout": heldout, "seams": seams, "photo": photo, "equal-budget": equal_budget}[args.what](args)


if __name__ == "__main__":
    main()
