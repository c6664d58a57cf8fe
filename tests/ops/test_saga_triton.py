"""The Triton kernels against the float64 re-derivation, forward and backward.

On a machine without CUDA they run in Triton's CPU interpreter (tests/conftest.py sets
TRITON_INTERPRET=1 there), at small shapes; on a GPU they run compiled.
"""
import pytest
import torch
from saga_checks import DEVICE, make_inputs, rederived, rederived_local, rel_err

import saga_attention as sa
from saga_attention.ops.inputs import HAS_TRITON
from saga_attention.ops.saga import triton_unsupported_reason, use_triton

pytestmark = pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed")

TOL = {torch.float32: 1e-5, torch.float16: 2e-3}

SHAPES = [  # (B, Nq, Nk, H, Dk, Dv): N = 1, primes, Nq != Nk, padded head dims, Dk != Dv
    (1, 1, 1, 1, 16, 16),
    (2, 37, 45, 2, 24, 40),
    (1, 61, 61, 1, 128, 64),
    (2, 19, 70, 3, 32, 128),
    (1, 300, 300, 1, 16, 8),
]


@pytest.fixture
def poisoned(monkeypatch):
    """Every buffer the kernels write starts as NaN, so an element they skip fails the test."""
    from saga_attention.ops.saga import launch as kernels

    monkeypatch.setattr(kernels, "_alloc", lambda like, shape, dtype=None: like.new_full(
        shape, float("nan"), dtype=dtype))


def on_device(inputs, requires_grad=False):
    return [None if t is None else t.detach().to(DEVICE).requires_grad_(requires_grad) for t in inputs]


def check_against_rederivation(inputs, tol, feature_map="relu", normalizer="gated",
                               grads=("q", "k", "v", "g_k", "g_v")):
    """Forward and backward of backend='triton' against the float64 re-derivation on the CPU."""
    inputs = on_device(inputs, requires_grad=True)
    ref_inputs = [None if t is None else t.detach().cpu().double().requires_grad_() for t in inputs]
    out = sa.saga_attention(*inputs, feature_map=feature_map, normalizer=normalizer, backend="triton")
    ref = rederived(*ref_inputs, feature_map=feature_map, normalizer=normalizer)
    assert out.dtype == inputs[2].dtype and out.shape == ref.shape
    assert rel_err(out.cpu(), ref) < tol
    grad_out = torch.randn(ref.shape, dtype=out.dtype)
    out.backward(grad_out.to(DEVICE))
    ref.backward(grad_out.double())
    for name, t, r in zip(["q", "k", "v", "g_k", "g_v"], inputs, ref_inputs):
        if t is None:
            continue
        assert t.grad is not None and t.grad.dtype == t.dtype, name
        if name in grads:
            assert rel_err(t.grad.cpu(), r.grad, floor=1e-6) < tol, name


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_kernels_match_rederivation(poisoned, shape, dtype):
    B, Nq, Nk, H, Dk, Dv = shape
    # with one key token y does not depend on q or k (their gradients are ~0): check v's side only
    grads = ("v", "g_v") if Nk == 1 else ("q", "k", "v", "g_k", "g_v")
    check_against_rederivation(make_inputs(B, Nq, Nk, H, Dk, Dv, dtype=dtype), TOL[dtype], grads=grads)


@pytest.mark.parametrize("feature_map", ["relu", "elu1", "none"])
@pytest.mark.parametrize("normalizer", ["gated", "ungated"])
@pytest.mark.parametrize("gates", ["both", "key_only", "value_only", "none"])
def test_every_option_matches_rederivation(poisoned, feature_map, normalizer, gates):
    q, k, v, gk, gv = make_inputs(2, 23, 29, 2, 16, 24)
    if feature_map == "none":  # keep q.z away from zero so the ratio is well conditioned
        q, k = q.abs(), k.abs()
    gk = gk if gates in ("both", "key_only") else None
    gv = gv if gates in ("both", "value_only") else None
    check_against_rederivation([q, k, v, gk, gv], 1e-5, feature_map, normalizer)


@pytest.mark.parametrize("head_dim,dtype", [(16, torch.float32), (20, torch.float16), (7, torch.float16)])
def test_slices_of_one_projection(poisoned, head_dim, dtype):
    """q, k, v and the gates as slices of one fused projection (B, N, 5C), at head widths whose rows align to
    8, 4 and 1 elements (the kernels' ALIGN)."""
    from saga_attention.ops.saga.launch import _alignment

    B, N, H = 2, 41, 2
    fused = torch.randn(B, N, 5 * H * head_dim, dtype=dtype)
    q, k, v, gk, gv = (t.unflatten(-1, (H, head_dim)) for t in fused.split(H * head_dim, dim=-1))
    assert not q.is_contiguous()
    assert _alignment(q, k, v, gk, gv) == {16: 4, 20: 4, 7: 1}[head_dim]
    check_against_rederivation([q, k, v, gk, gv], TOL[dtype])


