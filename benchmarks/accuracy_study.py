"""The accuracy study on the built-in tasks, in three steps, each one command (repository root):

  python benchmarks/accuracy_study.py sweep RUNS      # GPU: every model's lr, tuned on training images held out
  python benchmarks/accuracy_study.py table --from RUNS   # anywhere: runs.json from RUNS' run folders, then
                                                      # lr.json, tables and verdicts in RESULTS (without --from:
                                                      # from the committed runs.json)
  python benchmarks/accuracy_study.py study RUNS      # GPU: 3 seeds per model and task at its lr, ablations, ranks
  python benchmarks/accuracy_study.py study RUNS --labels saga_ungated,saga_headgate --seeds 0,1,2   # a part of it
  python benchmarks/accuracy_study.py sweep RUNS --labels saga_pvt_tiny --tasks match --lrs 1e-4,3e-4 --extra epochs=30
  python benchmarks/accuracy_study.py diagnose RUNS   # GPU: the sweep's questions left open (below); runs go to sweep/
  python benchmarks/accuracy_study.py update RUNS     # GPU: what the committed results lack, into RUNS/{sweep,study}

`diagnose` runs as the sweep does: softmax, PVT's and global, with the linear kinds' local branch
(`dwc_kernel_size=3`) at 1e-4, 3e-4 and 1e-3 (are the softmax models at chance for want of a local prior?), then every
model at the lrs below the sweep's (each model that learned preferred the smallest lr tried): 32 trainings. A longer
schedule: `--extra epochs=30`. A run folder's place under RUNS names its part: sweep/, sweep30/ (a sweep at 30
epochs), study/, rank-runs/ (seed-0 runs trained again for the rank study), epochs30/; `table --from` keeps each
run's best top-1, epochs, lr and command in RESULTS/runs.json (the run folders stay out of git) and the rank
tables of study/rank-*/ as RESULTS/rank-*.md. `update` runs, in one pool, the sweep and diagnose trainings missing
from runs.json and the study trainings missing there or run at an lr other than lr.json's.

Equal budget for every model: RECIPE (64x64, 20,000 training and 4,000 validation images of data seed 0,
15 epochs of batch 128, the `procedural` preset otherwise). The sweep trains on 16,000 of the training images
and scores on the other 4,000 (`holdout`); the validation split is read only by `study`. The GPU steps run
their trainings side by side, `--slots` per GPU, one CPU thread each, and start none after `--deadline`
seconds.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "accuracy-h200"
NAMES = {"pvt_tiny": "softmax (PVT, spatial reduction)", "global_pvt_tiny": "softmax, global (sr=1)",
         "linear_pvt_tiny": "linear (ReLU)", "focused_pvt_tiny": "focused (FLatten)", "agent_pvt_tiny": "Agent",
         "mala_pvt_tiny": "MALA", "saga_pvt_tiny": "SAGA"}
TASKS = {"match": 25.0, "pathfinder": 50.0, "symmetry": 50.0}  # chance, % top-1
MODELS = list(NAMES)                                          # the attention kinds, each a registered model
GATE_BIAS = {"saga_bias2": "saga_pvt_tiny:gate_bias_init=2.0"}   # it decides the default
ABLATIONS = {**GATE_BIAS, "saga_ungated": "saga_pvt_tiny:normalizer=ungated",
             "saga_headgate": "saga_pvt_tiny:gate_granularity=head",
             "saga_novaluegate": "saga_pvt_tiny:value_gate=false"}
STUDY_NAMES = {**NAMES, "saga_bias2": "SAGA, gate bias 2", "saga_ungated": "SAGA, ungated normaliser",
               "saga_headgate": "SAGA, per-head gates", "saga_novaluegate": "SAGA, no value gate"}
LRS = (1e-3, 3e-3, 1e-2)        # the peak lr for a batch of 512; the classifier scales it by 128/512
LOW_LRS = (1e-4, 3e-4)          # diagnose: below the sweep's
DIAGNOSIS = {"global_dwc": "global_pvt_tiny:dwc_kernel_size=3", "pvt_dwc": "pvt_tiny:dwc_kernel_size=3"}
STUDY_NAMES.update(pvt_dwc="softmax (PVT) + local branch", global_dwc="softmax, global + local branch")
SEEDS = (0, 1, 2)
HOLDOUT = 4000
RECIPE = ["img_size=64", "epochs=15", "batch_size=128", "train_size=20000", "val_size=4000", "data_seed=0",
          "workers=0"]


def compact(runs: Path) -> list[dict]:
    """Every run folder <part>/<task>-<label>-(seed<N>|lr<X>) under runs as one record: its best validation
    top-1 and epochs done (from metrics.csv, so stopped runs count too), lr and command."""
    from saga_attention.settings import load_yaml

    records = []
    for metrics in sorted(runs.glob("*/*/metrics.csv")):
        folder = metrics.parent
        match = re.fullmatch(r"(\w+)-(\w+)-(seed|lr)([\d.e-]+)", folder.name)
        top1 = [float(row["val_top1"]) for row in csv.DictReader(metrics.read_text().splitlines())]
        if not match or not top1:
            continue
        config = load_yaml((folder / "config.yaml").read_text(), str(folder / "config.yaml"))
        records.append({"part": folder.parent.name, "task": match[1], "label": match[2],
                        match[3]: float(match[4]) if match[3] == "lr" else int(match[4]),
                        "best_top1": max(top1), "epochs_done": len(top1), "epochs": config["epochs"],
                        "lr": float(config["lr"]), "finished": (folder / "summary.json").is_file(),
                        "command": (folder / "command.txt").read_text().strip().splitlines()[0]})
    return records


def collect(records: list[dict], part: str, finished: bool = True) -> dict:
    """{task: {label: {seed: best top-1}}} of the runs of `part` (finished ones only, unless finished=False, then
    {seed: (best top-1, epochs done)})."""
    table: dict = {}
    for r in records:
        if r["part"] == part and "seed" in r and (r["finished"] or not finished):
            value = r["best_top1"] if finished else (r["best_top1"], r["epochs_done"])
            table.setdefault(r["task"], {}).setdefault(r["label"], {})[r["seed"]] = value
    return table


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else float("nan")


def markdown(table: dict, names: dict[str, str] = NAMES) -> str:
    """One row per (task, label) in the order of `names`: every seed, then mean ± standard deviation."""
    seeds = sorted({s for models in table.values() for runs in models.values() for s in runs})
    lines = ["| task | model | " + " | ".join(f"seed {s}" for s in seeds) + " | mean ± std |",
             "|---|---|" + "---|" * (len(seeds) + 1)]
    for task, models in table.items():
        for label in (n for n in names if n in models):
            runs = models[label]
            mean, std = mean_std(list(runs.values()))
            cells = " | ".join(f"{runs[s]:.2f}" if s in runs else "-" for s in seeds)
            lines.append(f"| {task} | {names[label]} | {cells} | {mean:.2f} ± {std:.2f} |")
    return "\n".join(lines) + "\n"



def spec(label: str) -> str:
    return {**ABLATIONS, **DIAGNOSIS}.get(label, label)


def sweep_jobs(recipe: list[str], runs: list[tuple[str, float]] | None = None,
               tasks: list[str] = list(TASKS)) -> list[tuple[str, list[str]]]:
    """Trainings scored on the held-out training images, seed 0: every (label, lr) of `runs` on each task (default:
    every model at every lr of LRS)."""
    runs = runs or [(label, lr) for label in MODELS for lr in LRS]
    return [(f"{task}-{label}-lr{lr:g}", [f"data={task}", f"model={spec(label)}", f"lr={lr:g}", f"holdout={HOLDOUT}",
                                          "seed=0", *recipe])
            for label, lr in runs for task in tasks]


def diagnose_runs() -> list[tuple[str, float]]:
    """The local-branch question first (at the lrs where the models that learned did best), then the lower lrs."""
    return [(label, lr) for label in DIAGNOSIS for lr in (*LOW_LRS, LRS[0])] + \
        [(label, lr) for label in MODELS for lr in LOW_LRS]


def study_jobs(recipe: list[str], lrs: dict[str, dict[str, float]], labels: list[str],
               seeds: tuple[int, ...] = SEEDS, tasks: list[str] = list(TASKS)) -> list[tuple[str, list[str]]]:
    """Each of `labels` (models, softmax references, SAGA's options) at each seed and task, at its tuned lr; SAGA's
    options at SAGA's."""
    return [(f"{task}-{label}-seed{seed}", [f"data={task}", f"model={spec(label)}",
                                            f"lr={lrs[task].get(label, lrs[task]['saga_pvt_tiny']):g}",
                                            f"seed={seed}", *recipe])
            for seed in seeds for task in tasks for label in labels]


def rank_runs(runs: Path) -> None:
    """`saga rank` of every seed-0 run of each task that kept its weights, into runs/rank-<task>/."""
    for task in TASKS:
        folders = (runs / f"{task}-{label}-seed0" for label in STUDY_NAMES)
        sources = [str(folder) for folder in folders if (folder / "best.safetensors").is_file()]
        if sources:
            subprocess.run([sys.executable, "-m", "saga_attention.cli", "rank", "--model", ",".join(sources),
                            "--images", "16", "--out", str(runs / f"rank-{task}")], check=False)


def missing(jobs: list[tuple[str, list[str]]], records: list[dict], part: str) -> list[tuple[str, list[str]]]:
    """The jobs without a finished run of the same name and lr in `part` of the committed records."""
    done = {(r["task"], r["label"], r.get("seed", r.get("lr")), r["lr"]) for r in records
            if r["part"] == part and r["finished"]}

    def key(name: str, args: list[str]) -> tuple:
        task, label, tail = name.split("-")
        which = int(tail[4:]) if tail.startswith("seed") else float(tail[2:])
        return task, label, which, float(next(a for a in args if a.startswith("lr="))[3:])
    return [job for job in jobs if key(*job) not in done]


def run_jobs(jobs: list[tuple[str, list[str]]], runs: Path, slots: int, deadline: float) -> None:
    """`saga train` for every job not done yet (no summary.json), `slots` at a time on each GPU; none is started
    after `deadline` seconds. Each writes runs/<name>/ and runs/<name>.log."""
    import torch
    gpus = max(1, torch.cuda.device_count())
    pending = [job for job in jobs if not (runs / job[0] / "summary.json").is_file()]
    running: dict[str, tuple[subprocess.Popen, int]] = {}
    start = time.time()
    print(f"{len(pending)} of {len(jobs)} runs to do on {gpus} GPU(s), {slots} at a time on each", flush=True)
    while running or (pending and time.time() - start < deadline):
        for name, (proc, _) in list(running.items()):
            if proc.poll() is not None:
                print(f"{time.time() - start:6.0f} s  {name}: rc {proc.returncode}", flush=True)
                del running[name]
        while pending and len(running) < slots * gpus and time.time() - start < deadline:
            name, args = pending.pop(0)
            busy = [gpu for _, gpu in running.values()]
            gpu = min(range(gpus), key=busy.count)
            log = open(runs / f"{name}.log", "w")
            env = {**os.environ, "CUDA_VISIBLE_DEVICES": str(gpu), "OMP_NUM_THREADS": "1"}   # many side by side
            running[name] = (subprocess.Popen([sys.executable, "-m", "saga_attention.cli", "train", *args,
                                               f"out={runs / name}"], stdout=log, stderr=subprocess.STDOUT,
                                              env=env), gpu)
        time.sleep(1)
    if pending:
        print(f"not started (deadline): {', '.join(name for name, _ in pending)}", flush=True)


def make_data(recipe: list[str], splits: list[str], tasks: list[str]) -> None:
    """Generate the splits once, before the trainings that read them start side by side. With stream=true the
    training split holds only the images held out (the trainings draw theirs from the stream)."""
    from saga_attention.train.classify import builtin_split
    settings = dict(item.split("=", 1) for item in recipe)          # a later setting wins, as in `saga train`
    streamed = settings.get("stream", "false").lower() == "true"
    for task in tasks:
        for split in splits:
            count = HOLDOUT if split == "train" and streamed else int(settings[f"{split}_size"])
            builtin_split(task, split, int(settings["img_size"]), count, int(settings["data_seed"]))


def tuned_lrs(records: list[dict], part: str = "sweep") -> tuple[dict[str, dict[str, float]], str]:
    """{task: {label: lr}} with the best held-out top-1, and the sweep's table."""
    scores: dict = {}
    for r in records:
        if r["part"] == part and r["finished"] and "lr" in r and "seed" not in r:
            scores.setdefault(r["task"], {}).setdefault(r["label"], {})[r["lr"]] = r["best_top1"]
    grid = sorted({lr for models in scores.values() for runs in models.values() for lr in runs})
    lines = ["| task | model | " + " | ".join(f"lr {lr:g}" for lr in grid) + " | chosen |",
             "|---|---|" + "---|" * (len(grid) + 1)]
    best = {}
    for task, models in scores.items():
        for label in (n for n in STUDY_NAMES if n in models):
            runs = models[label]
            best.setdefault(task, {})[label] = max(runs, key=runs.get)
            cells = " | ".join(f"{runs[lr]:.2f}" if lr in runs else "-" for lr in grid)
            lines.append(f"| {task} | {STUDY_NAMES[label]} | {cells} | {best[task][label]:g} |")
    return best, "\n".join(lines) + "\n"


def verdicts(table: dict) -> str:
    """The study's targets, each met or missed, from the means over seeds."""
    out = []
    for task, models in table.items():
        mean = {label: mean_std(list(runs.values()))[0] for label, runs in models.items()}
        chance = TASKS[task]
        low = [STUDY_NAMES[m] for m in MODELS if m in mean and mean[m] < chance + 10]
        out.append(f"* {task}: every model >= chance + 10 ({chance + 10:.0f}%): "
                   + ("met" if not low else "missed by " + ", ".join(low)))
        if not all(m in mean for m in MODELS):
            continue
        top = max(MODELS, key=mean.get)
        gap = mean[top] - mean["global_pvt_tiny"]
        out.append(f"* {task}: global softmax within 5 points of the best ({STUDY_NAMES[top]}, {mean[top]:.2f}): "
                   f"{gap:.2f} behind, {'met' if gap <= 5 else 'missed'}")
        if "global_dwc" in mean:
            out.append(f"* {task}: global softmax with the local branch: {mean[top] - mean['global_dwc']:.2f} behind")
        saga, focused, pvt = mean["saga_pvt_tiny"], mean["focused_pvt_tiny"], mean["pvt_tiny"]
        out.append(f"* {task}: SAGA - focused = {saga - focused:+.2f} (target >= +1: "
                   f"{'met' if saga - focused >= 1 else 'missed'}); SAGA - softmax (PVT) = {saga - pvt:+.2f} "
                   f"(target >= -0.5: {'met' if saga - pvt >= -0.5 else 'missed'})")
    return "\n".join(out) + "\n"


def options(study: dict) -> str:
    """Each of SAGA's options against the default on every task: the difference of the means over seeds and its
    standard error, sqrt(s1^2/n1 + s2^2/n2). An option is a candidate default only where it wins by more than two
    standard errors on one task and loses by no more than that on any."""
    lines = ["| option | " + " | ".join(f"{task}: difference ± s.e." for task in study) + " | verdict |",
             "|---|" + "---|" * (len(study) + 1)]
    for label in (n for n in ABLATIONS if all(n in runs for runs in study.values())):
        diffs = []
        for runs in study.values():
            (a, sa), (b, sb) = mean_std(list(runs[label].values())), mean_std(list(runs["saga_pvt_tiny"].values()))
            diffs.append((a - b, (sa ** 2 / len(runs[label]) + sb ** 2 / len(runs["saga_pvt_tiny"])) ** 0.5))
        wins = any(d > 2 * se for d, se in diffs) and all(d >= -2 * se for d, se in diffs)
        cells = " | ".join(f"{d:+.2f} ± {se:.2f}" for d, se in diffs)
        lines.append(f"| {STUDY_NAMES[label]} | {cells} | {'candidate default' if wins else 'default kept'} |")
    return "\n## SAGA's options against the default\n\n" + "\n".join(lines) + "\n"


def reruns(study: dict, again: dict) -> str:
    """The study's seed-0 runs against the same runs trained again (for the rank study), best top-1."""
    rows = [f"| {task} | {STUDY_NAMES[label]} | {study[task][label][0]:.2f} | {runs[0]:.2f} | "
            f"{runs[0] - study[task][label][0]:+.2f} |"
            for task, models in again.items() for label, runs in models.items() if 0 in runs]
    return ("\n## The seed-0 runs trained again (for the rank study)\n\n| task | model | study | again | "
            "difference |\n|---|---|---|---|---|\n" + "\n".join(rows) + "\n") if rows else ""


def longer(study: dict, curves: dict) -> str:
    """Runs of a longer schedule (`epochs30/`, finished or stopped) beside the study's means at 15 epochs."""
    rows = []
    for task, models in curves.items():
        for label, runs in models.items():
            cells = " | ".join(f"{runs[s][0]:.2f} ({runs[s][1]} ep)" if s in runs else "-" for s in SEEDS)
            mean, std = mean_std([best for best, _ in runs.values()])
            short, short_std = mean_std(list(study[task][label].values()))
            rows.append(f"| {task} | {STUDY_NAMES[label]} | {cells} | {mean:.2f} ± {std:.2f} | "
                        f"{short:.2f} ± {short_std:.2f} |")
    return ("\n## 30 epochs (best validation top-1 in the epochs done)\n\n| task | model | "
            + " | ".join(f"seed {s}" for s in SEEDS) + " | mean ± std | 15 epochs |\n|---|---|"
            + "---|" * (len(SEEDS) + 2)
            + "\n" + "\n".join(rows) + "\n") if rows else ""


def table(results: Path, runs: Path | None) -> None:
    """runs.json from the run folders under `runs` (when given), then lr.json, accuracy.json and accuracy.md."""
    if runs is not None:
        (results / "runs.json").write_text(json.dumps(compact(runs), indent=1) + "\n")
        for folder in (runs / "study").glob("rank-*/"):
            shutil.copy(folder / "rank.md", results / f"{folder.name}.md")
            shutil.copy(folder / "rank.png", results / f"{folder.name}.png")
    records = json.loads((results / "runs.json").read_text())
    lrs, sweep_md = tuned_lrs(records)
    (results / "lr.json").write_text(json.dumps(lrs, indent=2) + "\n")
    text = f"## Learning rate, held-out top-1 (%) of 16,000 training images, seed 0\n\n{sweep_md}"
    if any(r["part"] == "sweep30" for r in records):
        text += f"\n## The same at 30 epochs\n\n{tuned_lrs(records, 'sweep30')[1]}"
    study = collect(records, "study")
    if study:
        (results / "accuracy.json").write_text(json.dumps(study, indent=2) + "\n")
        models = {task: {m: r for m, r in runs.items() if m in NAMES or m in DIAGNOSIS} for task, runs in study.items()}
        saga = {task: {m: r for m, r in runs.items() if m in ABLATIONS or m == "saga_pvt_tiny"}
                for task, runs in study.items()}
        text += (f"\n## Accuracy, best validation top-1 (%)\n\n{markdown(models, STUDY_NAMES)}\n{verdicts(study)}"
                 f"\n## SAGA's options (at SAGA's lr)\n\n{markdown(saga, STUDY_NAMES)}")
        text += (options(study) + reruns(study, collect(records, "rank-runs"))
                 + longer(study, collect(records, "epochs30", finished=False)))
        for rank in sorted(results.glob("rank-*.md"), key=lambda f: (f.stem.split("-")[-1], f.stem)):
            text += f"\n## Rank, `{rank.name}` (seed 0, 16 validation images)\n\n{rank.read_text()}"
    (results / "accuracy.md").write_text(text)
    print(text + f"\nwrote {results / 'accuracy.md'} and {results / 'lr.json'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("sweep", "diagnose", "update", "study", "table"))
    parser.add_argument("runs", nargs="?", type=Path, help="where the GPU steps write their run folders")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the committed results (table; study's lr.json)")
    parser.add_argument("--from", dest="source", type=Path, help="table: the folder whose run folders (sweep/, "
                                                                 "study/, ...) make runs.json")
    parser.add_argument("--slots", type=int, default=16, help="trainings at a time on each GPU")
    parser.add_argument("--deadline", type=float, default=420, help="seconds after which no training starts")
    parser.add_argument("--labels", help="sweep, study: which models and options, comma-separated (default: the "
                                         "sweep every model, the study all of " + ", ".join(STUDY_NAMES) + ")")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)), help="study: which seeds (default 0,1,2)")
    parser.add_argument("--tasks", default=",".join(TASKS), help="sweep, study: which tasks (default: all)")
    parser.add_argument("--lrs", help="sweep: which peak lrs, comma-separated (default: "
                                      + ",".join(f"{lr:g}" for lr in LRS) + ")")
    parser.add_argument("--extra", nargs="*", default=[], help="settings added to every training (a CPU smoke test)")
    args = parser.parse_args()
    if args.step == "table":
        return table(args.results, args.source)
    if args.runs is None:
        parser.error(f"{args.step} needs RUNS, the folder for its run folders")
    labels = args.labels.split(",") if args.labels else list(MODELS if args.step == "sweep" else STUDY_NAMES)
    unknown = [label for label in labels if label not in STUDY_NAMES]
    if unknown:
        parser.error(f"unknown label(s) {', '.join(unknown)}; choose from {', '.join(STUDY_NAMES)}")
    tasks = args.tasks.split(",")
    if any(task not in TASKS for task in tasks):
        parser.error(f"--tasks takes some of {', '.join(TASKS)}, comma-separated; got {args.tasks!r}")
    try:
        seeds = tuple(int(seed) for seed in args.seeds.split(","))
    except ValueError:
        parser.error(f"--seeds takes comma-separated integers, e.g. 0,1,2; got {args.seeds!r}")
    try:
        lrs = [float(lr) for lr in args.lrs.split(",")] if args.lrs else list(LRS)
    except ValueError:
        parser.error(f"--lrs takes comma-separated numbers, e.g. 1e-4,3e-4; got {args.lrs!r}")
    if any(lr <= 0 for lr in lrs):
        parser.error(f"--lrs must be positive; got {args.lrs!r}")
    if args.step in ("study", "update") and not (args.results / "lr.json").is_file():
        parser.error(f"{args.results / 'lr.json'} is missing: run the sweep, then `table --from RUNS`")
    args.runs.mkdir(parents=True, exist_ok=True)
    recipe = RECIPE + args.extra
    if args.step in ("sweep", "diagnose"):
        make_data(recipe, ["train"], tasks)
        runs = diagnose_runs() if args.step == "diagnose" else [(label, lr) for label in labels for lr in lrs]
        jobs = sweep_jobs(recipe, runs, tasks)
        return run_jobs(jobs, args.runs, args.slots, args.deadline)
    make_data(recipe, ["train", "val"], tasks)
    tuned = json.loads((args.results / "lr.json").read_text())
    if args.step == "update":
        records = json.loads((args.results / "runs.json").read_text())
        sweep = missing(sweep_jobs(recipe) + sweep_jobs(recipe, diagnose_runs()), records, "sweep")
        study = missing(study_jobs(recipe, tuned, [*MODELS, *DIAGNOSIS, *GATE_BIAS]), records, "study")
        order = [*DIAGNOSIS, *MODELS, *GATE_BIAS]                   # a model's seeds together, the references first
        study.sort(key=lambda job: order.index(job[0].split("-")[1]))
        for folder in ("sweep", "study"):
            (args.runs / folder).mkdir(exist_ok=True)
        return run_jobs([(f"study/{n}", a) for n, a in study] + [(f"sweep/{n}", a) for n, a in sweep],
                        args.runs, args.slots, args.deadline)
    run_jobs(study_jobs(recipe, tuned, labels, seeds, tasks), args.runs, args.slots, args.deadline)
    rank_runs(args.runs)


if __name__ == "__main__":
    main()
