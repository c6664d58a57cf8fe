"""Every command with wrong input: one line on stderr saying what was wrong and what is expected, exit code
2, no traceback, and nothing written to disk. Ctrl-C during training: exit 130 and the resume command."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from PIL import Image

from saga_attention.cli import main
from saga_attention.models import create_model, save_checkpoint
from saga_attention.train import load_config, to_yaml

LLIE = ["--model", "llie.safetensors"]
SMALL = ["img_size=64", "train_size=16", "val_size=8", "batch_size=8", "workers=0", "device=cpu"]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SAGA_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SAGA_DEBUG", raising=False)
    (tmp_path / "broken.yaml").write_text("epochs: 3\nlr: [0.1,\n")
    (tmp_path / "bomb.yaml").write_text("a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n")
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    (tmp_path / "unfinished").mkdir()
    (tmp_path / "unfinished" / "config.yaml").write_text(to_yaml(load_config(None, SMALL)))
    (tmp_path / "weights-only").mkdir()
    (tmp_path / "weights-only" / "config.yaml").write_text(to_yaml(load_config(None, SMALL)))
    (tmp_path / "weights-only" / "best.safetensors").write_bytes(b"weights")
    Image.new("RGB", (24, 16), (20, 10, 5)).save(tmp_path / "photo.png")
    save_checkpoint(create_model("saga_llie_tiny"), tmp_path / "llie.safetensors")
    broken = create_model("saga_llie_tiny")
    with torch.no_grad():
        next(broken.parameters())[0].fill_(float("nan"))
    save_checkpoint(broken, tmp_path / "nan.safetensors")
    (tmp_path / "deep.yaml").write_text("crop_scale: " + "[" * 5000 + "]" * 5000 + "\n")
    (tmp_path / "nested.yaml").write_text("a:\n" + "".join("  " * i + "b:\n" for i in range(1, 12)) + "  " * 12 + "1\n")
    (tmp_path / "twice.yaml").write_text("lr: 1e-3\nlr: 2e-3\n")
    (tmp_path / "merge.yaml").write_text("<<: {lr: 0.001}\nepochs: 2\n")
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "mine").mkdir()
    Image.new("RGB", (24, 16), (20, 10, 5)).save(tmp_path / "mine" / "a.jpg")
    (tmp_path / "mine" / "a.jpg.compare.jpg").write_bytes(b"the user's own file")
    (tmp_path / "userout").mkdir()
    (tmp_path / "userout" / "photo.png.compare.jpg").write_bytes(b"the user's own file")
    (tmp_path / "bench.json").write_text('{"records": 3}')
    return tmp_path


CASES = [
    (["train", "--config", "broken.yaml"], "settings file 'broken.yaml' is not valid YAML (line 3"),
    (["train", "--config", "bomb.yaml", "--print-config"], "anchors (&name) are not allowed in settings"),
    (["train", "crop_scale=[a,b]"], "crop_scale must be [low, high] with 0 < low <= high <= 1"),
    (["train", "device=tpu"], "device must be auto, cpu, cuda or cuda:N; got 'tpu'"),
    (["train", *SMALL, "out=/proc/saga-test/run"], "out='/proc/saga-test/run' cannot be written"),
    (["train", *SMALL, "out=notes"], "out='notes' is not empty (it holds files that this command did not write)"),
    (["train", "drop_path=5"], "drop_path must be >= 0 and < 1; got 5.0"),
    (["train", "mixup=-1"], "mixup must be >= 0"),
    (["train", "hflip=7"], "hflip must be >= 0 and <= 1"),
    (["train", "weight_decay=-1"], "weight_decay must be >= 0"),
    (["train", "lr=.nan"], "lr must be a finite number; got nan"),
    (["train", "lr=1e-3", "epochs=0"], "epochs must be >= 1 and <= 100000; got 0"),
    (["train", "--print-config", "model=saga_pvt_tyni"], "unknown model 'saga_pvt_tyni'; did you mean saga_pvt_tiny"),
    (["train", "--print-config", "data=imagenet"], "data='imagenet' is neither a built-in task"),
    (["train", "model=saga_pvt_tiny:gate_bias=2"], "model saga_pvt_tiny has no option 'gate_bias'"),
    (["train", "--resume", "nothere"], "'nothere' does not exist"),
    (["train", "--resume", "weights-only"], "weights-only has no last.safetensors to resume from: the run was started "
                                            "with resumable=false"),
    (["eval", "--model", "runs/nothere"], "'runs/nothere' does not exist; --model takes a run folder"),
    (["eval", "--model", "saga_pvt_tyni"], "unknown model 'saga_pvt_tyni'; did you mean saga_pvt_tiny"),
    (["eval", "--model", "unfinished"], "run folder 'unfinished' has no best.safetensors yet"),
    (["eval", "--model", "junk.safetensors", *SMALL], "could not read 'junk.safetensors' as a safetensors checkpoint"),
    (["bench", "--models", "pvt_tiny:num_clases=3", "--device", "cpu"], "has no option 'num_clases'"),
    (["bench", "--models", "pvt_tiny:compile=true", "--device", "cpu"], "compile is a setting of the run"),
    (["bench", "--models", "saga_pvt_tiny:feature_map=bad", "--device", "cpu"], "feature_map must be one of"),
    (["train", "model=pvt_tiny:dwc_kernel_size=4"], "dwc_kernel_size must be 0"),
    (["bench", "--models", ",", "--device", "cpu"], "no models given"),
    (["rank", "--model", "nothere"], "unknown model 'nothere'"),
    (["models", "--task", "segment"], "--task must be one of classify"),
    (["train", "--no-such-flag"], "unknown setting 'no_such_flag'"),
    (["train", "task=enhance", "exposure=[0.5]"], "exposure must be [low, high] with 0 < low <= high"),
    (["train", "task=enhance", "scale=[0.5,2]"], "scale must be [low, high] with 0 < low <= high <= 1"),
    (["train", "task=enhance", "data=nowhere"], "data='nowhere' is neither lowlight, lowlight-heldout nor a folder"),
    (["train", "model=saga_llie_tiny", "init=nothere.safetensors"], "init='nothere.safetensors' is neither"),
    (["train", "model=saga_llie_tiny", "data=lowlight-heldout", "workers=0"],
     "lowlight-heldout is for evaluation only"),
    (["train", "model=saga_pvt_tiny", "task=enhance"], "model saga_pvt_tiny is built for task 'classify'"),
    (["enhance", "nothere.jpg", "-o", "out", *LLIE], "'nothere.jpg' is no file, folder or pattern"),
    (["enhance", "photo.png", "-o", ".", *LLIE], "would be 'photo.png', an input"),
    (["enhance", "photo.png", "-o", "/proc/saga-test/out", *LLIE], "cannot write to the output folder"),
    (["enhance", "photo.png", "-o", "out", *LLIE, "--strength", "3"], "strength must be between 0 and 2"),
    (["enhance", "photo.png", "-o", "out", *LLIE, "--tile", "10"], "tile must be at least 64"),
    (["enhance", "photo.png", "-o", "out", *LLIE, "--band", "4"], "or at least 8 rows; got 4"),
    (["enhance", "photo.png", "-o", "out", *LLIE, "--band", "16", "--tile", "128"], "give tile or band, not both"),
    (["bench", "--task", "enhance", "--models", "saga_llie_tiny:band_rows=-8", "--device", "cpu"],
     "band_rows must be a whole number >= 0"),
    (["enhance", "photo.png", "-o", "out", "--model", "saga_pvt_tiny"], "no weights are shipped for it"),
    (["enhance", "photo.png", "-o", "out", "--model", "junk.safetensors"], "could not read 'junk.safetensors'"),
    (["enhance", "photo.png", "-o", "out", *LLIE, "--max-memory", "lots"], "expected a size like 4096 (MiB)"),
    # one convention: the subcommand is named, the nearest spelling suggested
    (["train", "--devise", "cpu"], "saga train: error: unknown setting 'devise'; did you mean device?"),
    (["eval", "--model", "llie.safetensors", "--devise", "cpu"], "saga eval: error: unknown setting 'devise'"),
    (["bench", "modle=pvt_tiny"],
     "saga bench: error: unknown option 'modle=pvt_tiny'; did you mean --mode or --model?"),
    (["bench", "--modle", "pvt_tiny"], "saga bench: error: unknown option '--modle'; did you mean"),
    (["bench", "--res"], "saga bench: error: argument --res: expected one argument"),
    (["enhance", "photo.png", "-o", "out", "overwrite=maybe"], "overwrite is a flag: --overwrite, or overwrite=true"),
    (["eval", "saga_llie_tiny"], "saga eval: error: the following arguments are required: --model"),
    (["train", "--print", "epochs=1"], "saga train: error: unknown setting 'print'; known: task, model"),
    # numbers out of range, and values that used to raise
    (["train", "warmup_epochs=1e308"], "warmup_epochs must be >= 0 and <= 100000; got 1e+308"),
    (["train", "epochs=1e400"], "epochs must be a whole number; got inf"),
    (["train", "min_lr=1", "lr=1e-5"], "min_lr (1) must not be above lr (1e-05)"),
    (["train", "grad_checkpointing=ye"], "grad_checkpointing must be true or false; got 'ye'"),
    (["train", "batch_size=1.5"], "batch_size must be a whole number; got 1.5"),
    (["train", "lr= 1e-3"], "settings are key=value without spaces around '='"),
    (["bench", "--device", "tpu"], "device must be auto, cpu, cuda or cuda:N; got 'tpu'"),
    (["bench", "--device", "cpu", "--repeats", "0"], "argument --repeats: expected a whole number >= 1; got '0'"),
    (["bench", "--device", "cpu", "--warmup", "-1"], "argument --warmup: expected a whole number >= 0; got '-1'"),
    (["bench", "--device", "cpu", "--res", "65"],
     "pvt_tiny takes heights and widths that are positive multiples of 32"),
    (["bench", "--device", "cpu", "--res", "0x64", "--task", "enhance", "--model", "saga_llie_tiny"],
     "resolution must be N or HxW with positive integers"),
    (["bench", "--device", "cpu", "--batch", "0"], "argument --batch: expected comma-separated whole numbers >= 1"),
    (["bench", "--device", "cpu", "--dtype", "fp64"], "dtype must be one of"),
    (["bench", "--device", "cpu", "--mode", "serve"], "mode must be one of"),
    (["bench", "--device", "cpu", "--time-limit", "inf"], "expected a positive number of seconds; got 'inf'"),
    (["bench", "--task", "segment"], "argument --task: invalid choice: 'segment'"),
    (["models", "--res", "-32"], "argument --res: expected a whole number >= 1; got '-32'"),
    (["models", "pvt_tiny", "--res", "100"], "pvt_tiny takes heights and widths that are positive multiples of 32"),
    (["rank", "--model", "saga_pvt_tiny", "--images", "0"], "argument --images: expected a whole number >= 1"),
    (["rank", "--model", "saga_pvt_tiny", "--images", "-3"], "argument --images: expected a whole number >= 1"),
    (["rank", "--model", "saga_pvt_tiny", "--map-tokens", "0"], "argument --map-tokens: expected a whole number >= 1"),
    (["rank", "--model", "saga_pvt_tiny", "--out", "notes"], "out='notes' is not empty"),
    (["demo", "--train-epochs", "-1"], "argument --train-epochs: expected a whole number >= 0; got '-1'"),
    (["demo", "--repeats", "0"], "argument --repeats: expected a whole number >= 1; got '0'"),
    (["demo", "--res", "65"], "pvt_tiny takes heights and widths that are positive multiples of 32; got 65x65"),
    (["demo", "--res", "16"], "argument --res: expected comma-separated whole numbers >= 32"),
    (["demo", "--out", "notes"], "out='notes' is not empty"),
    (["demo", "--device", "tpu"], "device must be auto, cpu, cuda or cuda:N"),
    (["report", "nothere.json"], "'nothere.json' is not a benchmark JSON written by saga bench"),
    (["report", "bench.json"], "'bench.json' is not a benchmark JSON written by saga bench"),
    (["report", "bench.json", "--out", "notes"], "out='notes' is not empty"),
    # model specs
    (["train", "model=saga_pvt_tiny:,,,"], "model spec options are key=value"),
    (["train", "model=  saga_pvt_tiny"], "settings are key=value without spaces around '='"),
    (["train", "--model", " saga_pvt_tiny"], "settings are key=value without spaces around '='"),
    (["bench", "--model", "saga_pvt_tiny:gate bias=1", "--device", "cpu"],
     "model spec options are key=value"),
    (["bench", "--model", "saga_pvt_tiny:", "--device", "cpu"], "model spec options are key=value"),
    # strict YAML, on the command line and in files
    (["train", "--config", "deep.yaml"], "settings nest at most 8 levels deep"),
    (["train", "--config", "nested.yaml"], "settings nest at most 8 levels deep"),
    (["train", "crop_scale=" + "[" * 3000 + "]" * 3000], "settings nest at most 8 levels deep"),
    (["train", "--config", "twice.yaml"], "the key 'lr' is given twice"),
    (["train", "--config", "merge.yaml"], "merge keys (<<) are not allowed in settings"),
    (["train", "--config", "empty.yaml"], "'empty.yaml' holds no settings"),
    (["train", "lr=&a 1"], "anchors (&name) are not allowed in settings"),
    # weights and user files
    (["enhance", "photo.png", "-o", "out", "--model", "nan.safetensors"],
     "holds NaN or infinite values in 1 tensor(s)"),
    (["eval", "--model", "nan.safetensors", "device=cpu", "workers=0"], "holds NaN or infinite values"),
    (["enhance", "mine/a.jpg", "-o", "mine", *LLIE], "would be 'mine/a.jpg', an input"),
    (["enhance", "photo.png", "-o", "userout", *LLIE, "--compare"],
     "'userout/photo.png.compare.jpg' exists and saga enhance did not write it; it is never replaced"),
    (["enhance", "photo.png", "-o", "mine/a.jpg.compare.jpg", *LLIE, "--overwrite"], "saga enhance did not write it"),
]


@pytest.mark.parametrize("argv,message", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(argv, message, workdir, capsys):
    before = sorted(p.relative_to(workdir) for p in workdir.rglob("*"))
    rc = _run(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert sorted(p.relative_to(workdir) for p in workdir.rglob("*")) == before


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stop:            # argparse's usage errors exit from inside parse_args
        return stop.code


def test_a_run_stopped_before_its_first_checkpoint_starts_again_in_place(workdir, capsys):
    assert main(["train", "--resume", "unfinished", "epochs=1"]) == 0
    assert "has no checkpoint yet (stopped before its first epoch ended): starting it again in place" in \
        capsys.readouterr().out
    assert (workdir / "unfinished" / "best.safetensors").is_file()
    assert (workdir / "unfinished" / "last.safetensors").is_file()


def test_saga_debug_shows_the_traceback(workdir, monkeypatch):
    monkeypatch.setenv("SAGA_DEBUG", "1")
    with pytest.raises(ValueError, match="drop_path must be"):
        main(["train", "drop_path=5"])


@pytest.mark.slow
def test_ctrl_c_during_training_says_how_to_resume(tmp_path):
    env = dict(os.environ, SAGA_CACHE=str(tmp_path / "cache"), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "saga_attention.cli", "train", *SMALL, "epochs=50",
                             "model=linear_pvt_tiny", f"out={run}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    deadline = time.time() + 180
    for line in proc.stdout:
        if line.startswith("epoch 1/50:") or time.time() > deadline:
            break
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert f"resume with: saga train --resume {run}" in last and "Traceback" not in err
    assert (run / "last.safetensors").is_file()
