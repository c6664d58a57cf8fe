"""The models through timm itself, where timm imports (the GPU image has it; with the CPU torch of the tests it
does not): creation, features_only, forward_intermediates, FeatureInfo and resolve_data_config."""
import math

import pytest
import torch

import saga_attention as sa

pytestmark = pytest.mark.gpu


def test_timm_builds_the_models_and_refuses_weights_that_do_not_ship():
    timm = pytest.importorskip("timm")
    model = timm.create_model("saga_pvt_tiny", num_classes=7)
    assert model(torch.randn(1, 3, 224, 224)).shape == (1, 7)
    with pytest.raises(ValueError, match="no weights are shipped for saga_pvt_tiny"):
        timm.create_model("saga_pvt_tiny", pretrained=True)


def test_timm_knows_the_pretrained_configs_of_the_classifiers_and_none_for_the_enhancement_nets():
    timm = pytest.importorskip("timm")
    import saga_attention.models  # noqa: F401  (registers the models with timm)

    for name in sa.list_models(task="classify"):
        cfg = timm.models.get_pretrained_cfg(name)
        assert (cfg.input_size, cfg.pool_size, cfg.classifier) == ((3, 224, 224), (7, 7), "head"), name
    assert set(sa.list_models(task="classify")) <= set(timm.list_models(name_matches_cfg=True))
    assert not set(sa.list_models(task="enhance")) & set(timm.list_models(name_matches_cfg=True))

@pytest.mark.parametrize("name", sa.list_models("*_tiny", task="classify") + sa.list_models("*_small", task="classify"))
def test_timm_feature_contract(name):
    """Every attention kind at two sizes (the larger sizes differ only in depth and width, which the CPU tests
    cover)."""
    timm = pytest.importorskip("timm")
    from timm.data import resolve_data_config

    x = torch.randn(1, 3, 96, 160, device="cuda")
    features = timm.create_model(name, features_only=True).cuda().eval()
    channels, reduction = features.feature_info.channels(), features.feature_info.reduction()
    with torch.no_grad():
        maps = features(x)
    assert len(maps) == len(channels) == 4
    for c, r, m in zip(channels, reduction, maps):
        assert m.shape[1] == c and m.shape[2] <= math.ceil(96 / r) + 1 and m.shape[3] <= math.ceil(160 / r) + 1
    model = timm.create_model(name).cuda().eval()
    info = timm.models.FeatureInfo(model.feature_info, len(model.feature_info))
    with torch.no_grad():
        output, intermediates = model.forward_intermediates(x, output_fmt="NCHW")
        assert [t.shape[1] for t in intermediates] == info.channels()
        assert torch.allclose(output, model.forward_features(x))
        model.set_grad_checkpointing()
        again, _ = model.forward_intermediates(x)
    assert torch.allclose(output, again, rtol=1e-4, atol=1e-5)
    assert resolve_data_config({}, model=model)["input_size"] == (3, 224, 224)


@pytest.mark.parametrize("name", ["saga_pvt_tiny", "saga_llie_tiny"])
def test_timm_overlay_and_hub_round_trips_give_identical_outputs(name, tmp_path):
    """A user's file through pretrained_cfg_overlay, and timm's save_for_hf then local-dir:, load the same weights;
    timm's device and dtype arguments are taken."""
    timm = pytest.importorskip("timm")
    model = timm.create_model(name, device="cpu", dtype=torch.float32).eval()
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        want = model(x)
    path = sa.models.save_checkpoint(model, tmp_path / "mine.safetensors")
    overlay = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path))).eval()
    timm.models.save_for_hf(model, tmp_path / "hub")
    hub = timm.create_model(f"local-dir:{tmp_path / 'hub'}", pretrained=True).eval()
    with torch.no_grad():
        assert torch.equal(overlay(x), want) and torch.equal(hub(x), want)