def test_alignment_of_the_kernels():
    from saga_attention.ops.saga.launch import _alignment

    bf16 = torch.zeros(1, 8, 4, 32, dtype=torch.bfloat16)
    assert _alignment(bf16) == 8                      # 16 bytes of bf16
    assert _alignment(bf16, bf16.float()) == 4        # 16 bytes of fp32
    assert _alignment(bf16[..., :24]) == 8            # head stride 32, width 24
    assert _alignment(bf16[..., :20]) == 4            # width 20
    assert _alignment(bf16[..., 1:31]) == 2           # width 30
    assert _alignment(bf16.transpose(2, 3)) == 1      # columns not contiguous
    assert _alignment(torch.zeros(1, 8, 3, 6, dtype=torch.bfloat16)) == 2  # head stride 6


def test_strided_inputs_are_read_in_place(poisoned):
    """Slices of one fused projection, a (B, H, N, D) transpose and a per-head gate (stride 0)."""
    B, N, H, D = 2, 41, 2, 16
    fused = torch.randn(B, N, 5 * H * D)
    q, k, v, gk, gv = (t.unflatten(-1, (H, D)) for t in fused.split(H * D, dim=-1))
    heads_first = [t.transpose(1, 2).contiguous() for t in make_inputs(B, N, N, H, D, D)]  # (B, H, N, D)
    check_against_rederivation([t.transpose(1, 2) for t in heads_first], 1e-5)
    per_head = torch.randn(B, N, H, 1).expand(B, N, H, D)
    check_against_rederivation([q, k, v, per_head, gv], 1e-5)


def test_long_fp16_sums_do_not_overflow(poisoned):
    q, k, v, gk, gv = make_inputs(1, 4099, 4099, 1, 16, 16, dtype=torch.float16)
    v = v * 300  # S = sum_j k_j^T v_j passes fp16's 65504 here
    out = sa.saga_attention(*on_device([q, k, v, gk, gv]), backend="triton")
    assert torch.isfinite(out).all()
    assert rel_err(out.cpu(), rederived(q, k, v, gk, gv)) < 2e-3


def test_auto_picks_triton_on_cuda_only():
    q, k, v = on_device(make_inputs(1, 8, 8, 1, 16, 16)[:3])
    assert use_triton("auto", q, k, v) == (DEVICE == "cuda")
    assert use_triton("triton", q, k, v)  # the interpreter takes CPU tensors
    meta = [t.to("meta") for t in (q, k, v)]
    assert "CUDA" in triton_unsupported_reason(*meta)
    with pytest.raises(ValueError, match="backend='triton' is not available here"):
        use_triton("triton", *meta)


@pytest.mark.parametrize(
    "inputs,message",
    [
        (make_inputs(1, 8, 8, 1, 16, 16, dtype=torch.float64), "float16, bfloat16 or float32"),
        (make_inputs(1, 8, 8, 1, 16, 160), "head dims up to 128"),
    ],
)
def test_triton_backend_refuses_what_it_cannot_take(inputs, message):
    with pytest.raises(ValueError, match=message):
        sa.saga_attention(*on_device(inputs), backend="triton")
    assert sa.saga_attention(*on_device(inputs), backend="auto").shape[-1] == inputs[2].shape[-1]


@pytest.mark.parametrize("hw,ksize,dv,heads,dtype", [((5, 7), 3, 24, 2, torch.float32),
                                                     ((6, 4), 5, 16, 2, torch.float16),
                                                     ((37, 41), 3, 64, 1, torch.float16)])
def test_local_conv_in_the_output_kernel(poisoned, hw, ksize, dv, heads, dtype):
    """The depth-wise conv of v added in the output kernel: against float64, forward and every gradient (the last
    case has the conv kernel's own launch on a GPU, tiles over many rows)."""
    n = hw[0] * hw[1]
    inputs = on_device(make_inputs(2, n, n, heads, 16, dv, dtype=dtype), requires_grad=True)
    weight, bias = (t.to(DEVICE).requires_grad_() for t in (torch.randn(heads * dv, 1, ksize, ksize),
                                                             torch.randn(heads * dv)))
    ref_params = [t.detach().cpu().double().requires_grad_() for t in (*inputs, weight, bias)]
    out = sa.saga_attention(*inputs, conv_weight=weight, conv_bias=bias, hw=hw, backend="triton")
    ref = rederived(*ref_params[:5]) + rederived_local(ref_params[2], *ref_params[5:], hw)
    assert rel_err(out.cpu(), ref) < TOL[dtype]
    grad_out = torch.randn(ref.shape, dtype=dtype)
    grads = torch.autograd.grad(out, [*inputs, weight, bias], grad_out.to(DEVICE))
    ref_grads = torch.autograd.grad(ref, ref_params, grad_out.double())
    for name, g, r in zip(["q", "k", "v", "g_k", "g_v", "weight", "bias"], grads, ref_grads):
        assert rel_err(g.cpu(), r, floor=1e-6) < TOL[dtype], name


