"""The narrow-row LayerNorm kernel (ops/norm) against F.layer_norm in float64; the dispatch and its errors.
Without CUDA the kernel runs in Triton's CPU interpreter."""
import pytest
import torch
import torch.nn.functional as F
from saga_checks import DEVICE

from saga_attention.ops.inputs import HAS_TRITON
from saga_attention.ops.norm import layer_norm

TOL = {torch.float32: 1e-5, torch.float16: 2e-3}


@pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed")
@pytest.mark.parametrize("shape", [(1, 3), (37, 24), (2, 5, 7, 40), (33, 80), (5, 160)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@torch.no_grad()
def test_kernel_matches_float64(shape, dtype):
    x = (torch.randn(shape) * 3 + 1).to(DEVICE, dtype)
    weight, bias = (torch.randn(shape[-1]).to(DEVICE, dtype) for _ in range(2))
    out = layer_norm(x, weight, bias, 1e-6, backend="triton")
    ref = F.layer_norm(x.double(), shape[-1:], weight.double(), bias.double(), 1e-6)
    assert out.shape == x.shape and out.dtype == dtype and not out.isnan().any()
    assert ((out.double() - ref).norm() / ref.norm()).item() < TOL[dtype]


@pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed")
@pytest.mark.parametrize("shape", [(1, 3), (37, 24), (2, 5, 7, 40), (33, 80)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_kernel_backward_matches_float64(shape, dtype):
    x = (torch.randn(shape) * 3 + 1).to(DEVICE, dtype).requires_grad_()
    weight, bias = ((torch.randn(shape[-1]) + 1).to(DEVICE, dtype).requires_grad_() for _ in range(2))
    grad = torch.randn(shape).to(DEVICE, dtype)
    out = layer_norm(x, weight, bias, 1e-6, backend="triton")
    got = torch.autograd.grad(out, (x, weight, bias), grad)
    leaves = [t.detach().double().requires_grad_() for t in (x, weight, bias)]
    ref = F.layer_norm(leaves[0], shape[-1:], leaves[1], leaves[2], 1e-6)
    want = torch.autograd.grad(ref, leaves, grad.double())
    for name, g, w in zip(("x", "weight", "bias"), got, want):
        assert g.shape == w.shape and g.dtype == dtype, name
        assert ((g.double() - w).norm() / w.norm()).item() < 10 * TOL[dtype], name


@pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed")
def test_auto_trains_through_pytorchs_layer_norm():
    x = torch.randn(4, 40, device=DEVICE, requires_grad=True)
    weight, bias = torch.ones(40, device=DEVICE, requires_grad=True), torch.zeros(40, device=DEVICE)
    out = layer_norm(x, weight, bias)
    out.sum().backward()
    assert x.grad is not None and weight.grad is not None
    assert "NativeLayerNorm" in type(out.grad_fn).__name__          # aten's below TRAIN_MIN_ROWS rows


@pytest.mark.parametrize("call,message", [
    (lambda: layer_norm(torch.randn(3, 8), torch.ones(7), torch.zeros(8)), r"weight must be \(8,\)"),
    (lambda: layer_norm(torch.arange(8), None, None), "floating-point"),
    (lambda: layer_norm(torch.randn(3, 8), None, None, backend="fast"), "backend"),
])
def test_bad_calls_are_value_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
