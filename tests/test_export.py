"""The models in the tools users have: ONNX (both exporters, checked with onnxruntime), `saga export`,
torch.jit.trace, torch.export with dynamic height and width, torch.fx.symbolic_trace, and fvcore's FLOP count."""
import logging
import warnings

import numpy as np
import pytest
import torch

from saga_attention.bench.flops import model_stats
from saga_attention.cli import main
from saga_attention.export import export_onnx
from saga_attention.models import create_model

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
MODELS = ["saga_pvt_tiny", "saga_llie_tiny", "saga_llie_small"]
SIZES = {"saga_pvt_tiny": [(224, 224), (96, 160)], "saga_llie_tiny": [(100, 150), (37, 61), (1, 1)],
         "saga_llie_small": [(100, 150), (37, 61), (1, 1)]}


@pytest.fixture(autouse=True)
def quiet():
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _model(name):
    return create_model(name, pretrained=name != "saga_pvt_tiny").eval()


def _agree(path, model, sizes, batch=2):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for h, w in sizes:
        x = torch.rand(batch, 3, h, w, generator=torch.Generator().manual_seed(h * w))
        with torch.no_grad():
            want = model(x).numpy()
        got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-4 * max(1.0, np.abs(want).max()), (h, w)


@pytest.mark.parametrize("name", MODELS)
def test_the_dynamo_export_runs_in_onnxruntime_at_every_size(name, tmp_path):
    model = _model(name)
    info = export_onnx(model, tmp_path / "m.onnx")
    assert info["max_relative_error"] <= 1e-4 and sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    _agree(tmp_path / "m.onnx", model, SIZES[name])


def test_the_torchscript_exporter_gives_any_size_for_the_enhancement_nets(tmp_path):
    model = _model("saga_llie_tiny")
    torch.onnx.export(model, (torch.rand(2, 3, 100, 150),), str(tmp_path / "ts.onnx"), dynamo=False,
                      input_names=["image"], dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"}})
    _agree(tmp_path / "ts.onnx", model, SIZES["saga_llie_tiny"])


def test_the_torchscript_exporter_gives_the_backbone_at_its_size(tmp_path):
    model = _model("saga_pvt_tiny")
    torch.onnx.export(model, (torch.rand(1, 3, 224, 224),), str(tmp_path / "ts.onnx"), dynamo=False)
    _agree(tmp_path / "ts.onnx", model, [(224, 224)], batch=1)


def test_backbone_sizes_that_are_not_multiples_of_32_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="positive multiples of 32; got 100x150"):
        export_onnx("saga_pvt_tiny", tmp_path / "m.onnx", size=(100, 150))
    with pytest.raises(ValueError, match=r"input height and width must be positive multiples of 32"):
        _model("saga_pvt_tiny")(torch.rand(1, 3, 100, 150))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", MODELS)
def test_jit_trace_and_dynamic_torch_export(name):
    model = _model(name)
    (h, w), (h2, w2) = SIZES[name][:2]
    x, other = torch.rand(2, 3, h, w), torch.rand(2, 3, h2, w2)
    with torch.no_grad():
        traced = torch.jit.trace(model, x, check_trace=False)
        assert torch.allclose(traced(x), model(x), atol=1e-5)
        program = torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim.AUTO, 2: torch.export.Dim.AUTO,
                                                                    3: torch.export.Dim.AUTO},), strict=False)
        assert torch.allclose(program.module()(other), model(other), atol=1e-5)


@pytest.mark.parametrize("name", [*MODELS, "retinexformer", "llie_window_tiny"])
def test_fx_symbolic_trace_gives_a_graph_for_any_size_that_keeps_the_input_checks(name):
    model = create_model(name).eval()
    graph = torch.fx.symbolic_trace(model)
    sizes = SIZES.get(name, SIZES["saga_llie_tiny"])
    with torch.no_grad():
        for h, w in sizes[:2]:
            x = torch.rand(2, 3, h, w)
            assert torch.equal(graph(x), model(x)), (h, w)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        graph(torch.rand(2, 4, 64, 64))


@pytest.mark.parametrize("name", MODELS)
def test_fvcore_counts_the_multiply_adds_that_saga_models_reports(name):
    fvcore = pytest.importorskip("fvcore.nn")
    count = fvcore.FlopCountAnalysis(create_model(name).eval(), torch.rand(1, 3, 224, 224))
    assert count.total() / 1e9 == pytest.approx(model_stats(name)["gmacs"], rel=0.02)
    # what fvcore leaves out by design: element-wise ops, whose cost saga models' count includes
    assert set(count.unsupported_ops()) <= {"aten::unflatten", "aten::add", "aten::sigmoid", "aten::mul", "aten::sum",
                                            "aten::div", "aten::gelu", "aten::mean", "aten::neg", "aten::sub",
                                            "aten::index_select",
                                            "aten::avg_pool2d", "aten::amax", "aten::clamp_min", "aten::le",
                                            "aten::pow", "aten::where", "aten::log", "aten::reciprocal",
                                            "aten::softmax"}   # the enhancement nets' input views and their blend


def test_saga_export_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys):
    cases = [(["nosuch", "--onnx", str(tmp_path / "a.onnx")], "unknown model 'nosuch'"),
             (["saga_pvt_tiny", "--onnx", str(tmp_path / "a.onnx"), "--size", "100"], "multiples of 32"),
             (["saga_pvt_tiny", "--onnx", str(tmp_path / "a.txt")], "must end in .onnx"),
             (["--onnx", str(tmp_path / "a.onnx")], "give the model to export"),
             (["saga_pvt_tiny", "--onnx", str(tmp_path / "no" / "a.onnx")], "does not exist"),
             (["x.safetensors", "--onnx", str(tmp_path / "a.onnx")], "does not exist")]
    for args, message in cases:
        assert main(["export", *args]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["saga_pvt_tiny", "saga_llie_tiny", "retinexformer"])
def test_torch_jit_script_is_refused_with_what_to_use_instead(name):
    with pytest.raises(TypeError, match="cannot be scripted with torch.jit.script.*use torch.jit.trace"):
        torch.jit.script(create_model(name))
