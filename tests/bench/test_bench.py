"""Measurement, sweeps and reports."""
import json
import time

import numpy as np
import pytest
import torch

from saga_attention.bench import runner
from saga_attention.bench.flops import model_stats
from saga_attention.bench.report import markdown, plot, write_json
from saga_attention.bench.runner import bench_one, parse_bench_entry, parse_resolution, run_sweep
from saga_attention.measure import peak_memory_mib, time_ms

CPU = torch.device("cpu")


@pytest.mark.parametrize("text,hw", [("224", (224, 224)), (448, (448, 448)), ("256x320", (256, 320))])
def test_parse_resolution(text, hw):
    assert parse_resolution(text) == hw


@pytest.mark.parametrize("text", ["22x", "0", "abc", "1x2x3", "-32"])
def test_bad_resolution(text):
    with pytest.raises(ValueError, match="resolution must be N or HxW"):
        parse_resolution(text)


def test_bench_entries_keep_runner_settings_out_of_the_model_spec():
    spec, runner = parse_bench_entry("saga_pvt_tiny:gate_bias_init=2.5,value_gate=false@compile")
    assert (spec.name, dict(spec.options), runner) == ("saga_pvt_tiny", {"gate_bias_init": 2.5,
                                                                         "value_gate": False}, "compile")
    assert parse_bench_entry("pvt_tiny")[1] is None
    assert parse_bench_entry("pvt_tiny@reduce-overhead")[1] == "reduce-overhead"
    with pytest.raises(ValueError, match="compile is a setting of the run, not an option of model pvt_tiny"):
        parse_bench_entry("pvt_tiny:compile=true")
    with pytest.raises(ValueError, match="after '@' a bench entry takes compile or reduce-overhead"):
        parse_bench_entry("pvt_tiny@fast")
    with pytest.raises(ValueError, match="unknown model 'pvt_tinny'"):
        parse_bench_entry("pvt_tinny")


def test_time_ms_is_the_median_of_the_timed_runs():
    durations = iter([0.040, 0.002, 0.030, 0.006, 0.050, 0.004])  # the first is the warm-up
    ms = time_ms(lambda: time.sleep(next(durations)), CPU, warmup=1, repeats=5)
    assert 5.5 < ms < 15  # median of 2, 30, 6, 50, 4 ms; the mean (18.4) or any one run would miss


def test_cpu_peak_memory_sees_a_large_allocation():
    def allocate():
        a = np.ones(200 * 2**20 // 8)  # 200 MiB, touched
        return a.sum()

    grown, method = peak_memory_mib(allocate, CPU)
    assert "peak_rss_growth" in method
    assert 150 < grown < 400
    idle, _ = peak_memory_mib(lambda: None, CPU)
    assert idle < 50


def test_bench_one_record():
    r = bench_one("saga_pvt_tiny", (64, 96), 2, "fp32", CPU, "train", warmup=0, repeats=2)
    assert r["status"] == "ok", r
    for key in ("model", "res", "batch", "dtype", "device", "mode", "img_per_s", "ms", "peak_mem_mib", "status",
                "torch", "device_name"):
        assert key in r
    assert r["res"] == "64x96" and r["params_m"] == pytest.approx(12.922, abs=1e-3)
    assert r["img_per_s"] == pytest.approx(2e3 / r["ms"], rel=1e-3)


def test_out_of_memory_is_a_result_and_the_sweep_goes_on(monkeypatch):
    real = runner.create_model

    class Exhausted(torch.nn.Module):
        num_classes = 10

        def forward(self, x):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 40.00 GiB")

    fake = lambda spec, **kw: Exhausted() if str(spec) == "pvt_large" else real(spec, **kw)  # noqa: E731
    monkeypatch.setattr(runner, "create_model", fake)
    records = run_sweep(["pvt_large", "pvt_tiny"], [64], [1], ["fp32"], "cpu", ["inference"], warmup=0, repeats=1,
                        progress=False)
    assert [r["status"] for r in records] == ["oom", "ok"]
    assert records[0]["img_per_s"] is None and "oom" in markdown(records)


def test_failure_is_recorded_with_its_message():
    r = bench_one("pvt_tiny", (100, 100), 1, "fp32", CPU, "inference", warmup=0, repeats=1)
    assert r["status"] == "error" and "multiples of 32" in r["error"]


def test_sweep_rejects_bad_arguments_before_running():
    with pytest.raises(ValueError, match="mode must be one of"):
        run_sweep(["pvt_tiny"], [64], [1], ["fp32"], "cpu", ["training"])
    with pytest.raises(ValueError, match="dtype must be one of"):
        run_sweep(["pvt_tiny"], [64], [1], ["float32"], "cpu", ["inference"])
    with pytest.raises(ValueError, match="batch sizes must be positive integers; got \\[0\\]"):
        run_sweep(["pvt_tiny"], [64], [0], ["fp32"], "cpu", ["inference"])


def test_reports(tmp_path):
    records = run_sweep(["pvt_tiny", "saga_pvt_tiny"], [64, 128], [1], ["fp32"], "cpu", ["inference"], warmup=0,
                        repeats=1, progress=False)
    table = markdown(records)
    assert "| pvt_tiny |" in table and "| saga_pvt_tiny |" in table and "Ratios to pvt_tiny" in table
    base, saga = records[0], records[1]
    assert f"{saga['img_per_s'] / base['img_per_s']:.2f}x speed" in table
    png = plot(records, tmp_path / "p.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    data = json.loads(write_json(tmp_path / "r.json", records, {"torch": "x"}, "saga bench").read_text())
    assert data["records"] == records and data["command"] == "saga bench"


def test_model_stats_match_the_pvt_paper():
    stats = model_stats("pvt_tiny")
    assert stats["params_m"] == pytest.approx(13.2, rel=0.01)
    assert stats["gmacs"] == pytest.approx(1.9, rel=0.03)  # PVT paper, Table 1: 1.9 GFLOPs (multiply-adds)


def test_image_models_train_against_an_image_and_a_cell_past_its_time_limit_is_a_result():
    records = run_sweep(["saga_llie_tiny"], ["24x40"], [1], ["fp32"], "cpu", ["train", "inference"], warmup=0,
                        repeats=1, progress=False)
    assert [r["status"] for r in records] == ["ok", "ok"] and all(r["ms"] > 0 for r in records)
    late = runner.bench_limited(0.2, "saga_llie_tiny", (24, 40), 1, "fp32", torch.device("cpu"), "inference", 0, 1)
    assert late["status"] == "time_limit" and late["res"] == "24x40" and late["ms"] is None
    done = runner.bench_limited(120, "saga_llie_tiny", (24, 40), 1, "fp32", torch.device("cpu"), "inference", 0, 1)
    assert done["status"] == "ok" and done["model"] == "saga_llie_tiny"
