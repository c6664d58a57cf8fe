import json

import pytest
import torch

import saga_attention as sa
from saga_attention.analysis.rank import attention_map, matrix_ranks, model_ranks
from saga_attention.cli import main
from saga_attention.layers import build_attention


def test_ranks_of_known_matrices():
    low = torch.randn(3, 20, 2) @ torch.randn(3, 2, 30)             # rank 2
    numerical, effective = matrix_ranks(low)
    assert numerical.tolist() == [2, 2, 2] and (effective > 1).all() and (effective <= 2).all()
    numerical, effective = matrix_ranks(torch.eye(8))
    assert numerical.item() == 8 and effective.item() == pytest.approx(8)


@pytest.mark.parametrize("kind", ["linear", "focused", "agent", "mala", "saga"])
def test_terms_rebuild_the_layer_attention(kind):
    """Q S / (Q . z) from the analysed terms equals the layer's own attention (its DWC branch aside)."""
    layer = build_attention(kind, dim=32, num_heads=2, sr_ratio=1).eval()
    x = torch.randn(2, 48, 32)
    q, k, v = layer.attention_terms(x, 6, 8)                          # (B, h, N, d)
    rebuilt = (attention_map(q, k, softmax=False) @ v).transpose(1, 2).flatten(-2)
    qp, kv, kv_tokens, kv_hw = layer.project(x, 6, 8)
    own = layer.attend(qp, kv, kv_tokens, 6, 8, kv_hw)
    if hasattr(layer, "dwc"):
        own = own - layer.dwc(kv[1], kv_hw, (6, 8))
    assert torch.allclose(rebuilt, own, atol=1e-5, rtol=1e-4)


def test_softmax_terms_rebuild_the_layer_attention():
    layer = build_attention("softmax", dim=32, num_heads=2, sr_ratio=2).eval()
    x = torch.randn(2, 48, 32)
    q, k, v = layer.attention_terms(x, 6, 8)
    rebuilt = (attention_map(q, k, softmax=True) @ v).transpose(1, 2).flatten(-2)
    qp, kv, kv_tokens, kv_hw = layer.project(x, 6, 8)
    assert torch.allclose(rebuilt, layer.attend(qp, kv, kv_tokens, 6, 8, kv_hw), atol=1e-5)


def test_model_ranks_cover_every_layer():
    model = sa.create_model("saga_pvt_tiny", num_classes=3, img_size=64)
    rows = model_ranks(model, torch.randn(2, 3, 64, 64), map_tokens=16)
    assert [r["layer"] for r in rows] == [f"stages.{s}.blocks.{b}.attn" for s in range(4) for b in range(2)]
    assert all(0 < r["state_rank_fraction"] <= 1 and r["map_rank"] <= min(16, r["keys"]) for r in rows)
    softmax_rows = model_ranks(sa.create_model("pvt_tiny", img_size=64), torch.randn(1, 3, 64, 64))
    assert all("state_rank" not in r for r in softmax_rows)


def test_rank_command_writes_json_table_and_plot(tmp_path, capsys):
    assert main(["rank", "--model", "linear_pvt_tiny,saga_pvt_tiny", "--res", "64", "--images", "2", "--device", "cpu",
                 "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "rank.json").read_text())
    assert set(results) == {"linear_pvt_tiny", "saga_pvt_tiny"} and len(results["saga_pvt_tiny"]) == 8
    assert (tmp_path / "rank.png").stat().st_size > 0 and "| saga_pvt_tiny |" in (tmp_path / "rank.md").read_text()
    assert main(["rank", "--model", "no_such_model", "--out", str(tmp_path)]) == 2
    assert "unknown model 'no_such_model'" in capsys.readouterr().err


def test_rank_says_when_the_sources_are_not_like_for_like(tmp_path):
    from saga_attention.study import caveats

    run = tmp_path / "run"
    run.mkdir()
    notes = caveats([str(run), "saga_pvt_tiny"], [torch.zeros(4, 3, 64, 64), torch.zeros(8, 3, 224, 224)], 8)
    assert len(notes) == 3
    assert "trained runs and fresh (untrained) weights" in notes[0]
    assert "64x64, 224x224" in notes[1] and "8 images were asked for; 4 or 8 were available" in notes[2]
    assert caveats(["linear_pvt_tiny", "saga_pvt_tiny"], [torch.zeros(8, 3, 64, 64)] * 2, 8) == []
