"""The narrow-row LayerNorm kernel on CUDA: where `auto` takes it, and its backward in float64 (skipped without a
GPU)."""
import pytest
import torch

import saga_attention as sa
from saga_attention.ops.norm import TRAIN_MIN_ROWS

pytestmark = pytest.mark.gpu


def relative(x, ref):
    assert not torch.isnan(x).any()
    return ((x.double() - ref).norm() / ref.norm().clamp_min(1e-12)).item()


def test_pvt_norms_take_the_kernel_in_inference(monkeypatch):
    norm = sa.layers.LayerNorm(64, eps=1e-6).cuda()
    torch.nn.init.normal_(norm.weight), torch.nn.init.normal_(norm.bias)
    x = torch.randn(4, 1000, 64, device="cuda", dtype=torch.bfloat16) * 3 + 1
    from saga_attention.ops.norm import kernels as norm_kernels

    calls, kernel = [], norm_kernels.layer_norm_triton
    monkeypatch.setattr(norm_kernels, "layer_norm_triton", lambda *args: calls.append(1) or kernel(*args))
    with torch.no_grad():
        ref = torch.nn.functional.layer_norm(x.float(), (64,), norm.weight, norm.bias, 1e-6)
        assert relative(norm.bfloat16()(x), ref.double()) < 1e-2
    assert calls == [1]


@pytest.mark.parametrize("rows,kernel", [(1000, False), (TRAIN_MIN_ROWS, True)])
def test_layer_norm_auto_trains_through_the_kernel_only_on_large_norms(rows, kernel):
    norm = sa.layers.LayerNorm(64, eps=1e-6).cuda()
    x = torch.randn(1, rows, 64, device="cuda", requires_grad=True)
    out = norm(x)
    assert ("NativeLayerNorm" not in type(out.grad_fn).__name__) == kernel, type(out.grad_fn).__name__
    out.sum().backward()
    assert x.grad is not None and norm.weight.grad is not None


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_layer_norm_kernel_backward_matches_aten_in_float64(dtype):
    # the opt-in training path of layers.LayerNorm (backend "triton"): PVT-T stage 1's width, many programs
    norm = sa.layers.LayerNorm(64, eps=1e-6).cuda()
    torch.nn.init.normal_(norm.weight), torch.nn.init.normal_(norm.bias)
    norm.backend = "triton"
    x = (torch.randn(4, 10007, 64, device="cuda") * 3 + 1).to(dtype).requires_grad_()
    grad = torch.randn(4, 10007, 64, device="cuda").to(dtype)
    got = torch.autograd.grad(norm.to(dtype)(x), (x, norm.weight, norm.bias), grad)
    leaves = [t.detach().double().requires_grad_() for t in (x, norm.weight, norm.bias)]
    ref = torch.nn.functional.layer_norm(leaves[0], (64,), leaves[1], leaves[2], 1e-6)
    want = torch.autograd.grad(ref, leaves, grad.double())
    for g, w in zip(got, want):
        assert relative(g, w) < {torch.float32: 1e-4, torch.bfloat16: 1e-1}[dtype]
