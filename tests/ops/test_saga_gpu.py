"""The SAGA kernels and op on CUDA against the float64 reference (skipped without a GPU)."""
import pytest
import torch

import saga_attention as sa
from saga_attention.ops import saga_attention_reference

pytestmark = pytest.mark.gpu

KERNEL_TOL = {torch.float32: 1e-5, torch.float16: 5e-3, torch.bfloat16: 1e-2}


@pytest.fixture
def poisoned(monkeypatch):
    """Every buffer the kernels write starts as NaN, so an element they skip fails the test."""
    from saga_attention.ops.saga import launch as kernels

    monkeypatch.setattr(kernels, "_alloc", lambda like, shape, dtype=None: like.new_full(
        shape, float("nan"), dtype=dtype))


def fused_inputs(n, heads, dk, dv, dtype, batch=1):
    """q, k, v, g_k, g_v as strided slices of one (B, N, 5-way) projection, as the layers pass them."""
    widths = [heads * dk, heads * dk, heads * dv, heads * dk, heads * dv]
    fused = torch.randn(batch, n, sum(widths), device="cuda", dtype=dtype)
    q, k, v, gk, gv = (t.unflatten(-1, (heads, -1)) for t in fused.split(widths, dim=-1))
    return [q, k, v * 100, gk, gv]  # v * 100: fp16 sums of these overflow unless accumulated in fp32


def relative(x, ref):
    assert not torch.isnan(x).any()
    return ((x.double() - ref).norm() / ref.norm().clamp_min(1e-12)).item()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("n", [1, 63, 1000, 65537, 1048576])
@pytest.mark.parametrize("d", [16, 32, 64, 128])
def test_triton_kernels_match_float64(poisoned, dtype, n, d):
    inputs = [t.detach().requires_grad_() for t in fused_inputs(n, 2 if n < 65536 else 1, d, d, dtype)]
    check_triton_against_float64(inputs, KERNEL_TOL[dtype], grads=n > 1)


@pytest.mark.parametrize("dk,dv", [(48, 96), (128, 16), (24, 40)])
def test_triton_kernels_with_unequal_head_dims(poisoned, dk, dv):
    for contiguous in (False, True):
        inputs = fused_inputs(4099, 3, dk, dv, torch.bfloat16, batch=2)
        inputs = [(t.contiguous() if contiguous else t).detach().requires_grad_() for t in inputs]
        check_triton_against_float64(inputs, KERNEL_TOL[torch.bfloat16], grads=True)


def check_triton_against_float64(inputs, tol, grads):
    ref_inputs = [t.detach().double().requires_grad_() for t in inputs]
    out = sa.saga_attention(*inputs, backend="triton")
    ref = saga_attention_reference(*ref_inputs)
    assert out.dtype == inputs[0].dtype and torch.isfinite(out).all()
    assert relative(out, ref) < tol
    grad_out = torch.randn_like(out)
    out.backward(grad_out)
    ref.backward(grad_out.double())
    for name, t, r in zip(["q", "k", "v", "g_k", "g_v"], inputs, ref_inputs):
        assert t.grad is not None and torch.isfinite(t.grad).all(), name
        if grads:  # with one token y does not depend on q or k: nothing to compare in relative terms
            assert relative(t.grad, r.grad) < tol, name


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
