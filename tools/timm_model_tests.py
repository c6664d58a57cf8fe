"""Run timm's own model tests (its tests/test_models.py) on this package's models only.

    python3 tools/timm_model_tests.py PATH/TO/timm/tests/test_models.py [pytest options]

The test file is copied into a temporary folder beside a conftest.py that imports saga_attention.models (which
registers the models with timm) and keeps only the tests whose `model_name` is one of them, less those that do not
apply (listed in the report header: TorchScript, and the backbone feature tests for the enhancement nets). timm's
forward_intermediates tests take the model modules that FEAT_INTER_FILTERS names; this package's module is added to
that list. Needs timm, torchvision and pytest (pytest-timeout for timm's timeouts); TORCH_DEVICE=cuda runs the models
on the GPU.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

CONFTEST = '''
import saga_attention.models  # registers the models with timm
from saga_attention.models import list_models, model_config

OURS = set(list_models())
# timm's tests that do not apply to some of these models, and why (shown in the report header).
BACKBONE_TESTS = {"test_model_forward_features", "test_model_forward_intermediates",
                  "test_model_forward_intermediates_features"}
SCRIPT_TESTS = {"test_model_forward_torchscript", "test_model_forward_fx_torchscript"}
NOT_APPLICABLE = [
    (SCRIPT_TESTS, lambda name: True,
     "TorchScript (torch.jit.script is deprecated in PyTorch; the models refuse it with a clear error and "
     "support torch.jit.trace, torch.export, ONNX and FX instead)"),
    (BACKBONE_TESTS, lambda name: model_config(name).task == "enhance",
     "feature pyramids of the enhancement nets (image-to-image nets: no backbone features)"),
]


def applies(item) -> bool:
    name = item.callspec.params["model_name"]
    return not any(item.originalname in tests and taken(name) for tests, taken, _ in NOT_APPLICABLE)


def pytest_configure(config):
    for marker in ("base", "cfg", "torchscript", "features", "fxforward", "fxbackward"):
        config.addinivalue_line("markers", f"{marker}: one of timm's test groups")


def pytest_report_header(config):
    return ["timm's model tests on this package's models only; left out: "
            + "; ".join(reason for _, _, reason in NOT_APPLICABLE)]


def pytest_collection_modifyitems(config, items):
    keep = [item for item in items if getattr(item, "callspec", None)
            and item.callspec.params.get("model_name") in OURS and applies(item)]
    config.hook.pytest_deselected(items=[item for item in items if item not in keep])
    items[:] = keep
'''


def main() -> int:
    if len(sys.argv) < 2 or not Path(sys.argv[1]).is_file():
        print("timm_model_tests.py: error: give the path of timm's tests/test_models.py", file=sys.stderr)
        return 2
    source = Path(sys.argv[1]).read_text()
    marker = "FEAT_INTER_FILTERS = ["
    if marker not in source:
        print(f"timm_model_tests.py: error: {sys.argv[1]} has no {marker!r}: not timm's test_models.py?",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "conftest.py").write_text(CONFTEST)
        (Path(folder) / "test_models.py").write_text(source.replace(marker, marker + "'timm_registry', ", 1))
        paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)       # they run from the temporary folder
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(os.path.abspath(p) for p in paths if p)}
        pytest = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rfEs", *sys.argv[2:],
                                   str(Path(folder) / "test_models.py")], cwd=folder, env=env)
        try:
            return pytest.wait()
        except KeyboardInterrupt:       # pytest got the interrupt too (Ctrl-C, timeout -s INT): let it report
            return pytest.wait()


if __name__ == "__main__":
    sys.exit(main())
