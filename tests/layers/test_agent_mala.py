"""Agent attention and MALA against float64 references that build every attention matrix explicitly."""
import math

import pytest
import torch
import torch.nn.functional as F

import saga_attention as sa
from saga_attention.bench.flops import model_stats
from saga_attention.layers import AgentAttention, MALAAttention, build_attention
from saga_attention.layers.mala_attention import mala_attention


def softmax_rows(logits: torch.Tensor) -> torch.Tensor:
    e = (logits - logits.max(-1, keepdim=True).values).exp()
    return e / e.sum(-1, keepdim=True)


def pooled_agents(q: torch.Tensor, H: int, W: int, side: int) -> torch.Tensor:
    """Queries (N, d) of an H x W map averaged over adaptive pooling windows [floor(iH/s), ceil((i+1)H/s))."""
    grid = q.reshape(H, W, -1)
    cells = []
    for i in range(side):
        for j in range(side):
            rows = slice(i * H // side, math.ceil((i + 1) * H / side))
            cols = slice(j * W // side, math.ceil((j + 1) * W / side))
            cells.append(grid[rows, cols].reshape(-1, q.shape[-1]).mean(0))
    return torch.stack(cells)                                                    # (n, d)


def agent_reference(layer: AgentAttention, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """The layer's output for tokens x (B, N, C), one batch item and head at a time, in float64."""
    q, kv, _, kv_hw = layer.project(x, H, W)
    k, v = kv
    h, d = layer.num_heads, layer.head_dim
    key_bias = F.interpolate(layer.key_bias, size=kv_hw, mode="bilinear", align_corners=False).flatten(2)
    query_bias = F.interpolate(layer.query_bias, size=(H, W), mode="bilinear", align_corners=False).flatten(2)
    out = torch.zeros_like(q)
    for b in range(x.shape[0]):
        for head in range(h):
            cols = slice(head * d, (head + 1) * d)
            qh, kh, vh = q[b, :, cols], k[b, :, cols], v[b, :, cols]
            agents = pooled_agents(qh, H, W, layer.side)
            agent_v = softmax_rows(agents @ kh.T / math.sqrt(d) + key_bias[head]) @ vh          # (n, d)
            out[b, :, cols] = softmax_rows(qh @ agents.T / math.sqrt(d) + query_bias[head].T) @ agent_v
    local = F.conv2d(v.transpose(1, 2).unflatten(-1, kv_hw), layer.dwc.conv.weight, layer.dwc.conv.bias,
                     padding=layer.dwc.conv.padding, groups=layer.dim)
    if tuple(kv_hw) != (H, W):
        local = F.interpolate(local, size=(H, W), mode="bilinear", align_corners=False)
    return layer.proj(out + local.flatten(2).transpose(1, 2))


@pytest.mark.parametrize("sr_ratio,H,W,agents", [(1, 7, 9, 9), (1, 5, 11, 16), (2, 10, 6, 4), (1, 1, 1, 4)])
def test_agent_attention_matches_float64_reference(sr_ratio, H, W, agents):
    torch.manual_seed(0)
    layer = AgentAttention(24, 3, sr_ratio, agent_num=agents).double()
    layer.init_weights()
    x = torch.randn(2, H * W, 24, dtype=torch.float64)
    torch.testing.assert_close(layer(x, H, W), agent_reference(layer, x, H, W), rtol=1e-10, atol=1e-10)


def mala_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Output and scores of MALA, per batch item and head with the N x M score matrix built: a_ij =
    beta_i phi(q_i).phi(k_j) - gamma_i, beta_i = (1 + 1/s_i) / M, gamma_i = s_i / M, s_i = phi(q_i).mean_j phi(k_j)."""
    phi_q, phi_k = F.elu(q) + 1, F.elu(k) + 1
    out, scores = torch.zeros(*q.shape[:-1], v.shape[-1], dtype=q.dtype), []
    M = k.shape[1]
    for b in range(q.shape[0]):
        for head in range(q.shape[2]):
            dots = phi_q[b, :, head] @ phi_k[b, :, head].T                           # (N, M)
            s = dots.mean(-1, keepdim=True)
            a = (1 + 1 / s) * dots / M - s / M
            out[b, :, head] = a @ v[b, :, head]
            scores.append(a)
    return out, torch.stack(scores)


@pytest.mark.parametrize("N,M,d", [(1, 1, 16), (37, 53, 24), (64, 10, 32)])
def test_mala_op_matches_float64_reference(N, M, d):
    torch.manual_seed(1)
    q, k, v = torch.randn(2, N, 3, d, dtype=torch.float64), torch.randn(2, M, 3, d, dtype=torch.float64), \
        torch.randn(2, M, 3, d + 8, dtype=torch.float64)
    expected, scores = mala_reference(q, k, v)
    got = mala_attention(F.elu(q) + 1, F.elu(k) + 1, v.float(), eps=0.0)
    torch.testing.assert_close(got.double(), expected, rtol=2e-5, atol=2e-5)
    torch.testing.assert_close(scores.sum(-1), torch.ones(scores.shape[:-1], dtype=torch.float64))


def test_mala_scores_sharpen_with_the_query_magnitude():
    """Plain linear attention's scores do not change when q is scaled; MALA's spread grows, as softmax's does."""
    torch.manual_seed(2)
    q, k, v = torch.randn(1, 4, 1, 8, dtype=torch.float64), torch.randn(1, 30, 1, 8, dtype=torch.float64), \
        torch.eye(30, dtype=torch.float64)[None, :, None]                         # v = I: outputs are the scores
    spreads = [mala_attention(F.elu(q) + 1, F.elu(k) + 1, v).std(-1) for q in (q, q + 2.0, q + 4.0)]
    assert torch.all(spreads[1] > spreads[0]) and torch.all(spreads[2] > spreads[1])


@pytest.mark.parametrize("sr_ratio", [1, 2])
def test_mala_layer_is_the_op_plus_dwc(sr_ratio):
    torch.manual_seed(3)
    layer = MALAAttention(32, 4, sr_ratio)
    x = torch.randn(2, 6 * 10, 32)
    q, kv, kv_tokens, kv_hw = layer.project(x, 6, 10)
    heads = lambda t: t.unflatten(-1, (4, 8))  # noqa: E731
    attn = mala_attention(F.elu(heads(q)) + 1, F.elu(heads(kv[0])) + 1, heads(kv[1])).flatten(-2)
    torch.testing.assert_close(layer(x, 6, 10), layer.proj(attn + layer.dwc(kv[1], kv_hw, (6, 10))))


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: build_attention("agent", 32, 4, agent_num=10), "agent_num must be a perfect square"),
        (lambda: build_attention("agent", 32, 4, agent_num=0), "agent_num must be a perfect square"),
        (lambda: build_attention("agent", 32, 4, agent_num=True), "agent_num must be a perfect square"),
        (lambda: build_attention("agent", 32, 4, attn_drop=1.5), r"attn_drop must be in \[0, 1\)"),
        (lambda: build_attention("mala", 32, 4, attn_drop=0.1), "attn_drop applies to softmax attention only"),
        (lambda: build_attention("mala", 30, 4), "dim must be a positive multiple of num_heads"),
        (lambda: sa.create_model("agent_pvt_tiny:agent_num=8"), "agent_num must be a perfect square"),
    ],
)
def test_bad_options_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_agent_pvt_uses_the_papers_agent_counts():
    model = sa.create_model("agent_pvt_tiny")
    assert [stage.blocks[0].attn.agent_num for stage in model.stages] == [9, 16, 49, 49]
    model = sa.create_model("agent_pvt_tiny:agent_num=16")                        # an option wins in every stage
    assert {stage.blocks[0].attn.agent_num for stage in model.stages} == {16}


@pytest.mark.parametrize("name,params_m,gmacs", [("agent_pvt_tiny", 11.6, 2.0), ("agent_pvt_small", 20.6, 4.0)])
def test_agent_pvt_size_matches_the_paper(name, params_m, gmacs):
    """Agent attention paper, Table (ImageNet, Agent-PVT): 11.6M / 2.0G and 20.6M / 4.0G at 224 px. The row and
    column biases left out hold about 60k (tiny) parameters."""
    stats = model_stats(name)
    assert stats["params_m"] == pytest.approx(params_m, rel=0.015)
    assert stats["gmacs"] == pytest.approx(gmacs, rel=0.03)
