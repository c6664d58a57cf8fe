"""ONNX export of any registered model: batch, height and width stay dynamic in the file (for the PVT backbones,
multiples of 32; for the low-light nets, any size, the padding to the net's multiple inside the graph), and the
file is checked against PyTorch with onnxruntime at two sizes before it is put in place.

    info = export_onnx("saga_llie_tiny", "saga_llie_tiny.onnx")     # the shipped weights
    info = export_onnx(model, "mine.onnx", size=(256, 256))          # any nn.Module built by create_model

The export goes through torch.export (PyTorch's dynamo exporter) and needs the packages onnx and onnxscript;
the check needs onnxruntime.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .models import check_input_size, create_model, load_checkpoint, model_config, parse_model_spec
from .models.registry import shipped_models

OPSET = 18
TOLERANCE = 1e-4           # largest |onnxruntime - PyTorch|, relative to the largest |PyTorch| output (at least 1)
ENHANCE_EXAMPLE = (100, 150)


def load_for_export(source: str) -> tuple[nn.Module, str]:
    """(model in eval mode, what its weights are) from a model name or spec (its shipped weights, else fresh
    ones), a .safetensors file this package wrote, or a run folder of saga train."""
    path = Path(source)
    if path.is_dir() or path.suffix == ".safetensors" or path.is_file():
        from .train.engine import eval_setup

        weights, config = eval_setup(source, [])
        model = load_checkpoint(create_model(parse_model_spec(config.engine.model)), weights)
        return model.eval(), f"weights {weights}"
    if path.suffix or len(path.parts) > 1:
        raise ValueError(f"{source!r} does not exist; give a model name (saga models), a .safetensors file or a "
                         "run folder of saga train")
    spec = parse_model_spec(source)
    shipped = spec.name in shipped_models()
    return create_model(spec, pretrained=shipped).eval(), "shipped weights" if shipped else "fresh weights"


def _needs(module: str, purpose: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise ValueError(f"{purpose} needs the package {module}: pip install onnx onnxscript onnxruntime")


def _example_size(model: nn.Module, size: tuple[int, int] | None) -> tuple[int, int]:
    name = model.model_name
    if size is None:
        config = model_config(name)
        size = ENHANCE_EXAMPLE if config.task == "enhance" else (config.img_size, config.img_size)
    check_input_size(name, *size)
    return size


def _dynamic_shapes(model: nn.Module) -> tuple[dict, ...]:
    """Batch, height and width dynamic; sides of strided backbones as stride * k."""
    stride = model_config(model.model_name).stride
    if stride == 1:
        auto = torch.export.Dim.AUTO
        return ({0: auto, 2: auto, 3: auto},)
    return ({0: torch.export.Dim.AUTO, 2: stride * torch.export.Dim("h", min=1, max=1024),
             3: stride * torch.export.Dim("w", min=1, max=1024)},)


def check_onnx(path: str | os.PathLike, model: nn.Module, sizes: list[tuple[int, int, int]]) -> float:
    """Largest |onnxruntime - PyTorch| over inputs of (batch, height, width) `sizes`, relative to the largest
    |PyTorch| output (at least 1)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    worst = 0.0
    for i, (b, h, w) in enumerate(sizes):
        x = torch.rand(b, 3, h, w, generator=torch.Generator().manual_seed(i))
        with torch.no_grad():
            want = model(x).numpy()
        got = session.run(None, {name: x.numpy()})[0]
        if got.shape != want.shape:
            raise ValueError(f"the exported file gives {got.shape} at {b}x3x{h}x{w}, PyTorch {want.shape}")
        worst = max(worst, float(np.abs(got - want).max() / max(1.0, np.abs(want).max())))
    return worst


def export_onnx(model: str | nn.Module, path: str | os.PathLike, size: tuple[int, int] | None = None,
                check: bool = True) -> dict:
    """Write `model` (a name, file or run folder as load_for_export takes, or a registered model) to `path` as
    ONNX with dynamic batch, height and width, traced at an example of (height, width) = `size` (default: the
    model's input size; 100x150 for the low-light nets). With `check`, onnxruntime must agree with PyTorch to
    TOLERANCE at the example size and at another one, or nothing is written. Returns what was done."""
    _needs("onnxscript", "ONNX export")
    _needs("onnx", "ONNX export")
    if check:
        _needs("onnxruntime", "checking the exported file (check=False skips it)")
    weights = "the given module"
    if isinstance(model, str):
        model, weights = load_for_export(model)
    if not hasattr(model, "model_name"):
        raise ValueError("export_onnx takes a model built by create_model (it needs the model's registered name)")
    model = model.eval().cpu().float()
    h, w = _example_size(model, size)
    stride = model_config(model.model_name).stride
    path = Path(path)
    if path.suffix != ".onnx":
        raise ValueError(f"the output file must end in .onnx; got {str(path)!r}")
    if not path.parent.is_dir():
        raise ValueError(f"the folder of {str(path)!r} does not exist")
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent, prefix=f".{path.stem}-")
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.getLogger("torch.onnx").setLevel(logging.ERROR)     # notes on ops of packages not installed
            program = torch.onnx.export(model, (torch.rand(2, 3, h, w),), dynamo=True, opset_version=OPSET,
                                        dynamic_shapes=_dynamic_shapes(model), verbose=False)
        program.save(tmp, external_data=False)
        other = (h + stride, w + 2 * stride) if stride > 1 else (h + 3, w + 5)
        error = check_onnx(tmp, model, [(2, h, w), (1, *other)]) if check else None
        if error is not None and error > TOLERANCE:
            raise ValueError(f"onnxruntime differs from PyTorch by {error:.2e} (relative), more than {TOLERANCE:g}; "
                             "nothing written")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return {"model": model.model_name, "weights": weights, "file": str(path), "bytes": path.stat().st_size,
            "example": [h, w], "sides": f"multiples of {stride}" if stride > 1 else "any",
            "max_relative_error": error}
