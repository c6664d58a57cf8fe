"""The benchmark suite's scripts: --help, one-line refusals of bad input with exit code 2 and nothing written,
a tiny CPU run, and the A/B runner's comparison."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from ab import compare  # noqa: E402


def script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCHMARKS / args[0]), *args[1:]], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


@pytest.mark.parametrize("name", ["ops.py", "training.py", "profiling.py", "lowlight.py", "accuracy_study.py",
                                  "ab.py"])
def test_every_script_has_help(name, tmp_path):
    done = script(name, "--help", cwd=tmp_path)
    assert done.returncode == 0 and "usage:" in done.stdout


@pytest.mark.parametrize("args,message", [
    (["training.py", "throughput", "--res", "10x"], "resolution must be N or HxW"),
    (["training.py", "throughput", "--models", "vit_tiny"], "unknown model 'vit_tiny'"),
    (["training.py", "checkpointing", "--batch", "0"], "--batch and --steps must be >= 1"),
    (["ops.py", "--device", "cuda:7"], "no CUDA GPU"),
    (["lowlight.py", "seams", "--out", "x.json", "--steps", "0"], "must be >= 1"),
    (["lowlight.py", "glow", "--out", "x.json"], "invalid choice: 'glow'"),
    (["lowlight.py", "heldout", "--out", "x.json", "--families", "dusk"], "unknown families ['dusk']"),
    (["lowlight.py", "heldout", "--out", "x.json", "--photos", "retina"], "retina are training or validation"),
    (["lowlight.py", "heldout", "--out", "x.json", "--max-side", "0"], "--max-side must be >= 1"),
    (["lowlight.py", "heldout", "--out", "x.json", "--photos", "chelsea,nope"], "'nope' is neither a folder"),
    (["accuracy_study.py", "table", "--from", "nope", "--results", "r"], "--from nope: no such folder"),
    (["accuracy_study.py", "sweep", "runs", "--budget", "0"], "--budget must be > 0"),
    (["accuracy_study.py", "study", "runs", "--results", "r"], "r/plan.json is missing"),
    (["accuracy_study.py", "sweep", "runs", "--tasks", "maze"], "--tasks takes some of match, pathfinder"),
    (["ab.py", "--base", "no-such-ref", "--", "saga", "bench", "--json", "b.json"], "is not a commit"),
    (["ab.py", "--base", "HEAD", "--", "saga", "models"], "--json PATH or --out PATH"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(args, message, tmp_path):
    done = script(*args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_training_throughput_writes_json_table_and_plot(tmp_path):
    out = tmp_path / "t.json"
    done = script("training.py", "throughput", "--models", "saga_pvt_tiny", "--res", "32", "--batch", "2",
                  "--steps", "1", "--warmup", "0", "--device", "cpu", "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads(out.read_text())["records"][0]
    assert record["model"] == "saga_pvt_tiny" and record["samples_per_s"] > 0
    assert out.with_suffix(".md").is_file() and out.with_suffix(".png").is_file()


def test_heldout_evaluation_writes_the_table_and_the_grid(tmp_path):
    photos = tmp_path / "mine"
    photos.mkdir()
    gradient = np.linspace(0, 255, 96, dtype=np.float32)
    sky = np.stack([np.tile(gradient, (64, 1)) * c for c in (0.3, 0.5, 0.9)], axis=2).astype(np.uint8)
    Image.fromarray(sky).save(photos / "sky.png")
    (photos / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "h.json"
    done = script("lowlight.py", "heldout", "--photos", str(photos), "--families", "srgb-scale,sensor+jpeg",
                  "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "skipping" in done.stderr and "broken.png" in done.stderr
    rows = json.loads(out.read_text())["rows"]
    assert {(r["family"], r["method"]) for r in rows} >= {("srgb-scale", "oracle gain"), ("sensor+jpeg", "CLAHE"),
                                                          ("srgb-scale", "saga_llie_tiny")}
    oracle = next(r for r in rows if r["family"] == "srgb-scale" and r["method"] == "oracle gain")
    dark = next(r for r in rows if r["family"] == "srgb-scale" and r["method"] == "dark input")
    assert oracle["psnr"] > dark["psnr"] + 5 and oracle["ciede2000"] < dark["ciede2000"]
    table = out.with_suffix(".md").read_text()
    assert "### srgb-scale" in table and "### all families" in table and "| saga_llie_tiny |" in table
    assert out.with_suffix(".png").stat().st_size > 10_000
    assert all(r["grid"] >= 0 for r in rows) and "grid (levels)" in table
    alone = tmp_path / "exposure.json"                       # a family the grid does not show by default
    done = script("lowlight.py", "heldout", "--photos", str(photos), "--families", "exposure", "--out", str(alone),
                  cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert alone.with_suffix(".png").stat().st_size > 5_000


def test_ab_pairs_records_by_their_fields_and_gives_ratios():
    base = [{"model": "a", "res": "64x64", "ms": 10.0}, {"model": "b", "res": "64x64", "ms": 4.0}]
    new = [{"model": "b", "res": "64x64", "ms": 2.0}, {"model": "c", "res": "64x64", "ms": 1.0}]
    rows, table = compare(base, new)
    assert [row["key"]["model"] for row in rows] == ["b"] and rows[0]["ratio"] == {"ms": 0.5}
    assert "ms 4 -> 2 (0.500x)" in table


def _fake_run(root: Path, task: str, model: str, lr: float, seed: int, held_out: list[float], val: float) -> None:
    """A run folder as accuracy_study's trainings leave it: metrics.csv (held-out top-1 per epoch), config.yaml,
    command.txt and val.json (the validation top-1 of the best held-out epoch's checkpoint)."""
    folder = root / f"{task}-{model}-lr{lr:g}-seed{seed}"
    folder.mkdir(parents=True)
    rows = "\n".join(f"{i + 1},1.0,1.0,{top1}" for i, top1 in enumerate(held_out))
    (folder / "metrics.csv").write_text(f"epoch,train_loss,val_loss,val_top1\n{rows}\n")
    (folder / "config.yaml").write_text(f"img_size: 224\ntrain_size: 640\nbatch_size: 64\nlr: {lr}\n")
    (folder / "command.txt").write_text(f"saga train data={task} model={model} lr={lr:g} seed={seed}\n")
    (folder / "val.json").write_text(json.dumps({"top1": val}))


def test_accuracy_study_picks_lrs_on_held_out_images_and_writes_the_rows(tmp_path):
    runs, results = tmp_path / "runs", tmp_path / "results"
    for model in ("linear_pvt_tiny", "saga_pvt_tiny"):      # lr 1e-3 wins on held-out images, 3e-4 on validation
        _fake_run(runs, "match", model, 3e-4, 0, [30.0, 40.0], 90.0)
        _fake_run(runs, "match", model, 1e-3, 0, [50.0, 45.0], 60.0)
    for seed, (lin, saga) in enumerate([(60.0, 70.0), (62.0, 71.0)], start=1):
        _fake_run(runs, "match", "linear_pvt_tiny", 1e-3, seed, [50.0], lin)
        _fake_run(runs, "match", "saga_pvt_tiny", 1e-3, seed, [50.0], saga)
    _fake_run(runs, "match", "saga_pvt_tiny", 3e-4, 1, [99.0], 99.0)     # a seed at an lr not chosen: left out
    done = script("accuracy_study.py", "table", "--from", str(runs), "--results", str(results), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    plan = json.loads((results / "plan.json").read_text())
    assert plan["lr"] == {"match": {"linear_pvt_tiny": 1e-3, "saga_pvt_tiny": 1e-3}}
    assert "train_size=640" in plan["recipe"]
    rows = json.loads((results / "accuracy.json").read_text())
    assert len(rows) == 6 and all(set(r) == {"task", "model", "img_size", "seed", "top1", "steps", "lr"}
                                  for r in rows)
    saga = sorted((r["seed"], r["top1"]) for r in rows if r["model"] == "saga_pvt_tiny")
    assert saga == [(0, 60.0), (1, 70.0), (2, 71.0)] and {r["steps"] for r in rows if r["seed"] == 0} == {20}
    text = (results / "accuracy.md").read_text()   # SAGA - linear: 6.33 ± 4.303 x 3.575 (Welch: 2.14 df, so 2)
    assert "| match | SAGA | 60.00 | 70.00 | 71.00 | 67.00 ± 6.08 | +42.0 |" in text
    assert "| match | linear (ReLU) | +6.33 | [-9.05, +21.71] |" in text
    assert (results / "accuracy.png").is_file()


def test_accuracy_study_resumes_stopped_runs_and_skips_finished_ones(tmp_path, monkeypatch):
    import accuracy_study

    started = []

    class Done:
        returncode = 0

        def __init__(self, command, **kwargs):
            started.append(command)

        def poll(self):
            return 0

    monkeypatch.setattr(accuracy_study.subprocess, "Popen", Done)
    monkeypatch.setattr(accuracy_study.time, "sleep", lambda s: None)
    (tmp_path / "finished").mkdir()
    (tmp_path / "finished" / "val.json").write_text("{}")
    (tmp_path / "stopped").mkdir()
    (tmp_path / "stopped" / "config.yaml").write_text("epochs: 8\n")
    jobs = [(name, ["data=match", "lr=0.001"]) for name in ("finished", "stopped", "new")]
    accuracy_study.run_jobs(jobs, tmp_path, slots=2)
    assert len(started) == 2
    assert f"train --resume {tmp_path / 'stopped'} &&" in started[0] and "data=match" not in started[0]
    assert f"train data=match lr=0.001 out={tmp_path / 'new'} &&" in started[1]
    assert all(f"eval --model {tmp_path / n}" in c for n, c in zip(("stopped", "new"), started))
