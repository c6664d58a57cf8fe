"""CUDA checks of the torch backend and the models (skipped without a GPU)."""
import pytest
import torch

import saga_attention as sa
from saga_attention.ops import saga_attention_reference

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float16, 1e-2), (torch.bfloat16, 2e-2)])
@pytest.mark.parametrize("n", [1, 1000, 65537])
def test_op_on_cuda_matches_float64(dtype, tol, n):
    shapes = [(2, n, 2, 64), (2, n, 2, 64), (2, n, 2, 48), (2, n, 2, 64), (2, n, 2, 48)]
    inputs = [torch.randn(s, device="cuda", dtype=dtype) for s in shapes]
    inputs[2] = inputs[2] * 100  # sums of fp16 values this large overflow unless accumulated in fp32
    out = sa.saga_attention(*inputs)
    ref = saga_attention_reference(*[t.double().cpu() for t in inputs])
    assert out.dtype == dtype and torch.isfinite(out).all()
    err = ((out.double().cpu() - ref).norm() / ref.norm()).item()
    assert err < tol


@pytest.mark.parametrize("name", ["pvt_tiny", "saga_pvt_tiny", "linear_pvt_tiny", "focused_pvt_tiny"])
def test_models_train_on_cuda_in_bf16(name):
    model = sa.create_model(name, num_classes=10).cuda()
    x = torch.randn(2, 3, 256, 320, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(x).float().logsumexp(-1).mean()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_timm_registration():
    timm = pytest.importorskip("timm")
    model = timm.create_model("saga_pvt_tiny", num_classes=7)
    assert model(torch.randn(1, 3, 224, 224)).shape == (1, 7)
    with pytest.raises(ValueError, match="no pretrained weights"):
        timm.create_model("saga_pvt_tiny", pretrained=True)
