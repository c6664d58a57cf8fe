"""Every command with wrong input: one line on stderr saying what was wrong and what is expected, exit code
2, no traceback, and nothing written to disk. Ctrl-C during training: exit 130 and the resume command."""
import os
import signal
import subprocess
import sys
import time

import pytest
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
    Image.new("RGB", (24, 16), (20, 10, 5)).save(tmp_path / "photo.png")
    save_checkpoint(create_model("saga_llie_tiny"), tmp_path / "llie.safetensors")
    return tmp_path


CASES = [
    (["train", "--config", "broken.yaml"], "settings file 'broken.yaml' is not valid YAML (line 3"),
    (["train", "--config", "bomb.yaml", "--print-config"], "aliases (*name) are not allowed in settings"),
    (["train", "crop_scale=[a,b]"], "crop_scale must be [low, high] with 0 < low <= high <= 1"),
    (["train", "device=tpu"], "device must be auto, cpu, cuda or cuda:N; got 'tpu'"),
    (["train", *SMALL, "out=/proc/saga-test/run"], "out='/proc/saga-test/run' cannot be written"),
    (["train", *SMALL, "out=notes"], "out='notes' is not empty (it holds files that are not a run of saga train)"),
    (["train", "drop_path=5"], "drop_path must be >= 0 and < 1; got 5.0"),
    (["train", "mixup=-1"], "mixup must be >= 0"),
    (["train", "hflip=7"], "hflip must be >= 0 and <= 1"),
    (["train", "weight_decay=-1"], "weight_decay must be >= 0"),
    (["train", "lr=.nan"], "lr must be a finite number; got nan"),
    (["train", "lr=1e-3", "epochs=0"], "epochs must be >= 1; got 0"),
    (["train", "--print-config", "model=saga_pvt_tyni"], "unknown model 'saga_pvt_tyni'; did you mean saga_pvt_tiny"),
    (["train", "--print-config", "data=imagenet"], "data='imagenet' is neither a built-in task"),
    (["train", "model=saga_pvt_tiny:gate_bias=2"], "model saga_pvt_tiny has no option 'gate_bias'"),
    (["train", "--resume", "nothere"], "'nothere' does not exist"),
    (["train", "--resume", "unfinished"], "unfinished has no last.safetensors to resume from"),
    (["eval", "runs/nothere"], "'runs/nothere' does not exist; give a run folder of saga train or a .safetensors"),
    (["eval", "unfinished"], "run folder 'unfinished' has no best.safetensors yet"),
    (["eval", "junk.safetensors", *SMALL], "could not read 'junk.safetensors' as a safetensors checkpoint"),
    (["bench", "--models", "pvt_tiny:num_clases=3", "--device", "cpu"], "has no option 'num_clases'"),
    (["bench", "--models", "pvt_tiny:compile=true", "--device", "cpu"], "compile is a setting of the run"),
    (["bench", "--models", "saga_pvt_tiny:feature_map=bad", "--device", "cpu"], "feature_map must be one of"),
    (["train", "model=pvt_tiny:dwc_kernel_size=4"], "dwc_kernel_size must be 0"),
    (["bench", "--models", ",", "--device", "cpu"], "no models given"),
    (["rank", "nothere"], "unknown model 'nothere'"),
    (["models", "--task", "segment"], "--task must be one of classify"),
    (["train", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
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
