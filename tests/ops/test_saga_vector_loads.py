"""The SAGA kernels, compiled for sm_90 on this machine (no GPU needed), read and write heads that are not a power
of two wide in vectors: one 16-bit element at a time, heads of 20 ran 4.7x slower than heads of 16 on an H200."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton.backends.nvidia.compiler", reason="Triton's CUDA compiler is not installed")

PROBE = Path(__file__).with_name("ptx_loads.py")


@pytest.mark.parametrize("head_dim,heads,layout", [
    (20, 2, "fused"), (24, 1, "fused"), (16, 2, "fused"),  # saga_llie_small and _tiny's first level, PVT's
    (8, 1, "separate"),  # token stride / ALIGN = 1, which Triton turns into a constant
])
def test_no_element_by_element_access(head_dim, heads, layout):
    """Compiles on any machine: also the check that every kernel builds for the GPU at these strides."""
    env = dict(os.environ, TRITON_INTERPRET="0")
    run = subprocess.run([sys.executable, str(PROBE), str(head_dim), str(heads), "bfloat16", layout], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    counts = json.loads(run.stdout)
    assert set(counts) == {"state", "output", "query_grad", "key_grad"}
    for kernel, widths in counts.items():
        assert any(".v2." in w or ".v4." in w for w in widths if w.startswith("ld.")), (kernel, widths)
        scalar = {w: n for w, n in widths.items() if w.endswith(".b16")}
        assert not scalar, f"{kernel} moves single bf16 elements: {scalar}"
