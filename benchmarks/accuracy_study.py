"""The accuracy study: PVT-T with each attention kind on the built-in tasks at 224 px, fresh training images every
step (`stream=true`), one recipe for all. Four steps, each one command (repository root, PYTHONPATH=src):

  python benchmarks/accuracy_study.py sweep RUNS --budget 420   # GPU: seed 0 of every model at every lr of LRS
  python benchmarks/accuracy_study.py table --from RUNS         # anywhere: runs.json, plan.json (the recipe and
                                                                # each model's lr), accuracy.json / .md / .png
  python benchmarks/accuracy_study.py study RUNS                # GPU: seeds 1 and 2 at plan.json's recipe and lrs,
                                                                # then the rank study of the seed-1 models
  python benchmarks/accuracy_study.py study RUNS --labels saga_ungated,saga_headgate --seeds 0,1,2   # SAGA's options

Every training sets HOLDOUT images of the task's fixed training split aside (the stream never draws them) and
keeps the checkpoint of its epoch with the best held-out top-1; `saga eval` then scores that checkpoint on the
validation split (val.json in the run folder). The lr of each model and task is the one of LRS with the best
held-out top-1 at seed 0, and the seed-0 run at that lr is the study's seed 0. The validation split chooses
nothing: it is read once per run, after training.

The sweep's budget: it first times a training step of every model (benchmarks/training.py) and a pathfinder
image, then sets the images per epoch so that all its trainings, `--slots` at a time on every GPU of the
machine, end within `--budget` seconds (`--extra train_size=N` sets it instead); the study reads that recipe back
from plan.json. Run again with the same RUNS, a step continues: finished runs are kept, stopped ones resume from
their last epoch, and the sweep keeps its recipe (RUNS/recipe.json). How many images the tasks need, measured on
one H100: results/accuracy-224-pilot-h100.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "accuracy-224"
NAMES = {"pvt_tiny": "softmax (PVT, spatial reduction)", "global_pvt_tiny": "softmax, global (sr=1)",
         "linear_pvt_tiny": "linear (ReLU)", "focused_pvt_tiny": "focused (FLatten)", "agent_pvt_tiny": "Agent",
         "mala_pvt_tiny": "MALA", "saga_pvt_tiny": "SAGA"}
LINEAR = ("linear_pvt_tiny", "focused_pvt_tiny", "agent_pvt_tiny", "mala_pvt_tiny")   # SAGA's rivals
MODELS = [name for name in NAMES if name != "global_pvt_tiny"]    # the global reference: when the budget allows
TASKS = {"match": 25.0, "pathfinder": 50.0, "symmetry": 50.0}    # chance, % top-1
ABLATIONS = {"saga_bias2": "saga_pvt_tiny:gate_bias_init=2.0", "saga_ungated": "saga_pvt_tiny:normalizer=ungated",
             "saga_headgate": "saga_pvt_tiny:gate_granularity=head",
             "saga_novaluegate": "saga_pvt_tiny:value_gate=false"}
STUDY_NAMES = {**NAMES, "saga_bias2": "SAGA, gate bias 2", "saga_ungated": "SAGA, ungated normaliser",
               "saga_headgate": "SAGA, per-head gates", "saga_novaluegate": "SAGA, no value gate"}
LRS = (3e-4, 1e-3)              # peak lr for a batch of 512; the classifier scales it by batch/512
SEEDS = (0, 1, 2)
HOLDOUT = 2000
EPOCHS, BATCH = 8, 64
RECIPE = ["img_size=224", "stream=true", f"holdout={HOLDOUT}", "val_size=2000", "data_seed=0",
          f"epochs={EPOCHS}", f"batch_size={BATCH}"]
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)   # Student's t, df 1..10


def spec(label: str) -> str:
    return ABLATIONS.get(label, label)


def job(task: str, label: str, lr: float, seed: int, recipe: list[str]) -> tuple[str, list[str]]:
    """(run name, `saga train` settings). The name is <task>-<label>-lr<lr>-seed<seed>."""
    workers = 3 if task == "pathfinder" else 2          # pathfinder takes about 7 ms an image to draw
    return (f"{task}-{label}-lr{lr:g}-seed{seed}",
            [f"data={task}", f"model={spec(label)}", f"lr={lr:g}", f"seed={seed}", f"workers={workers}", *recipe])


def run_jobs(jobs: list[tuple[str, list[str]]], runs: Path, slots: int) -> None:
    """`saga train`, then `saga eval` of its best checkpoint on the validation split, for every job without a
    val.json yet, `slots` at a time on each GPU; each writes runs/<name>/ and runs/<name>.log. A run folder left
    by a stopped run is resumed from its last epoch."""
    import torch
    gpus = max(1, torch.cuda.device_count())
    pending = [j for j in jobs if not (runs / j[0] / "val.json").is_file()]
    running: dict[str, tuple[subprocess.Popen, int]] = {}
    start = time.time()
    print(f"{len(pending)} of {len(jobs)} runs to do on {gpus} GPU(s), {slots} at a time on each", flush=True)
    saga = [sys.executable, "-m", "saga_attention.cli"]
    while running or pending:
        for name, (proc, _) in list(running.items()):
            if proc.poll() is not None:
                print(f"{time.time() - start:6.0f} s  {name}: rc {proc.returncode}", flush=True)
                del running[name]
        while pending and len(running) < slots * gpus:
            name, args = pending.pop(0)
            busy = [gpu for _, gpu in running.values()]
            gpu = min(range(gpus), key=busy.count)
            folder = runs / name
            resume = (folder / "config.yaml").is_file()          # a run stopped earlier (a call's time limit)
            train = shlex.join([*saga, "train", *(["--resume", str(folder)] if resume else [*args, f"out={folder}"])])
            score = shlex.join([*saga, "eval", "--model", str(folder), "holdout=0", "workers=2",
                                "--json", str(folder / "val.json")])
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": str(gpu), "OMP_NUM_THREADS": "1"}   # many side by side
            with open(runs / f"{name}.log", "a") as log:                # the child keeps its own handle
                running[name] = (subprocess.Popen(f"{train} && {score}", shell=True, stdout=log,
                                                  stderr=subprocess.STDOUT, env=env), gpu)
        time.sleep(1)


def make_data(recipe: list[str], tasks: list[str]) -> None:
    """The fixed images (held-out and validation) once, before the trainings that read them start side by side."""
    from saga_attention.train.classify import builtin_split
    settings = dict(item.split("=", 1) for item in recipe)          # a later setting wins, as in `saga train`
    for task in tasks:
        builtin_split(task, "train", int(settings["img_size"]), int(settings["holdout"]), int(settings["data_seed"]))
        builtin_split(task, "val", int(settings["img_size"]), int(settings["val_size"]), int(settings["data_seed"]))


def budget_recipe(budget: float, labels: list[str], tasks: list[str], runs_per_model: int, slots: int,
                  runs: Path) -> list[str]:
    """RECIPE with train_size (images per epoch) set so that the trainings end within `budget` seconds: each
    model's step time (alone on a GPU; 4 to 12 trainings side by side ran 2 to 3 times that in total on an H100) and the
    time to draw a pathfinder image on one of the CPU cores the runs share. Starting a run and its evaluations
    are not counted: they dominate runs of a few hundred steps."""
    from saga_attention.data.procedural import StreamedTask
    settings = dict(item.split("=", 1) for item in RECIPE)
    probe = runs / "probe.json"
    subprocess.run([sys.executable, str(Path(__file__).parent / "training.py"), "throughput", "--models",
                    ",".join(spec(label) for label in labels), "--res", settings["img_size"], "--batch", str(BATCH),
                    "--steps", "10", "--out", str(probe)], check=True)
    seconds = {r["model"]: 1 / r["samples_per_s"] for r in json.loads(probe.read_text())["records"]}
    import torch
    gpus = max(1, torch.cuda.device_count())                         # run_jobs spreads the trainings over all
    gpu_s = sum(seconds[spec(label)] for label in labels) * len(tasks) * runs_per_model / gpus
    stream, start = StreamedTask("pathfinder", int(settings["img_size"]), 20), time.perf_counter()
    for i in range(len(stream)):
        stream[i]
    draw = (time.perf_counter() - start) / len(stream)
    cores = max(1, (os.cpu_count() or 1) - slots * gpus)             # a core per training for its main process
    cpu_s = draw * len(labels) * runs_per_model / cores if "pathfinder" in tasks else 0.0
    images = budget / max(gpu_s, cpu_s)
    train_size = max(BATCH, int(images / EPOCHS) // BATCH * BATCH)
    print(f"step times (s per image): {seconds}; pathfinder {draw * 1e3:.1f} ms an image on {cores} cores; "
          f"{images:.0f} images per run fit {budget:.0f} s: train_size={train_size}", flush=True)
    return RECIPE + [f"train_size={train_size}"]


def compact(runs: Path) -> list[dict]:
    """Every run folder under `runs` (any depth) with a val.json as one record: held-out top-1 of its best epoch,
    validation top-1 of that checkpoint, the recipe's settings and its command."""
    from saga_attention.settings import load_yaml
    records = []
    for score in sorted(runs.rglob("val.json")):
        folder = score.parent
        found = re.fullmatch(r"(\w+)-(\w+)-lr([\d.e-]+)-seed(\d+)", folder.name)
        rows = list(csv.DictReader((folder / "metrics.csv").read_text().splitlines()))
        if not found or not rows:
            continue
        config = load_yaml((folder / "config.yaml").read_text(), str(folder / "config.yaml"))
        steps_per_epoch = int(config["train_size"]) // int(config["batch_size"])
        records.append({"task": found[1], "model": found[2], "lr": float(found[3]), "seed": int(found[4]),
                        "img_size": int(config["img_size"]), "holdout_top1": max(float(r["val_top1"]) for r in rows),
                        "top1": json.loads(score.read_text())["top1"], "steps": steps_per_epoch * len(rows),
                        "epochs": len(rows), "train_size": int(config["train_size"]),
                        "batch_size": int(config["batch_size"]),
                        "command": (folder / "command.txt").read_text().strip().splitlines()[0]})
    return records


