"""saga_state + saga_apply_state: the op in two halves, for inference in parts (an image in bands).

States summed over disjoint parts of the keys, then applied, must give saga_attention's output, on both
backends (Triton in its CPU interpreter where there is no GPU), with and without the local conv."""
import pytest
import torch
from saga_checks import DEVICE, make_inputs, rederived, rederived_local, rel_err

import saga_attention as sa
from saga_attention.ops.inputs import HAS_TRITON

BACKENDS = ["torch"] + (["triton"] if HAS_TRITON else [])


def summed_state(k, v, g_k, g_v, cuts, **options):
    """The state of all tokens as the sum of the states of the slices between `cuts`."""
    bounds = [0, *cuts, k.shape[1]]
    parts = [sa.ops.saga_state(*(None if t is None else t[:, a:b] for t in (k, v, g_k, g_v)), **options)
             for a, b in zip(bounds, bounds[1:])]
    return sum(p[0] for p in parts), sum(p[1] for p in parts)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("normalizer,gates,feature_map", [("gated", True, "relu"), ("ungated", True, "elu1"),
                                                          ("gated", False, "relu")])
@torch.no_grad()
def test_states_of_parts_add_up_to_the_op(backend, normalizer, gates, feature_map):
    q, k, v, g_k, g_v = (t.to(DEVICE) for t in make_inputs(2, 45, 45, 3, 24, 40))
    if not gates:
        g_k = g_v = None
    options = dict(feature_map=feature_map, normalizer=normalizer, backend=backend)
    state, z = summed_state(k, v, g_k, g_v, [7, 30], **options)
    assert state.shape == (2, 3, 24, 40) and z.shape == (2, 3, 24) and state.dtype == torch.float32
    out = sa.ops.saga_apply_state(q, state, z, feature_map=feature_map, backend=backend)
    ref = rederived(q.cpu(), k.cpu(), v.cpu(), g_k if g_k is None else g_k.cpu(), g_v if g_v is None else g_v.cpu(),
                    feature_map=feature_map, normalizer=normalizer)
    assert out.shape == ref.shape and out.dtype == q.dtype
    assert rel_err(out.cpu(), ref) < 1e-5


@pytest.mark.parametrize("backend", BACKENDS)
@torch.no_grad()
def test_apply_state_adds_the_local_conv(backend):
    hw, heads, dv = (5, 7), 2, 24
    q, k, v, g_k, g_v = (t.to(DEVICE) for t in make_inputs(1, 35, 35, heads, 16, dv))
    weight, bias = torch.randn(heads * dv, 1, 3, 3, device=DEVICE), torch.randn(heads * dv, device=DEVICE)
    state, z = sa.ops.saga_state(k, v, g_k, g_v, backend=backend)
    out = sa.ops.saga_apply_state(q, state, z, backend=backend, v=v, conv_weight=weight, conv_bias=bias, hw=hw)
    ref = rederived(*(t.cpu() for t in (q, k, v, g_k, g_v))) + rederived_local(v.cpu(), weight.cpu(), bias.cpu(), hw)
    assert rel_err(out.cpu(), ref) < 1e-5


@pytest.mark.parametrize("call,message", [
    (lambda q, k, v, s, z: sa.ops.saga_state(k[0], v), "k must be a floating-point"),
    (lambda q, k, v, s, z: sa.ops.saga_state(k, v[:, :3]), "v must be"),
    (lambda q, k, v, s, z: sa.ops.saga_state(k, v, normalizer="none"), "normalizer"),
    (lambda q, k, v, s, z: sa.ops.saga_apply_state(q, s[..., :3, :], z), "state and z must be"),
    (lambda q, k, v, s, z: sa.ops.saga_apply_state(q, s, z, v=v[..., :3]), "v must be"),
    (lambda q, k, v, s, z: sa.ops.saga_apply_state(q, s, z, conv_weight=torch.ones(16, 1, 3, 3), hw=(2, 3)),
     "needs v"),
    (lambda q, k, v, s, z: sa.ops.saga_state(k.requires_grad_(), v), "no backward"),
])
def test_bad_calls_are_value_errors(call, message):
    q, k, v = make_inputs(1, 6, 6, 2, 8, 8)[:3]
    state, z = torch.zeros(1, 2, 8, 8), torch.zeros(1, 2, 8)
    with pytest.raises(ValueError, match=message):
        call(q, k, v, state, z)
