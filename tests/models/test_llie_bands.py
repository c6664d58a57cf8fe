"""The exact banded pass of the low-light nets: the same output as one pass, for any band, size and mixer that
has it; the band helper on plain convs; the enhancer's plan; bad settings."""
import copy

import numpy as np
import pytest
import torch
from skimage import data

import saga_attention as sa
from saga_attention.enhancement import Enhancer
from saga_attention.enhancement.tiles import MemoryModel, plan_bands
from saga_attention.metrics import psnr
from saga_attention.models.llie_bands import map_in_bands, resident_channels


def random_net(name: str) -> torch.nn.Module:
    """A net whose every weight is random (gate biases too), so that no gate or branch is trivially off."""
    net = sa.create_model(name).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 0.3 if p.dim() > 1 else 0.5)
    return net


@pytest.mark.parametrize("name", ["saga_llie_tiny", "llie_linear_tiny"])
@pytest.mark.parametrize("hw,band", [((37, 53), 8), ((130, 77), 16), ((64, 64), 40), ((201, 30), 24)])
@torch.inference_mode()
def test_bands_give_the_one_pass_output(name, hw, band):
    """In float64, so that what is left is rounding: fp32 passes differ by their own rounding (the next test)."""
    net = random_net(name).double()
    x = torch.rand(2, 3, *hw, dtype=torch.float64)
    whole = net(x)
    banded = net(x, band_rows=band)
    assert banded.shape == whole.shape
    assert (banded - whole).abs().max() < 1e-10 * whole.abs().max()


def test_a_wrong_halo_would_show():
    """The equality above can fail: the same bands without the block's halo differ from one pass."""
    net = random_net("saga_llie_tiny")
    for block in net.modules():
        if hasattr(block, "forward_state"):
            block.halo = lambda: 0
    x = torch.rand(1, 3, 64, 48)
    with torch.inference_mode():
        assert (net(x, band_rows=16) - net(x)).abs().max() > 1e-3


@pytest.mark.parametrize("stride,halo", [(1, 2), (2, 2)])
def test_map_in_bands_equals_the_whole_map_for_local_functions(stride, halo):
    conv = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.GELU(),
                               torch.nn.Conv2d(4, 4, 3, padding=1)) if stride == 1 else \
        torch.nn.Conv2d(3, 4, 4, stride=2, padding=1)
    x = torch.randn(1, 3, 42, 10)
    with torch.no_grad():
        whole = conv(x)
        out = map_in_bands(conv, x, torch.full_like(whole, float("nan")), 6, halo, stride)
    assert torch.allclose(out, whole, atol=1e-6)


def test_map_in_bands_in_place_keeps_the_rows_the_next_band_needs():
    smooth = torch.nn.Conv2d(2, 2, 3, padding=1)
    x = torch.randn(1, 2, 29, 7)
    with torch.no_grad():
        whole = x + smooth(smooth(x))
        map_in_bands(lambda rows: rows + smooth(smooth(rows)), x, x, 5, 2)
    assert torch.allclose(x, whole, atol=1e-6)


def test_training_ignores_bands_and_gradients_flow():
    net = sa.create_model("saga_llie_tiny:band_rows=8").train()
    x = torch.rand(1, 3, 40, 40)
    net(x).mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_bad_band_settings_are_value_errors():
    with pytest.raises(ValueError, match="whole number >= 0"):
        sa.create_model("saga_llie_tiny:band_rows=-1")
    with pytest.raises(ValueError, match="band_rows"):
        sa.create_model("llie_channel_tiny:band_rows=32")        # not an option of the channel net
    with pytest.raises(ValueError, match="only nets with a saga or linear mixer"):
        with torch.inference_mode():
            sa.create_model("llie_window_tiny")(torch.rand(1, 3, 64, 64), band_rows=16)
    with pytest.raises(ValueError, match="--band needs a net with a saga or linear mixer"):
        Enhancer(sa.create_model("llie_channel_tiny"), device="cpu", band=16)
    with pytest.raises(ValueError, match="or at least 8 rows"):
        Enhancer(sa.create_model("saga_llie_tiny"), device="cpu", band=4)
    assert Enhancer(sa.create_model("saga_llie_tiny"), device="cpu", band=0, max_memory=1e10).plan(600, 900) == \
        ("whole", 0)                                                   # band=0: no bands, even on the CPU