def choose_lrs(records: list[dict]) -> tuple[dict[str, dict[str, float]], str]:
    """{task: {model: lr}}: the best held-out top-1 at seed 0; and the sweep's table."""
    scores: dict = {}
    for r in records:
        if r["seed"] == 0:
            scores.setdefault(r["task"], {}).setdefault(r["model"], {})[r["lr"]] = r["holdout_top1"]
    grid = sorted({lr for models in scores.values() for runs in models.values() for lr in runs})
    lines = ["| task | model | " + " | ".join(f"lr {lr:g}" for lr in grid) + " | chosen |",
             "|---|---|" + "---|" * (len(grid) + 1)]
    best: dict = {}
    for task, models in scores.items():
        for model in (m for m in STUDY_NAMES if m in models):
            runs = models[model]
            best.setdefault(task, {})[model] = max(runs, key=runs.get)
            cells = " | ".join(f"{runs[lr]:.2f}" if lr in runs else "-" for lr in grid)
            lines.append(f"| {task} | {STUDY_NAMES[model]} | {cells} | {best[task][model]:g} |")
    return best, "\n".join(lines) + "\n"


def mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else float("nan")


def difference(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """mean(a) - mean(b) and its 95% interval (Welch's t; the degrees of freedom rounded down)."""
    (ma, sa), (mb, sb) = mean_sd(a), mean_sd(b)
    va, vb = sa ** 2 / len(a), sb ** 2 / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if se > 0 else 1.0
    t = T_975[min(int(df), len(T_975)) - 1] if df < len(T_975) + 1 else 1.96
    return ma - mb, ma - mb - t * se, ma - mb + t * se


def accuracy_rows(records: list[dict], lrs: dict) -> list[dict]:
    """The study's rows: every finished run at its model's chosen lr (SAGA's options at SAGA's)."""
    def chosen(r: dict) -> float | None:
        task = lrs.get(r["task"], {})
        return task.get("saga_pvt_tiny") if r["model"] in ABLATIONS else task.get(r["model"])
    return [{k: r[k] for k in ("task", "model", "img_size", "seed", "top1", "steps", "lr")}
            for r in records if r["lr"] == chosen(r)]


def markdown(rows: list[dict]) -> str:
    """Mean ± sd per task and model (every seed shown), then SAGA minus the best other linear kind."""
    table: dict = {}
    for r in rows:
        table.setdefault(r["task"], {}).setdefault(r["model"], {})[r["seed"]] = r["top1"]
    seeds = sorted({r["seed"] for r in rows})
    lines = ["| task | model | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± sd | vs chance |",
             "|---|---|" + "---|" * (len(seeds) + 2)]
    gaps = ["| task | best other linear kind | SAGA - it | 95% interval |", "|---|---|---|---|"]
    for task in (t for t in TASKS if t in table):
        models = table[task]
        for model in (m for m in STUDY_NAMES if m in models):
            runs = models[model]
            mean, sd = mean_sd(list(runs.values()))
            cells = " | ".join(f"{runs[s]:.2f}" if s in runs else "-" for s in seeds)
            lines.append(f"| {task} | {STUDY_NAMES[model]} | {cells} | {mean:.2f} ± {sd:.2f} | "
                         f"{mean - TASKS[task]:+.1f} |")
        rivals = [m for m in LINEAR if len(models.get(m, {})) > 1]
        if len(models.get("saga_pvt_tiny", {})) > 1 and rivals:
            best = max(rivals, key=lambda m: statistics.mean(models[m].values()))
            diff, low, high = difference(list(models["saga_pvt_tiny"].values()), list(models[best].values()))
            gaps.append(f"| {task} | {STUDY_NAMES[best]} | {diff:+.2f} | [{low:+.2f}, {high:+.2f}] |")
    return "\n".join(lines) + "\n\n" + "\n".join(gaps) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    """Bars of the mean top-1 per task and model, error bars one standard deviation, chance as a dashed line."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tasks = [t for t in TASKS if any(r["task"] == t for r in rows)]
    models = [m for m in STUDY_NAMES if any(r["model"] == m for r in rows)]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 4), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        stats = [mean_sd([r["top1"] for r in rows if r["task"] == task and r["model"] == m]) if any(
            r["task"] == task and r["model"] == m for r in rows) else (0.0, 0.0) for m in models]
        ax.bar(range(len(models)), [s[0] for s in stats], yerr=[0 if math.isnan(s[1]) else s[1] for s in stats],
               capsize=3, color=["tab:red" if m.startswith("saga") else "tab:gray" for m in models])
        ax.axhline(TASKS[task], ls="--", color="black", lw=1, label="chance")
        ax.set_xticks(range(len(models)), [STUDY_NAMES[m] for m in models], rotation=60, ha="right", fontsize=8)
        ax.set_title(task)
        ax.set_ylim(0, 100)
        ax.set_ylabel("validation top-1 (%)")
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def table(results: Path, source: Path | None) -> None:
    """runs.json from the run folders under `source` (added to the committed ones), then plan.json,
    accuracy.json, accuracy.md and accuracy.png in `results`."""
    known = json.loads((results / "runs.json").read_text()) if (results / "runs.json").is_file() else []
    if source is not None:
        fresh = compact(source)
        names = {(r["task"], r["model"], r["lr"], r["seed"]) for r in fresh}
        known = [r for r in known if (r["task"], r["model"], r["lr"], r["seed"]) not in names] + fresh
    if not known:
        raise ValueError(f"no finished runs (run folders with a val.json) in {source or results / 'runs.json'}")
    sizes = sorted({r["train_size"] for r in known if r["seed"] == 0})
    if len(sizes) != 1:
        raise ValueError(f"the seed-0 runs differ in train_size ({sizes or 'none: no seed-0 run'}); one recipe for "
                         "all: keep the runs of one sweep")
    results.mkdir(parents=True, exist_ok=True)
    if source is not None:
        (results / "runs.json").write_text(json.dumps(known, indent=1) + "\n")
        for rank in source.rglob("rank-*/rank.md"):
            (results / f"{rank.parent.name}.md").write_text(rank.read_text())
            (results / f"{rank.parent.name}.png").write_bytes((rank.parent / "rank.png").read_bytes())
    lrs, sweep_md = choose_lrs(known)
    (results / "plan.json").write_text(json.dumps({"recipe": RECIPE + [f"train_size={sizes[0]}"], "lr": lrs},
                                                  indent=2) + "\n")
    rows = accuracy_rows(known, lrs)
    (results / "accuracy.json").write_text(json.dumps(rows, indent=1) + "\n")

    def values(key: str, source: list[dict]) -> str:
        return ", ".join(map(str, sorted({r[key] for r in source})))
    text = (f"# Accuracy at {values('img_size', rows)} px, streamed training images\n\nValidation top-1 (%) of the "
            f"checkpoint with the best held-out top-1; {values('steps', rows)} steps of batch "
            f"{values('batch_size', known)}; {len(rows)} runs.\n\n"
            f"{markdown(rows)}\n## Learning rate: held-out top-1 (%) at seed 0\n\n{sweep_md}")
    for rank in sorted(results.glob("rank-*.md")):
        text += f"\n## Rank, `{rank.stem}`\n\n{rank.read_text()}"
    (results / "accuracy.md").write_text(text)
    plot(rows, results / "accuracy.png")
    print(text + f"\nwrote {results}/accuracy.json, accuracy.md, accuracy.png and plan.json")


def rank_runs(runs: Path, seed: int, tasks: list[str]) -> None:
    """`saga rank` of the trained models of one seed, per task, into runs/rank-<task>/."""
    for task in tasks:
        folders = sorted(runs.glob(f"{task}-*-seed{seed}"))
        sources = [str(f) for f in folders if (f / "best.safetensors").is_file()]
        if sources:
            subprocess.run([sys.executable, "-m", "saga_attention.cli", "rank", "--model", ",".join(sources),
                            "--images", "16", "--out", str(runs / f"rank-{task}")], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("sweep", "study", "table"))
    parser.add_argument("runs", nargs="?", type=Path, help="where the GPU steps write their run folders")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the committed results (default %(default)s)")
    parser.add_argument("--from", dest="source", type=Path, help="table: a folder of run folders to add")
    parser.add_argument("--budget", type=float, default=420, help="sweep: seconds for all its trainings")
    parser.add_argument("--slots", type=int, default=12, help="trainings at a time on each GPU")
    parser.add_argument("--labels", help="which models and options, comma-separated (default: the sweep and "
                                         "study every model of " + ", ".join(MODELS) + ")")
    parser.add_argument("--seeds", default="1,2", help="study: which seeds (default 1,2; seed 0 is the sweep's)")
    parser.add_argument("--tasks", default=",".join(TASKS), help="which tasks (default: all)")
    parser.add_argument("--extra", nargs="*", default=[], help="settings added to every training (a CPU smoke test)")
    args = parser.parse_args()
    if args.step == "table":
        if args.source is not None and not args.source.is_dir():
            parser.error(f"--from {args.source}: no such folder (give the folder of a sweep's or study's runs)")
        try:
            return table(args.results, args.source)
        except ValueError as err:
            parser.error(str(err))
    if args.runs is None:
        parser.error(f"{args.step} needs RUNS, the folder for its run folders")
    labels = args.labels.split(",") if args.labels else MODELS
    unknown = [label for label in labels if label not in STUDY_NAMES]
    if unknown:
        parser.error(f"unknown label(s) {', '.join(unknown)}; choose from {', '.join(STUDY_NAMES)}")
    tasks = args.tasks.split(",")
    if any(task not in TASKS for task in tasks):
        parser.error(f"--tasks takes some of {', '.join(TASKS)}, comma-separated; got {args.tasks!r}")
    try:
        seeds = [int(seed) for seed in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds takes comma-separated integers, e.g. 1,2; got {args.seeds!r}")
    if args.budget <= 0 or args.slots < 1:
        parser.error(f"--budget must be > 0 and --slots >= 1; got {args.budget:g} and {args.slots}")
    plan = args.results / "plan.json"
    if args.step == "study" and not plan.is_file():
        parser.error(f"{plan} is missing: run the sweep, then `table --from RUNS`")
    args.runs.mkdir(parents=True, exist_ok=True)
    if args.step == "sweep":
        saved = args.runs / "recipe.json"                  # a sweep continued in a later call keeps its recipe
        if saved.is_file():
            recipe = json.loads(saved.read_text())
        else:
            recipe = (RECIPE if any(e.startswith("train_size=") for e in args.extra)
                      else budget_recipe(args.budget, labels, tasks, len(LRS), args.slots, args.runs)) + args.extra
            saved.write_text(json.dumps(recipe) + "\n")
        jobs = [job(task, label, lr, 0, recipe) for lr in LRS for label in labels for task in tasks]
    else:
        settings = json.loads(plan.read_text())
        recipe, lrs = settings["recipe"] + args.extra, settings["lr"]
        jobs = [job(task, label, lrs[task].get(label, lrs[task]["saga_pvt_tiny"]), seed, recipe)
                for seed in seeds for label in labels for task in tasks]
    make_data(recipe, tasks)
    run_jobs(jobs, args.runs, args.slots)
    if args.step == "study":
        rank_runs(args.runs, seeds[0], tasks)


if __name__ == "__main__":
    main()