def test_heads_per_program():
    from saga_attention.ops.saga.launch import PACK_WIDTH, heads_per_program

    assert PACK_WIDTH == 64
    t = lambda h, d: torch.zeros(1, 4, h, d)  # noqa: E731
    assert heads_per_program(2, 20, 20, t(2, 20)) == 2          # the low-light net's first level: 40 columns
    assert heads_per_program(5, 16, 16, t(5, 16)) == 1          # 80 columns do not fit
    assert heads_per_program(10, 16, 16, t(10, 16)) == 2        # the most that divide H and fit
    assert heads_per_program(2, 64, 64, t(2, 64)) == 1          # PVT's heads keep a program each
    assert heads_per_program(2, 16, 24, t(2, 16), t(2, 24)) == 1  # Dk != Dv
    assert heads_per_program(2, 16, 16, torch.zeros(1, 2, 4, 16).transpose(1, 2)) == 1  # heads not side by side
    assert heads_per_program(2, 16, 16, torch.zeros(1, 4, 160)[..., 32:64].unflatten(-1, (2, 16))) == 2
    assert heads_per_program(2, 16, 16, t(2, 16), None) == 2    # an absent gate


@pytest.mark.parametrize("feature_map,normalizer,conv", [("relu", "gated", False), ("elu1", "ungated", True)])
def test_packed_heads_match_one_program_per_head(poisoned, monkeypatch, feature_map, normalizer, conv):
    """4 heads of 12 columns in one program give what a program per head gives, forward and backward (with the
    conv, the state kernel packs them and the output kernel takes a program per head)."""
    from saga_attention.ops.saga import launch as kernels

    hw = (5, 9)
    inputs = on_device(make_inputs(2, 45, 45, 4, 12, 12), requires_grad=True)
    assert kernels.heads_per_program(4, 12, 12, *inputs) == 4
    params = [t.to(DEVICE).requires_grad_() for t in (torch.randn(48, 1, 3, 3), torch.randn(48))] if conv else []
    local = dict(conv_weight=params[0], conv_bias=params[1], hw=hw) if conv else {}
    results = []
    for width in (kernels.PACK_WIDTH, 0):
        monkeypatch.setattr(kernels, "PACK_WIDTH", width)
        out = sa.saga_attention(*inputs, feature_map=feature_map, normalizer=normalizer, backend="triton", **local)
        results.append((out, *torch.autograd.grad(out.square().sum(), [*inputs, *params])))
    ref = rederived(*[t.detach().cpu().double() for t in inputs], feature_map=feature_map, normalizer=normalizer)
    if conv:
        ref = ref + rederived_local(inputs[2].detach().cpu(), *(t.detach().cpu() for t in params), hw)
    assert rel_err(results[0][0].cpu(), ref) < 1e-5
    for name, packed, alone in zip(["out", "q", "k", "v", "g_k", "g_v", "weight", "bias"], *results):
        assert rel_err(packed.cpu(), alone.cpu(), floor=1e-6) < 1e-5, name


def test_custom_op_registration():
    """Schema, fake (meta) implementation and autograd registration, as torch.library checks them."""
    from saga_attention.ops.saga.launch import saga_forward

    q, k, v, gk, gv = on_device(make_inputs(1, 20, 20, 2, 16, 16), requires_grad=True)
    weight, bias = (t.to(DEVICE).requires_grad_() for t in (torch.randn(32, 1, 3, 3), torch.randn(32)))
    for local in ((None, None, 0, 0), (weight, bias, 4, 5)):
        torch.library.opcheck(saga_forward, (q, k, v, gk, gv, "relu", 1e-6, "gated", *local),
                              test_utils=("test_schema", "test_faketensor", "test_autograd_registration"))


def test_traces_under_torch_compile_fullgraph():
    inputs = on_device(make_inputs(2, 33, 33, 2, 16, 16), requires_grad=True)
    fn = lambda *t: sa.saga_attention(*t, backend="triton").square().sum()  # noqa: E731
    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager" if DEVICE == "cpu" else "inductor")
    compiled(*inputs).backward()
    grads = [t.grad.clone() for t in inputs]
    for t in inputs:
        t.grad = None
    fn(*inputs).backward()
    for g, t in zip(grads, inputs):
        assert rel_err(g.cpu(), t.grad.cpu()) < 1e-6