def test_the_plan_bands_on_the_cpu_and_runs_whole_images_on_a_gpu_when_they_fit():
    memory, resident = MemoryModel(fixed=1e7, per_pixel=1000.0), 200.0
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert plan_bands(memory, 4000, 6000, 16e9, resident, cpu) == ("bands", 32)
    assert plan_bands(memory, 1000, 1000, 16e9, resident, gpu) == ("whole", 0)
    assert plan_bands(memory, 4000, 6000, 1e12, resident, gpu) == ("bands", 256)    # fits, but bands are faster
    kind, rows = plan_bands(memory, 4000, 6000, 16e9, resident, gpu)
    assert kind == "bands" and rows % 8 == 0 and 8 <= rows <= 256
    assert memory.fixed + resident * 24e6 + 2 * memory.per_pixel * rows * 6000 <= 16e9
    with pytest.raises(ValueError, match="raise --max-memory"):
        plan_bands(memory, 4000, 6000, 4e9, resident, gpu)      # the resident maps alone need 4.8 GB


def test_resident_channels_count_one_map_per_level():
    net = sa.create_model("saga_llie_tiny")                     # widths 24, 48, 96
    assert resident_channels(net) == 12 + 7 + 24 + 48 / 4 + 96 / 16   # input with its views, head's map
    assert resident_channels(sa.create_model("saga_llie_tiny:input_views=false")) == 3 + 3 + 24 + 48 / 4 + 96 / 16


def test_the_shipped_net_in_bands_matches_one_pass_on_a_photo():
    """The seam target of tiles (40 dB against the whole image), for the banded pass: exact up to rounding."""
    photo = data.chelsea()[:192, :256].astype(np.float32) / 255 * 0.15
    whole = Enhancer(device="cpu")
    assert whole.plan(192, 256) == ("whole", 0)
    banded = Enhancer(device="cpu", band=16)
    assert banded.plan(192, 256) == ("bands", 16)
    a, b = whole(photo), banded(photo)
    with torch.inference_mode():                                 # float64: the output without rounding
        ref = copy.deepcopy(whole.model).double()(torch.from_numpy(photo).double().permute(2, 0, 1)[None])
    ref = ref.clamp(0, 1)[0].permute(1, 2, 0).numpy()
    assert np.abs(b - ref).max() <= 2 * np.abs(a - ref).max() + 1e-6     # no worse than one pass's fp32 rounding
    score = psnr(torch.from_numpy(b).permute(2, 0, 1)[None], torch.from_numpy(a).permute(2, 0, 1)[None])[0]
    assert score > 50, score                    # as saved (8 bits); inf where no pixel rounds differently


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_bands_on_the_gpu_are_as_close_to_float64_as_one_pass(dtype):
    """On CUDA the states come from the Triton state kernel and the bands from its output kernel; the convs may
    take TF32 or bf16 paths that differ with the shape, so each pass is held to the float64 output."""
    net = random_net("saga_llie_small")
    x = torch.rand(1, 3, 301, 517)
    with torch.inference_mode():
        ref = copy.deepcopy(net).double()(x.double())
        gpu, xg = net.cuda().to(dtype), x.cuda().to(dtype)
        whole, banded = (gpu(xg, band_rows=rows).double().cpu() for rows in (0, 64))
    error = [((out - ref).norm() / ref.norm()).item() for out in (whole, banded)]
    assert error[1] <= 2 * error[0] + 1e-5, error
