"""The low-light enhancement nets: every mixer variant and the Retinexformer anchor."""
import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import saga_attention as sa
from saga_attention.models import model_config, save_checkpoint
from saga_attention.models.llie import MIXERS

ENHANCE = sa.list_models(task="enhance")


def test_the_enhancement_models_are_registered():
    assert "retinexformer" in ENHANCE and "saga_llie_tiny" in ENHANCE and "saga_llie_small" in ENHANCE
    assert len(ENHANCE) == 2 * len(MIXERS) + 1
    assert all(model_config(n).task == "enhance" and model_config(n).out_chans == 3 for n in ENHANCE)


@pytest.mark.parametrize("name", ENHANCE)
def test_any_size_in_same_size_out_and_every_parameter_learns(name, tmp_path):
    model = sa.create_model(name).eval()
    with torch.no_grad():
        for size in [(1, 1), (5, 3), (37, 45), (64, 64)]:
            x = torch.rand(1, 3, *size)
            y = model(x)
            assert y.shape == x.shape and torch.isfinite(y).all(), size
    model.train()
    model(torch.rand(2, 3, 24, 40)).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, missing
    path = save_checkpoint(model.eval(), tmp_path / "w.safetensors")
    x = torch.rand(1, 3, 20, 28)
    with torch.no_grad():
        assert torch.equal(sa.create_model(name, checkpoint_path=path).eval()(x), model(x))
    with pytest.raises(ValueError, match="floating-point"):
        model(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))


@pytest.mark.parametrize("size,target", [("tiny", 0.5e6), ("small", 1.6e6)])
def test_every_mixer_has_sagas_parameter_budget(size, target):
    counts = {m: sum(p.numel() for p in sa.create_model(
        f"saga_llie_{size}" if m == "saga" else f"llie_{m}_{size}").parameters()) for m in MIXERS}
    assert abs(counts["saga"] / target - 1) < 0.05, counts
    assert all(abs(n / counts["saga"] - 1) <= 0.05 for n in counts.values()), counts


def test_retinexformer_matches_the_published_size_and_cost():
    model = sa.create_model("retinexformer").eval()
    params = sum(p.numel() for p in model.parameters())
    assert abs(params / 1.61e6 - 1) < 0.01, params
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.rand(1, 3, 256, 256))
    macs = counter.get_total_flops() / 2
    assert abs(macs / 16.7e9 - 1) < 0.05, macs          # the published 15.57 G counts in units of 2^30


def test_pointwise_conv_is_the_1x1_conv_in_either_layout():
    from saga_attention.models.llie import PointwiseConv

    conv = PointwiseConv(6, 10)
    x = torch.randn(2, 6, 5, 7)
    ref = torch.nn.functional.conv2d(x, conv.weight, conv.bias)
    for layout in (torch.contiguous_format, torch.channels_last):
        out = conv(x.contiguous(memory_format=layout))
        assert torch.allclose(out, ref, atol=1e-6)
        assert out.is_contiguous(memory_format=layout)


def test_pixel_shuffle_keeps_the_layout_and_the_values():
    from saga_attention.models.llie import PixelShuffle

    x = torch.randn(2, 12, 5, 7)
    ref = torch.nn.functional.pixel_shuffle(x, 2)
    for layout in (torch.contiguous_format, torch.channels_last):
        out = PixelShuffle(2)(x.contiguous(memory_format=layout))
        assert torch.equal(out, ref)
        assert out.is_contiguous(memory_format=layout)



def test_stretched_views_undo_an_srgb_scaling_a_linear_exposure_and_a_gamma_curve():
    from saga_attention.data.darkening import MID_SRGB, linear_to_srgb, srgb_to_linear
    from saga_attention.enhancement.baselines import gamma
    from saga_attention.models.llie import stretched_views

    image = torch.rand(1, 3, 6, 7, generator=torch.Generator().manual_seed(0)).double()
    image[..., 2:5, 2:5] = 1.0                               # a bright patch sets the peak after 3x3 averaging
    srgb_scaled = stretched_views(image * 0.1)
    assert srgb_scaled.shape == (1, 12, 6, 7)
    assert torch.equal(srgb_scaled[:, :3], image * 0.1)
    assert torch.allclose(srgb_scaled[:, 3:6], image, atol=1e-12)
    exposed = torch.from_numpy(linear_to_srgb(srgb_to_linear(image.numpy()) * 0.05))
    assert torch.allclose(stretched_views(exposed)[:, 6:9], image, atol=1e-9)
    assert not torch.allclose(stretched_views(exposed)[:, 3:6], image, atol=1e-2)   # each view undoes one kind
    gray = stretched_views(torch.full((1, 3, 4, 4), 0.2, dtype=torch.float64) ** 3)  # a flat gray sunk by a gamma 3
    assert torch.allclose(gray[:, 9:], torch.full_like(gray[:, 9:], MID_SRGB))  # lifted to mid-gray
    assert (gray[:, 3:6] - MID_SRGB).abs().min() > 0.3               # which the sRGB stretch overshoots to white
    sunk = np.concatenate([image.numpy() ** 3, image.numpy() ** 1.5])          # two images, each with its own mean
    lifted = stretched_views(torch.from_numpy(sunk))[:, 9:].numpy()
    assert all(np.allclose(lifted[i], gamma(sunk[i])) for i in range(2))        # the gamma baseline, per image
    black = stretched_views(torch.zeros(1, 3, 4, 4))
    assert torch.equal(black, torch.zeros(1, 12, 4, 4))


def test_the_output_blends_the_views_by_the_heads_softmax_plus_its_residual():
    net = sa.create_model("saga_llie_tiny")
    padded = torch.rand(2, 12, 4, 5, generator=torch.Generator().manual_seed(0))
    head = torch.zeros(2, 7, 4, 5)
    head[:, 3 + 2] = 50.0                                                    # all the weight on the third view
    assert torch.allclose(net.compose(head, padded), padded[:, 6:9])
    head[:, :3], head[:, 3:] = 0.25, 0.0                                     # a residual and equal weights
    assert torch.allclose(net.compose(head, padded), padded.unflatten(1, (4, 3)).mean(dim=1) + 0.25)


@pytest.mark.parametrize("name", ["saga_llie_tiny", "retinexformer:input_views=true"])
def test_input_views_change_the_first_layer_and_the_blending_head_only_and_can_be_turned_off(name):
    on, off = sa.create_model(name), sa.create_model(name.split(":")[0] + ":input_views=false")
    first = {"saga_llie_tiny": "stem.weight", "retinexformer": "estimator.inp.weight"}[name.split(":")[0]]
    shapes = {n: p.shape for n, p in on.named_parameters()}
    changed = [n for n, p in off.named_parameters() if p.shape != shapes[n]]
    assert changed[0] == first and shapes[first][1] == off.get_parameter(first).shape[1] + 9
    assert changed[1:] == (["head.weight", "head.bias"] if first == "stem.weight" else [])  # the blend weights

