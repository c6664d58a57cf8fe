"""The GELU gate of the gated feed-forward (ops/mlp gelu_gate): the kernel against float64, the dispatch, the
errors. Without CUDA the kernel runs in Triton's CPU interpreter."""
import pytest
import torch
import torch.nn.functional as F
from saga_checks import DEVICE

from saga_attention.models.llie import GatedFeedForward
from saga_attention.ops.inputs import HAS_TRITON
from saga_attention.ops.mlp import gelu_gate

TOL = {torch.float32: 1e-6, torch.float16: 2e-3}
needs_triton = pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed")


def float64_gate(x):
    a, b = x.double().chunk(2, dim=-1)
    return 0.5 * a * (1 + torch.erf(a / 2 ** 0.5)) * b


@needs_triton
@pytest.mark.parametrize("shape", [(1, 2), (37, 48), (2, 5, 7, 160), (3, 200)])  # Hid 1, 24, 80, 100
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@torch.no_grad()
def test_kernel_matches_float64(shape, dtype):
    x = (torch.randn(shape) * 2).to(DEVICE, dtype)
    out = gelu_gate(x, backend="triton")
    ref = float64_gate(x)
    assert out.shape == (*shape[:-1], shape[-1] // 2) and out.dtype == dtype and out.is_contiguous()
    assert ((out.double() - ref).norm() / ref.norm()).item() < TOL[dtype]


@needs_triton
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@torch.no_grad()
def test_bias_is_added_on_the_way(dtype):
    x, bias = torch.randn(2, 7, 96).to(DEVICE, dtype), torch.randn(96).to(DEVICE)
    out = gelu_gate(x, bias, backend="triton")
    ref = float64_gate(x.double() + bias.double())
    assert ((out.double() - ref).norm() / ref.norm()).item() < TOL[dtype]
    assert torch.allclose(gelu_gate(x.float(), bias, backend="torch").double(), ref, atol=1e-4)


@needs_triton
@torch.no_grad()
def test_channels_last_map_in_place():
    """The feed-forward's use: the channels of a channels-last map (B, 2 Hid, H, W), read without a copy."""
    x = torch.randn(2, 160, 9, 11).to(DEVICE).contiguous(memory_format=torch.channels_last)
    out = gelu_gate(x.permute(0, 2, 3, 1), backend="triton").permute(0, 3, 1, 2)
    assert out.is_contiguous(memory_format=torch.channels_last)
    ref = F.gelu(x[:, :80]) * x[:, 80:]
    assert torch.allclose(out, ref, atol=1e-5)


@needs_triton
def test_training_takes_pytorchs_ops_and_their_gradients():
    x = torch.randn(4, 48, device=DEVICE, requires_grad=True)
    gelu_gate(x).square().sum().backward()
    ref = x.detach().cpu().double().requires_grad_()
    float64_gate(ref).square().sum().backward()
    assert torch.allclose(x.grad.cpu().double(), ref.grad, atol=1e-5)
    with pytest.raises(ValueError, match="no backward"):
        gelu_gate(x, backend="triton")


@pytest.mark.parametrize("kernel", [False, True])
def test_feed_forward_is_the_same_either_way(monkeypatch, kernel):
    """With the kernel (which takes the depth-wise conv's bias) and without, as Restormer's GDFN computes it."""
    import saga_attention.models.llie as llie

    if kernel and not HAS_TRITON:
        pytest.skip("triton is not installed")
    monkeypatch.setattr(llie, "gelu_gate_backend", lambda *a: "triton" if kernel else "torch")
    ffn = GatedFeedForward(24, 40).to(DEVICE).eval()
    torch.nn.init.normal_(ffn.dw.bias)
    x = torch.randn(1, 24, 12, 10, device=DEVICE).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        out = ffn(x)
        h = ffn.dw(ffn.inp(x))
        plain = ffn.out(F.gelu(h[:, :40]) * h[:, 40:])
    assert torch.allclose(out, plain, atol=1e-5)


@pytest.mark.parametrize("call,message", [
    (lambda: gelu_gate(torch.randn(3, 7)), "even last dim"),
    (lambda: gelu_gate(torch.arange(8)), "floating-point"),
    (lambda: gelu_gate([1.0, 2.0]), "list"),
    (lambda: gelu_gate(torch.randn(3, 8), backend="fast"), "backend"),
    (lambda: gelu_gate(torch.randn(3, 8), torch.zeros(4)), r"bias must be \(8,\)"),
])
def test_bad_calls_say_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message):
        call()
