"""The fused LayerNorm + MLP op: Triton kernel and chunked PyTorch path against the unfused reference,
forward and backward, at non-power-of-two sizes (the kernel runs in Triton's CPU interpreter without CUDA)."""
import pytest
import torch
from saga_checks import DEVICE, rel_err

from saga_attention.layers.blocks import Block
from saga_attention.ops.inputs import HAS_TRITON
from saga_attention.ops.mlp import norm_mlp, norm_mlp_reference
from saga_attention.ops.mlp import reference as mlp_reference

needs_triton = pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed")


def make_mlp(tokens_shape, channels, hidden, dtype=torch.float32):
    """x (..., C) and [norm weight, norm bias, eps, fc1 weight, fc1 bias, fc2 weight, fc2 bias]."""
    x = torch.randn(*tokens_shape, channels, dtype=dtype) * 2 + 0.5
    weights = [1 + 0.3 * torch.randn(channels), 0.1 * torch.randn(channels), 1e-6,
               torch.randn(hidden, channels) / channels ** 0.5, 0.1 * torch.randn(hidden),
               torch.randn(channels, hidden) / hidden ** 0.5, 0.1 * torch.randn(channels)]
    return x, [w if isinstance(w, float) else w.to(dtype) for w in weights]


def leaves(tensors, device=DEVICE):
    return [t if isinstance(t, float) else t.detach().to(device).requires_grad_() for t in tensors]


@needs_triton
@pytest.mark.parametrize("tokens,channels,hidden", [((1, 1), 16, 16), ((2, 37), 20, 72), ((3, 45), 64, 512),
                                                    ((1, 70), 100, 200), ((1, 33), 128, 96)])
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float16, 3e-3)])
def test_triton_matches_the_reference_forward_and_backward(tokens, channels, hidden, dtype, tol):
    x, weights = make_mlp(tokens, channels, hidden, dtype)
    inputs = leaves([x, *weights])
    exact = leaves([x.double(), *[w if isinstance(w, float) else w.double() for w in weights]], "cpu")
    out, ref = norm_mlp(*inputs, backend="triton"), norm_mlp_reference(*exact)
    assert out.dtype == dtype and out.shape == x.shape
    assert rel_err(out.cpu(), ref) < tol
    grad = torch.randn(ref.shape, dtype=dtype)
    out.backward(grad.to(DEVICE))
    ref.backward(grad.double())
    for t, r in zip(inputs, exact):
        if not isinstance(t, float):
            assert t.grad.dtype == t.dtype and rel_err(t.grad.cpu(), r.grad, floor=1e-6) < 10 * tol


@needs_triton
def test_triton_under_autocast_runs_the_matmuls_in_the_autocast_dtype():
    x, weights = make_mlp((2, 29), 48, 96)
    inputs = leaves([x, *weights])
    kind = "cuda" if DEVICE == "cuda" else "cpu"
    with torch.autocast(kind, dtype=torch.float16):
        out, ref = norm_mlp(*inputs, backend="triton"), norm_mlp_reference(*inputs)
    assert out.dtype == ref.dtype == torch.float16
    assert rel_err(out.float(), ref.float()) < 3e-3
    out.float().sum().backward()
    assert all(t.grad.dtype == torch.float32 for t in inputs if not isinstance(t, float))


def test_torch_path_without_autograd_never_makes_the_whole_hidden_activation(monkeypatch):
    x, weights = make_mlp((2, 50), 8, 40)
    seen = []
    original = mlp_reference.norm_mlp_reference
    monkeypatch.setattr(mlp_reference, "CHUNK_ELEMENTS", 40 * 16)       # 16 tokens of 40 hidden units at a time
    monkeypatch.setattr(mlp_reference, "norm_mlp_reference", lambda t, *w: seen.append(t.shape[0]) or original(t, *w))
    with torch.no_grad():
        out = norm_mlp(x, *weights, backend="torch")
    assert seen == [16] * 6 + [4]
    assert torch.allclose(out, original(x, *weights), atol=1e-6)
    seen.clear()
    norm_mlp(x, *leaves(weights, "cpu"), backend="torch").sum().backward()  # with autograd: one whole pass
    assert seen == [2]


@pytest.mark.parametrize("change,message", [
    (lambda a: a.__setitem__(0, a[0][..., :5]), r"norm_weight must be \(5,\) for x with C=5"),
    (lambda a: a.__setitem__(4, a[4].t()), r"fc1_weight must be \(40, 8\)"),
    (lambda a: a.__setitem__(6, a[6][:3]), r"fc2_weight must be \(8, 40\)"),
    (lambda a: a.__setitem__(0, a[0].long()), "x must be a floating-point torch.Tensor; got torch.int64"),
    (lambda a: a.__setitem__(3, -1.0), "eps must be a number > 0; got -1.0"),
    (lambda a: a.__setitem__(0, a[0][:0]), "x must be .* with at least one token"),
])
def test_bad_inputs_are_clear_errors(change, message):
    x, weights = make_mlp((2, 5), 8, 40)
    args = [x, *weights]
    change(args)
    with pytest.raises(ValueError, match=message):
        norm_mlp(*args)


def test_backend_must_exist_and_triton_must_be_possible():
    x, weights = make_mlp((2, 5), 8, 40)
    with pytest.raises(ValueError, match="backend must be one of"):
        norm_mlp(x, *weights, backend="cuda")
    wide, wide_weights = make_mlp((2, 5), 136, 40)
    if HAS_TRITON:
        with pytest.raises(ValueError, match="widths up to 128; got 136"):
            norm_mlp(wide.to(DEVICE), *leaves(wide_weights), backend="triton")
    assert torch.allclose(norm_mlp(wide, *wide_weights), norm_mlp_reference(wide, *wide_weights), atol=1e-5)


@needs_triton
def test_block_gives_the_same_tokens_with_the_fused_and_the_plain_mlp():
    block = Block(24, 2, 4.0, "saga", mlp_backend="triton").to(DEVICE).eval()
    x = torch.randn(2, 5 * 7, 24, device=DEVICE)
    with torch.no_grad():
        fused = block(x, 5, 7)
        block.mlp_backend = "torch"
        assert rel_err(fused.cpu(), block(x, 5, 7).cpu().double()) < 1e-5
    with pytest.raises(ValueError, match="mlp_backend must be one of"):
        Block(24, 2, 4.0, "saga", mlp_backend="fused")


@needs_triton
def test_traces_under_torch_compile_fullgraph():
    x, weights = make_mlp((2, 19), 24, 40)
    inputs = leaves([x, *weights])
    compiled = torch.compile(lambda *a: norm_mlp(*a, backend="triton"), fullgraph=True,
                             backend="aot_eager" if DEVICE == "cpu" else "inductor")
    out = compiled(*inputs)
    assert rel_err(out.detach().cpu(), norm_mlp_reference(*inputs).detach().cpu().double()) < 1e-5
    out.sum().backward()
    assert inputs[0].grad is not None and inputs[4].grad is not None
