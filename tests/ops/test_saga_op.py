"""The SAGA op against an independent float64 re-derivation, forward and backward."""
import re

import pytest
import torch
from saga_checks import make_inputs, rederived, rederived_local, rel_err

import saga_attention as sa
from saga_attention.ops import linear_attention, saga_attention_materialized, saga_attention_reference

SHAPES = [  # (B, Nq, Nk, H, Dk, Dv): N = 1, primes, Nq != Nk, D from 16 to 128, Dk != Dv
    (1, 1, 1, 1, 16, 16),
    (2, 13, 13, 3, 16, 24),
    (1, 31, 7, 2, 32, 128),
    (2, 61, 61, 1, 128, 64),
    (1, 97, 97, 2, 48, 48),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("feature_map", ["relu", "elu1", "none"])
def test_forward_matches_rederivation(shape, feature_map):
    B, Nq, Nk, H, Dk, Dv = shape
    q, k, v, gk, gv = make_inputs(B, Nq, Nk, H, Dk, Dv)
    if feature_map == "none":  # keep q.z away from zero so the ratio is well conditioned
        q, k = q.abs(), k.abs()
    out = sa.saga_attention(q, k, v, gk, gv, feature_map=feature_map)
    assert out.shape == (B, Nq, H, Dv) and out.dtype == v.dtype
    assert rel_err(out, rederived(q, k, v, gk, gv, feature_map)) < 1e-5


@pytest.mark.parametrize("normalizer", ["gated", "ungated"])
@pytest.mark.parametrize("gates", ["both", "key_only", "none"])
def test_gate_options_match_rederivation(normalizer, gates):
    q, k, v, gk, gv = make_inputs(2, 17, 17, 2, 16, 32)
    gk = None if gates == "none" else gk
    gv = None if gates != "both" else gv
    out = sa.saga_attention(q, k, v, gk, gv, normalizer=normalizer)
    assert rel_err(out, rederived(q, k, v, gk, gv, normalizer=normalizer)) < 1e-5


def test_gates_change_the_output():
    q, k, v, gk, gv = make_inputs(1, 29, 29, 2, 16, 16)
    gated = sa.saga_attention(q, k, v, gk, gv)
    plain = linear_attention(torch.relu(q), torch.relu(k), v)
    assert rel_err(gated, plain) > 1e-2
    # with gates saturated open, SAGA is plain linear attention
    big = torch.full_like(gk, 40.0)
    assert rel_err(sa.saga_attention(q, k, v, big, big), plain) < 1e-5


@pytest.mark.parametrize("dtype,tol", [(torch.float16, 1e-2), (torch.bfloat16, 2e-2)])
def test_low_precision_inputs_accumulate_in_fp32(dtype, tol):
    q, k, v, gk, gv = make_inputs(1, 4099, 4099, 2, 32, 32, dtype=dtype)
    v = v * 200  # S grows past fp16's range if summed in fp16
    out = sa.saga_attention(q, k, v, gk, gv)
    assert out.dtype == dtype and torch.isfinite(out).all()
    assert rel_err(out, rederived(q.float(), k.float(), v.float(), gk.float(), gv.float())) < tol


def test_materialized_equals_decomposed():
    q, k, v, gk, gv = make_inputs(2, 23, 19, 3, 16, 40, dtype=torch.float64)
    for normalizer in ("gated", "ungated"):
        dec = saga_attention_reference(q, k, v, gk, gv, normalizer=normalizer)
        mat = saga_attention_materialized(q, k, v, gk, gv, normalizer=normalizer)
        assert rel_err(mat, dec) < 1e-12


@pytest.mark.parametrize(
    "shape,dtype,tol",
    [(s, torch.float64, 1e-10) for s in SHAPES[:4]]
    # in fp32 only where dq is not zero by construction (one key token makes y independent of q)
    + [((2, 7, 5, 2, 16, 24), torch.float32, 1e-5), ((1, 33, 33, 1, 64, 32), torch.float32, 1e-5)],
)
def test_backward_matches_rederivation(shape, dtype, tol):
    B, Nq, Nk, H, Dk, Dv = shape
    inputs = make_inputs(B, Nq, Nk, H, Dk, Dv, dtype=dtype, requires_grad=True)
    ref_inputs = [t.detach().double().requires_grad_() for t in inputs]
    grad_out = torch.randn(B, Nq, H, Dv, dtype=dtype)
    sa.saga_attention(*inputs).backward(grad_out)
    rederived(*ref_inputs).backward(grad_out.double())
    for name, t, r in zip(["q", "k", "v", "g_k", "g_v"], inputs, ref_inputs):
        assert t.grad is not None, name
        assert rel_err(t.grad, r.grad, floor=1e-6) < tol, name


@pytest.mark.parametrize("normalizer", ["gated", "ungated"])
def test_gradcheck_float64(normalizer):
    q, k, v, gk, gv = make_inputs(1, 5, 4, 2, 16, 16, dtype=torch.float64, requires_grad=True)
    # move relu's inputs away from its kink so finite differences are valid
    with torch.no_grad():
        q.add_(q.sign() * 0.1)
        k.add_(k.sign() * 0.1)
    fn = lambda *t: sa.saga_attention(*t, normalizer=normalizer)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (q, k, v, gk, gv))


