"""The `saga` command, end to end on CPU."""
import json
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from saga_attention.cli import main

LOADED = "import sys; {}; print(*(m in sys.modules for m in ('torch', 'matplotlib', 'triton')))"


@pytest.mark.parametrize("statement", [
    "import saga_attention",
    "from saga_attention.cli import build_parser; p = build_parser()",
])
def test_the_package_and_the_command_line_import_light(statement):
    """`import saga_attention` and the command line's parser load neither torch, matplotlib nor triton."""
    done = subprocess.run([sys.executable, "-c", LOADED.format(statement)], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "False", "False"], done.stderr


@pytest.mark.parametrize("command", ["--help", "models --help", "bench --help", "report --help", "demo --help",
                                     "train --help", "eval --help", "enhance --help", "rank --help", "cache --help"])
def test_help_answers_without_torch(command):
    code = ("import sys; from saga_attention.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n"
            "    pass\nprint('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, *command.split()], capture_output=True, text=True, timeout=60)
    assert "usage: saga" in done.stdout and done.stdout.split()[-1] == "False"


def test_models(capsys):
    assert main(["models", "pvt_t*"]) == 0
    out = capsys.readouterr().out
    assert "pvt_tiny" in out and "13.23" in out and "saga_pvt_tiny" not in out


def test_models_without_match(capsys):
    assert main(["models", "vit_*"]) == 2
    assert "no model matches 'vit_*'" in capsys.readouterr().err


def test_bench_writes_records_table_and_plot(tmp_path):
    """saga bench --models pvt_tiny,saga_pvt_tiny --res 224,448 --device cpu --json out.json"""
    out = tmp_path / "out.json"
    argv = ["bench", "--models", "pvt_tiny,saga_pvt_tiny", "--res", "224,448", "--device", "cpu", "--json", str(out)]
    assert main(argv) == 0
    data = json.loads(out.read_text())
    assert data["command"].startswith("saga bench --models pvt_tiny,saga_pvt_tiny")
    assert data["environment"]["torch"].startswith("2.")
    records = data["records"]
    assert [(r["model"], r["res"]) for r in records] == [
        ("pvt_tiny", "224x224"), ("saga_pvt_tiny", "224x224"), ("pvt_tiny", "448x448"), ("saga_pvt_tiny", "448x448")]
    for r in records:
        assert r["status"] == "ok" and r["img_per_s"] > 0 and r["peak_mem_mib"] is not None
        assert r["device"] == "cpu" and r["dtype"] == "fp32" and r["mode"] == "inference"
    assert "| saga_pvt_tiny |" in out.with_suffix(".md").read_text()
    assert out.with_suffix(".png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "argv,message",
    [
        (["bench", "--models", "pvt_tinny", "--device", "cpu"], "unknown model 'pvt_tinny'; did you mean pvt_tiny"),
        (["bench", "--res", "22x", "--device", "cpu"], "resolution must be N or HxW"),
        (["bench", "--dtype", "int8", "--device", "cpu"], "dtype must be one of"),
    ],
)
def test_bad_bench_arguments(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir()), "a rejected command must leave no output folder behind"


def test_cuda_without_gpu_is_a_clear_error(capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert main(["bench", "--device", "cuda"]) == 2
    assert "torch sees no CUDA GPU; use --device cpu" in capsys.readouterr().err


def test_demo(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SAGA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("saga_attention.demo.DEMO_TRAINING", ["data=match", "img_size=64", "train_size=32",
                                                              "val_size=16", "batch_size=16", "workers=0",
                                                              "resumable=false"])
    monkeypatch.setattr("saga_attention.demo.DEMO_ENHANCE_RESOLUTIONS", ("64x96",))
    assert main(["demo", "--out", str(tmp_path / "runs"), "--device", "cpu", "--res", "64,128", "--repeats", "1",
                 "--train-epochs", "1"]) == 0
    run = tmp_path / "runs"                       # --out is the demo's own folder
    assert {"report.md", "decomposition.json", "bench.json", "bench.md", "bench.png"} <= {p.name for p in run.iterdir()}
    dec = json.loads((run / "decomposition.json").read_text())
    assert dec["relative_error"] < 1e-5 and dec["tokens"] == 1024
    assert dec["materialized"]["peak_mem_mib"] > dec["decomposed"]["peak_mem_mib"]
    report = (run / "report.md").read_text()
    assert "Relative error between the two" in report and "| saga_pvt_tiny |" in report
    assert {"enhance.png", "enhance-bench.json", "enhance-bench.md"} <= {p.name for p in run.iterdir()}
    darkened, enhanced = re.findall(r"\| (?:darkened input|enhanced) \| ([\d.]+) dB \| ([\d.]+) \|", report)
    assert float(enhanced[0]) > float(darkened[0]) + 3          # the shipped weights brighten the held-out photo
    assert "| retinexformer |" in report and "64x96" in report
    before, after = np.split(np.asarray(Image.open(run / "enhance.png"), dtype=float) / 255, 2, axis=1)
    assert before.mean() < 0.25 < after.mean() < 0.85         # dark | brightened, not blown out
    assert "## 3. A short training run" in report and "| linear_pvt_tiny | " in report
    assert "chance (" in report and "fraction" not in report
    assert not (run / "train-saga_pvt_tiny" / "last.safetensors").exists()      # the demo never resumes
    assert (run / "rank" / "rank.png").exists() and (run / "train-saga_pvt_tiny" / "curves.png").exists()
    assert str(run / "report.md") in capsys.readouterr().out


def test_console_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "saga_attention.cli", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and "saga-attention 0.1.0" in done.stdout


def test_report_renders_saved_runs_again(tmp_path, capsys):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["bench", "--models", "pvt_tiny", "--res", "64", "--device", "cpu", "--repeats", "1",
                 "--json", str(first)]) == 0
    assert main(["bench", "--models", "saga_pvt_tiny", "--res", "64", "--device", "cpu", "--repeats", "1",
                 "--json", str(second)]) == 0
    assert main(["report", str(first), str(second), "--out", str(tmp_path / "both")]) == 0
    table = (tmp_path / "both" / "report.md").read_text()
    assert "| pvt_tiny |" in table and "| saga_pvt_tiny |" in table and "Ratios to pvt_tiny" in table
    assert "x speed, " in table and "memory (†)" in table and "were not measured side by side" in table
    assert (tmp_path / "both" / "report.png").stat().st_size > 10_000
    assert main(["report", str(first)]) == 0                 # one run: no ratio is marked
    assert "(†)" not in first.with_suffix(".md").read_text()
    (tmp_path / "broken.json").write_text("{not json")
    assert main(["report", str(tmp_path / "broken.json")]) == 2
    assert "is not a benchmark JSON written by saga bench" in capsys.readouterr().err


def test_models_of_a_task(capsys):
    assert main(["models", "--task", "classify", "saga_pvt_t*"]) == 0
    out = capsys.readouterr().out
    assert "saga_pvt_tiny" in out and "classify" in out
    assert not any(line.startswith("pvt_tiny") for line in out.splitlines())


def test_models_say_which_ship_weights(capsys):
    assert main(["models", "--task", "enhance", "saga_llie_*"]) == 0
    rows = {line.split()[0]: line.split()[-1] for line in capsys.readouterr().out.splitlines()[1:3]}
    assert rows == {"saga_llie_small": "shipped", "saga_llie_tiny": "shipped"}
    assert main(["models", "retinexformer"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[-1] == "-"


def test_cache_shows_and_clears(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SAGA_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "match-val.safetensors").write_bytes(b"x" * 2048)
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "cache") in out and "1 file(s), 2.0 KB" in out and "match-val.safetensors" in out
    assert main(["cache", "--clear"]) == 0
    assert "removed 1 file(s), 2.0 KB" in capsys.readouterr().out and not (tmp_path / "cache").exists()


def test_the_demo_says_whether_training_left_chance():
    from saga_attention.demo import chance_verdict
    assert chance_verdict(27.0, 25.0, 250).startswith("not distinguishable from chance")   # 2 s.e. = 5.5 points
    assert chance_verdict(40.0, 25.0, 250).startswith("above chance")


def _help_examples() -> list[str]:
    from saga_attention.cli import _subparsers, build_parser

    examples = []
    for sub in _subparsers(build_parser()).values():
        text = sub.format_help()
        if "examples:" in text:
            examples += [line.strip() for line in text.split("examples:", 1)[1].splitlines()
                         if line.startswith("  saga ")]
    return examples


@pytest.mark.parametrize("example", _help_examples())
def test_every_example_in_the_help_runs(example, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SAGA_CACHE", str(tmp_path / "cache"))
    assert main(shlex.split(example)[1:]) == 0


def test_the_help_has_examples_and_the_convention():
    from saga_attention.cli import build_parser

    assert len(_help_examples()) >= 8
    assert "--name value, or name=value" in build_parser().format_help()


def test_options_and_settings_take_both_spellings(capsys, tmp_path):
    assert main(["train", "--device", "cpu", "--epochs=7", "--print-config", "lr=1e-3", "--grad-checkpointing"]) == 0
    out = capsys.readouterr().out
    assert "device: cpu" in out and "epochs: 7" in out and "lr: 0.001" in out and "grad_checkpointing: true" in out
    assert main(["train", "--model", "saga_pvt_tiny:gate_bias_init=2", "print_config=true"]) == 0
    assert "model: saga_pvt_tiny:gate_bias_init=2.0" in capsys.readouterr().out
    json_path = tmp_path / "b.json"
    assert main(["bench", "model=pvt_tiny", "res=64", "device=cpu", "repeats=1", "warmup=0", f"json={json_path}"]) == 0
    assert json.loads(json_path.read_text())["records"][0]["model"] == "pvt_tiny"

