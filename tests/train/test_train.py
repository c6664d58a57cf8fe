import json
import os
import subprocess
import sys

import pytest
import torch
from folders import make_folder
from safetensors.torch import load_file

import saga_attention.train.engine as engine
from saga_attention.cli import main
from saga_attention.train import load_config, run_eval, train

SMALL = ["img_size=64", "train_size=48", "val_size=16", "batch_size=16", "workers=0", "warmup_epochs=1",
         "device=cpu"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SAGA_CACHE", str(tmp_path / "cache"))


def test_two_epochs_on_a_builtin_task_train_checkpoint_and_evaluate(tmp_path, capsys):
    run = tmp_path / "run"
    summary = train(load_config(None, [*SMALL, "epochs=2", "data=pathfinder", "model=saga_pvt_tiny", "ema_decay=0.9",
                                       "grad_checkpointing=true"]), run, command="test")
    assert {"config.yaml", "command.txt", "metrics.csv", "metrics.jsonl", "curves.png", "last.safetensors",
            "best.safetensors", "summary.json"} <= {p.name for p in run.iterdir()}
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and all(r["val_top5"] == 100.0 for r in rows)  # 2 classes
    assert all(torch.isfinite(torch.tensor([r["train_loss"], r["val_loss"], r["ema_top1"]])).all() for r in rows)
    assert summary["best_top1"] == max(max(r["val_top1"], r["ema_top1"]) for r in rows)
    assert "saga-attention 0.1.0" in (run / "command.txt").read_text()
    metrics = run_eval(run, [])
    assert metrics["count"] == 16 and metrics["top1"] == pytest.approx(summary["best_top1"])
    assert main(["eval", "--model", str(run), "--json", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "top-1" in out and "top-5" not in out            # 2 classes: top-5 is always 100% and not shown
    assert json.loads((tmp_path / "m.json").read_text())["count"] == 16


def _weights(run):
    return {k: v for k, v in load_file(run / "last.safetensors").items() if not k.startswith("optim.")}


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    settings = [*SMALL, "epochs=3", "model=saga_pvt_tiny", "ema_decay=0.5", f"out={tmp_path / 'whole'}"]
    train(load_config(None, settings), tmp_path / "whole")
    calls, real_step = [0], engine.train_step

    def dies_in_epoch_two(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 5:                      # 3 steps per epoch: the 2nd step of epoch 2
            raise KeyboardInterrupt
        return real_step(*args, **kwargs)

    monkeypatch.setattr(engine, "train_step", dies_in_epoch_two)
    with pytest.raises(KeyboardInterrupt, match="resume with: saga train --resume"):
        train(load_config(None, settings), tmp_path / "cut")
    monkeypatch.setattr(engine, "train_step", real_step)
    (tmp_path / "cut" / ".last.safetensors.x1y2.tmp").write_bytes(b"half a checkpoint")   # a write killed midway
    assert main(["train", "--resume", str(tmp_path / "cut")]) == 0
    assert not list((tmp_path / "cut").glob(".*.tmp"))
    history = (tmp_path / "cut" / "command.txt").read_text().splitlines()
    assert len(history) == 2 and history[1].startswith("saga train --resume") and "resumed" in history[1]
    whole, cut = _weights(tmp_path / "whole"), _weights(tmp_path / "cut")
    assert whole.keys() == cut.keys() and any(k.startswith("ema.") for k in whole)
    assert all(torch.equal(whole[k], cut[k]) for k in whole)
    rows = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in rows] == [1, 2, 3]


def test_a_folder_with_a_corrupt_image_trains_and_reports_it(tmp_path, capsys):
    make_folder(tmp_path / "data" / "train", per_class=8, size=(80, 72), corrupt="broken.jpg")
    make_folder(tmp_path / "data" / "val", per_class=2, size=(64, 96))
    config = load_config("imagenet-pvt", [*SMALL, "epochs=2", "batch_size=4", "model=linear_pvt_tiny",
                                          f"data={tmp_path / 'data'}"])
    summary = train(config, tmp_path / "run")
    assert summary["epochs"] == 2 and summary["last"]["skipped_files"] >= 1
    assert "broken.jpg" in capsys.readouterr().err
    assert run_eval(tmp_path / "run", [])["count"] == 4


def test_wrong_checkpoints_and_run_folders_are_clear_errors(tmp_path, capsys):
    run = tmp_path / "run"
    train(load_config(None, [*SMALL, "epochs=1", "model=linear_pvt_tiny"]), run)
    with pytest.raises(ValueError, match="holds weights of model 'linear_pvt_tiny', not 'saga_pvt_tiny'"):
        run_eval(run / "best.safetensors", [*SMALL, "model=saga_pvt_tiny"])
    with pytest.raises(ValueError, match="is not empty \\(resume it with `saga train --resume"):
        train(load_config(None, [*SMALL, "epochs=1", "model=linear_pvt_tiny"]), run)
    saved = (run / "config.yaml").read_text()
    with pytest.raises(ValueError, match="is a checkpoint of model 'linear_pvt_tiny', not 'pvt_tiny'"):
        train(load_config(run / "config.yaml", ["model=pvt_tiny"]), run, resume=True)
    assert (run / "config.yaml").read_text() == saved           # a refused resume writes nothing
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "has no config.yaml" in capsys.readouterr().err
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    assert main(["eval", "--model", str(tmp_path / "junk.safetensors"), *SMALL]) == 2
    assert "could not read" in capsys.readouterr().err


def test_print_config(capsys):
    assert main(["train", "--print-config", "epochs=5"]) == 0
    assert "epochs: 5" in capsys.readouterr().out


@pytest.mark.slow
def test_torchrun_with_two_gloo_processes_agrees_even_when_whole_batches_are_unreadable(tmp_path):
    """Most training files are corrupt, so some batch of some rank holds no readable image: every rank must
    still take every step (before the engine, that rank skipped its step and gloo failed)."""
    data = tmp_path / "data"
    make_folder(data / "train", per_class=2, size=(64, 64))
    for i in range(8):
        (data / "train" / "cat" / f"zz-broken-{i}.jpg").write_bytes(b"not an image")
    make_folder(data / "val", per_class=2, size=(64, 64))
    run = tmp_path / "ddp"
    env = dict(os.environ, SAGA_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", "-m",
         "saga_attention.cli", "train", "--config", "imagenet-pvt", *SMALL, "epochs=2", "batch_size=2",
         "model=saga_pvt_tiny", f"data={data}", f"out={run}"],
        capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["processes"] == 2 and len(summary["rank_checksums"]) == 2 and summary["ranks_agree"]
    assert done.stdout.count("epoch 2/2: train loss") == 1          # rank 0 alone logs
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert "replaced" in done.stderr and "zz-broken" in done.stderr
    assert "grad strides do not match" not in done.stderr.lower()