def test_non_contiguous_inputs():
    base = torch.randn(2, 3, 11, 32)  # (B, H, N, D) transposed into (B, N, H, D)
    q = k = gk = base.transpose(1, 2)
    v = gv = torch.randn(2, 3, 11, 16).transpose(1, 2)
    assert not q.is_contiguous()
    out = sa.saga_attention(q, k, v, gk, gv)
    assert rel_err(out, rederived(q, k, v, gk, gv)) < 1e-5


@pytest.mark.parametrize("hw,ksize,bias", [((5, 7), 3, True), ((4, 4), 5, False), ((1, 9), 3, True)])
def test_local_conv_matches_rederivation(hw, ksize, bias):
    """The depth-wise conv of v that the op adds (SAGA's local branch), forward and backward, in float64."""
    n, heads, dv = hw[0] * hw[1], 2, 24
    q, k, v, gk, gv = (t.double().requires_grad_() for t in make_inputs(2, n, n, heads, 16, dv))
    weight = torch.randn(heads * dv, 1, ksize, ksize, dtype=torch.float64, requires_grad=True)
    b = torch.randn(heads * dv, dtype=torch.float64, requires_grad=True) if bias else None
    out = sa.saga_attention(q, k, v, gk, gv, conv_weight=weight, conv_bias=b, hw=hw)
    ref = rederived(q, k, v, gk, gv) + rederived_local(v, weight, b, hw)
    assert rel_err(out, ref) < 1e-10
    params = [t for t in (q, k, v, gk, gv, weight, b) if t is not None]
    grad_out = torch.randn_like(out)
    grads = torch.autograd.grad(out, params, grad_out)
    ref_grads = torch.autograd.grad(ref, params, grad_out)
    for g, r in zip(grads, ref_grads):
        assert rel_err(g, r) < 1e-10


def test_local_conv_takes_the_sizes_tracers_pass():
    """torch.jit.trace, the TorchScript ONNX exporter and fvcore pass the token map's sides as 0-dim integer
    tensors; the op takes them as it takes ints."""
    q, k, v, gk, gv = make_inputs(1, 12, 12, 2, 8, 8)
    weight = torch.randn(16, 1, 3, 3)
    by_ints = sa.saga_attention(q, k, v, gk, gv, conv_weight=weight, hw=(3, 4))
    by_tensors = sa.saga_attention(q, k, v, gk, gv, conv_weight=weight, hw=(torch.tensor(3), torch.tensor(4)))
    assert torch.equal(by_ints, by_tensors)
    with pytest.raises(ValueError, match="hw must be the"):
        sa.saga_attention(q, k, v, gk, gv, conv_weight=weight, hw=(torch.tensor(3.0), torch.tensor(4.0)))


def good():
    return make_inputs(2, 8, 8, 2, 16, 16)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda t: t.__setitem__(0, t[0][0]), "q must be 4-D"),
        (lambda t: t.__setitem__(2, t[2][:, :5]), "v must be (B, Nk, H, Dv)"),
        (lambda t: t.__setitem__(1, t[1][..., :8]), "k must be (B, Nk, H, Dk)"),
        (lambda t: t.__setitem__(3, t[3][:, :, :1]), "g_k must have k's shape"),
        (lambda t: t.__setitem__(4, t[4][..., :4]), "g_v must have v's shape"),
        (lambda t: t.__setitem__(0, t[0].long()), "q must be float16, bfloat16, float32 or float64"),
        (lambda t: t.__setitem__(2, t[2].double()), "all inputs must share one dtype"),
        (lambda t: t.__setitem__(1, t[1].to("meta")), "all inputs must be on one device"),
        (lambda t: t.__setitem__(1, t[1][:, :0]), "at least one token"),
        (lambda t: t.__setitem__(0, [1.0]), "q must be a torch.Tensor"),
    ],
)
def test_bad_tensors_raise_value_error(mutate, message):
    inputs = good()
    mutate(inputs)
    for fn in (sa.saga_attention, saga_attention_reference, saga_attention_materialized):
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            fn(*inputs)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"feature_map": "softplus"}, "feature_map must be one of"),
        ({"eps": 0.0}, "eps must be a finite number > 0"),
        ({"eps": -1e-6}, "eps must be a finite number > 0"),
        ({"eps": float("nan")}, "eps must be a finite number > 0"),
        ({"normalizer": "mean"}, "normalizer must be one of"),
        ({"backend": "cuda"}, "backend must be one of"),
    ],
)
def test_bad_options_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        sa.saga_attention(*good(), **kwargs)
    assert repr(next(iter(kwargs.values())))[:4] in str(info.value)  # the message names what came


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"conv_weight": torch.randn(32, 1, 3, 3)}, "hw must be the (height, width)"),
        ({"conv_weight": torch.randn(32, 1, 3, 3), "hw": (3, 3)}, "Nq = Nk = height * width"),
        ({"conv_weight": torch.randn(16, 1, 3, 3), "hw": (2, 4)}, "(32, 1, k, k)"),
        ({"conv_weight": torch.randn(32, 1, 2, 2), "hw": (2, 4)}, "odd k"),
        ({"conv_weight": torch.randn(32, 1, 3, 3), "conv_bias": torch.randn(16), "hw": (2, 4)},
         "conv_bias must be (32,)"),
        ({"conv_bias": torch.randn(32)}, "conv_bias was given without conv_weight"),
    ],
)
def test_bad_local_conv_raises_value_error(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        sa.saga_attention(*good(), **kwargs)
