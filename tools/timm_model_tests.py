"""Run timm's own model tests (its tests/test_models.py) on this package's models only.

    python3 tools/timm_model_tests.py PATH/TO/timm/tests/test_models.py [pytest options]

The test file is copied into a temporary folder beside a conftest.py that imports saga_attention (which registers
the models with timm) and keeps only the tests whose `model_name` is one of them. timm's forward_intermediates
tests take the model modules that FEAT_INTER_FILTERS names; this package's module is added to that list. Needs
timm, torchvision and pytest (pytest-timeout for timm's timeouts); TORCH_DEVICE=cuda runs the models on the GPU.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

CONFTEST = '''
import saga_attention  # registers the models with timm
from saga_attention.models import list_models

OURS = set(list_models())


def pytest_collection_modifyitems(config, items):
    keep = [item for item in items
            if getattr(item, "callspec", None) and item.callspec.params.get("model_name") in OURS]
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
        return subprocess.call([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rfEs", *sys.argv[2:],
                                str(Path(folder) / "test_models.py")], cwd=folder, env=env)


if __name__ == "__main__":
    sys.exit(main())
