"""Every attention kind behind one interface; SAGA's wiring and options."""
import itertools

import pytest
import torch

from saga_attention.layers import ATTENTION_KINDS, LinearAttention, SAGAAttention, SoftmaxAttention, build_attention
from saga_attention.ops import saga_attention


@pytest.mark.parametrize("kind", list(ATTENTION_KINDS))
@pytest.mark.parametrize("sr_ratio,H,W", [(1, 7, 9), (2, 7, 9), (4, 8, 12)])
def test_every_kind_forward_backward(kind, sr_ratio, H, W):
    layer = build_attention(kind, 40, 5, sr_ratio)
    x = torch.randn(2, H * W, 40, requires_grad=True)
    y = layer(x, H, W)
    assert y.shape == x.shape and torch.isfinite(y).all()
    y.square().mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for name, p in layer.named_parameters():
        assert p.grad is not None, name


def test_softmax_impls_agree():
    math = SoftmaxAttention(32, 4, sr_ratio=2, impl="math")
    sdpa = SoftmaxAttention(32, 4, sr_ratio=2, impl="sdpa")
    sdpa.load_state_dict(math.state_dict())
    x = torch.randn(2, 64, 32)
    torch.testing.assert_close(sdpa(x, 8, 8), math(x, 8, 8), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sr_ratio", [1, 2])
def test_softmax_local_branch_adds_the_dwc_of_v(sr_ratio):
    """dwc_kernel_size=3: PVT's softmax plus the depth-wise conv of v that the linear kinds carry."""
    plain = SoftmaxAttention(32, 4, sr_ratio=sr_ratio)
    local = SoftmaxAttention(32, 4, sr_ratio=sr_ratio, dwc_kernel_size=3)
    assert local.load_state_dict(plain.state_dict(), strict=False).missing_keys == ["dwc.conv.weight", "dwc.conv.bias"]
    x = torch.randn(2, 48, 32)
    _, kv, _, kv_hw = local.project(x, 6, 8)
    attn = plain.attend(*local.project(x, 6, 8)[:3], 6, 8, kv_hw)
    torch.testing.assert_close(local(x, 6, 8), local.proj(attn + local.dwc(kv[1], kv_hw, (6, 8))))
    local(x, 6, 8).square().mean().backward()
    assert local.dwc.conv.weight.grad.abs().sum() > 0


def test_saga_layer_is_the_op_plus_dwc():
    """The fused projection is split as q, k, v, g_k, g_v and fed to the op; DWC acts on raw v."""
    layer = SAGAAttention(24, 3)
    x = torch.randn(2, 20, 24)
    q, k, v, gk, gv = layer.qkv(x).split(24, dim=-1)
    heads = lambda t: t.unflatten(-1, (3, 8))  # noqa: E731
    attn = saga_attention(heads(q), heads(k), heads(v), heads(gk), heads(gv)).flatten(-2)
    dwc = layer.dwc.conv(v.transpose(1, 2).unflatten(-1, (4, 5))).flatten(2).transpose(1, 2)
    torch.testing.assert_close(layer(x, 4, 5), layer.proj(attn + dwc))


def test_open_gates_reduce_saga_to_linear_attention_plus_dwc():
    saga = SAGAAttention(16, 2, gate_bias_init=40.0)
    lin = LinearAttention(16, 2)
    with torch.no_grad():
        saga.qkv.weight[48:].zero_()  # gate logits = bias = 40: every gate is 1
        lin.qkv.weight.copy_(saga.qkv.weight[:48])
        lin.qkv.bias.copy_(saga.qkv.bias[:48])
        lin.proj.load_state_dict(saga.proj.state_dict())
        saga.dwc.conv.weight.zero_()
        saga.dwc.conv.bias.zero_()
    x = torch.randn(1, 30, 16)
    torch.testing.assert_close(saga(x, 5, 6), lin(x, 5, 6), rtol=1e-5, atol=1e-6)


OPTIONS = list(itertools.product(["linear", "conv", "lowrank"], ["channel", "head"], [True, False],
                                 ["gated", "ungated"]))


@pytest.mark.parametrize("source,granularity,value_gate,normalizer", OPTIONS)
@pytest.mark.parametrize("sr_ratio", [1, 2])
def test_saga_options(source, granularity, value_gate, normalizer, sr_ratio):
    layer = SAGAAttention(32, 4, sr_ratio, gate_source=source, gate_granularity=granularity,
                          value_gate=value_gate, normalizer=normalizer, gate_bias_init=1.5)
    assert torch.all(layer.gate_bias() == 1.5)
    assert layer.gate_bias().numel() == (32 if granularity == "channel" else 4) * (2 if value_gate else 1)
    x = torch.randn(2, 48, 32, requires_grad=True)
    y = layer(x, 6, 8)
    assert y.shape == x.shape and torch.isfinite(y).all()
    y.sum().backward()
    assert all(p.grad is not None for p in layer.parameters())


def test_per_head_gate_is_constant_within_a_head():
    layer = SAGAAttention(32, 4, gate_granularity="head")
    logits = torch.randn(2, 10, 4)
    gate = layer.heads_gate(logits)  # (B, M, h, d)
    assert gate.shape == (2, 10, 4, 8)
    assert torch.equal(gate, logits.unsqueeze(-1).expand(-1, -1, -1, 8))


def test_focused_attention_survives_fp16_magnitudes():
    layer = build_attention("focused", 32, 2).half()
    x = (torch.randn(1, 16, 32) * 300).half()  # x**3 would overflow fp16 (max 65504)
    assert torch.isfinite(layer(x, 4, 4)).all()


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: build_attention("flash", 32, 4), "attention kind must be one of"),
        (lambda: build_attention("saga", 30, 4), "dim must be a positive multiple of num_heads"),
        (lambda: build_attention("linear", 32, 4, 0), "sr_ratio must be an integer >= 1"),
        (lambda: build_attention("saga", 32, 4, attn_drop=0.1), "attn_drop applies to softmax attention only"),
        (lambda: build_attention("softmax", 32, 4, impl="flash3"), "impl must be one of"),
        (lambda: build_attention("softmax", 32, 4, dwc_kernel_size=4), "odd kernel size"),
        (lambda: build_attention("saga", 32, 4, gate_source="mlp"), "gate_source must be one of"),
        (lambda: build_attention("saga", 32, 4, gate_granularity="token"), "gate_granularity must be one of"),
        (lambda: build_attention("saga", 32, 4, feature_map="exp"), "feature_map must be one of"),
        (lambda: build_attention("saga", 32, 4, qkv_bias=False, gate_bias_init=2.0), "gate_bias_init needs a bias"),
        (lambda: build_attention("saga", 32, 4, band_rows=-1), "band_rows must be a whole number >= 0"),
        (lambda: build_attention("linear", 32, 4, band_rows=True), "band_rows must be a whole number >= 0"),
        (lambda: build_attention("saga", 32, 4, 2, band_rows=4), "only attention with sr_ratio=1 runs in parts"),
        (lambda: build_attention("saga", 32, 4, gate_source="conv", band_rows=4), "gate_source='linear' runs in parts"),
    ],
)
def test_bad_construction_raises(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("kind", list(ATTENTION_KINDS))
def test_wrong_token_count_raises(kind):
    layer = build_attention(kind, 32, 4)
    with pytest.raises(ValueError, match=r"x must be \(B, H\*W, C\) = \(B, 20, 32\)"):
        layer(torch.randn(1, 21, 32), 4, 5)


@pytest.mark.parametrize("kind,options", [("saga", {}), ("saga", {"value_gate": False, "gate_granularity": "head"}),
                                          ("saga", {"dwc_kernel_size": 5}), ("linear", {})])
@pytest.mark.parametrize("band_rows", [1, 4, 5])
def test_inference_in_bands_is_the_whole_map_pass(kind, options, band_rows):
    torch.manual_seed(0)
    layer = build_attention(kind, 32, 4, band_rows=band_rows, **options).eval()
    x = torch.randn(2, 13 * 6, 32)                               # 13 rows: bands of 1, 4 (and a last of 1), 5 (and 3)
    calls = []
    layer.kv_state = lambda tokens, state=layer.kv_state: calls.append(tokens.shape[1]) or state(tokens)
    with torch.no_grad():
        banded = layer(x, 13, 6)
        layer.band_rows = 0
        whole = layer(x, 13, 6)
    assert calls == [min(band_rows, 13 - a) * 6 for a in range(0, 13, band_rows)]   # the banded path ran
    torch.testing.assert_close(banded, whole, rtol=1e-5, atol=1e-5)


def test_bands_stay_out_of_training_and_small_maps():
    layer = build_attention("saga", 32, 4, band_rows=4)
    layer.forward_in_bands = None                                  # calling it would fail
    x = torch.randn(1, 8 * 3, 32, requires_grad=True)
    layer(x, 8, 3).sum().backward()                                # gradients: the whole-map pass
    with torch.no_grad():
        layer(x[:, :12], 4, 3)                                     # no more rows than a band
