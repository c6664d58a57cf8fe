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
