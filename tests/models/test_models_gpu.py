"""The models on CUDA: training in bf16, compiled against eager, bands against one pass, the low-light nets'
fast paths (skipped without a GPU)."""
import pytest
import torch

import saga_attention as sa

pytestmark = pytest.mark.gpu


def relative(x, ref):
    assert not torch.isnan(x).any()
    return ((x.double() - ref).norm() / ref.norm().clamp_min(1e-12)).item()


def test_enhancement_decoder_blocks_take_channels_last_maps():
    # CUDA's pixel shuffle returns contiguous maps: a decoder block's residual adds then took the strided path
    model = sa.create_model("saga_llie_tiny").cuda().eval().bfloat16()
    seen = []
    for decoder in model.decoders:
        decoder.register_forward_pre_hook(lambda module, args: seen.append(
            args[0].is_contiguous(memory_format=torch.channels_last)))
    with torch.no_grad():
        model(torch.rand(1, 3, 64, 96, device="cuda", dtype=torch.bfloat16))
    assert seen == [True, True]


@pytest.mark.parametrize("name", ["pvt_tiny", "saga_pvt_tiny", "linear_pvt_tiny", "focused_pvt_tiny"])
def test_models_train_on_cuda_in_bf16(name):
    model = sa.create_model(name, num_classes=10).cuda()
    x = torch.randn(2, 3, 256, 320, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(x).float().logsumexp(-1).mean()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_compiled_saga_model_matches_eager():
    # drop path off: in training mode it drops whole samples, and compiled code draws other random numbers
    model = sa.create_model("saga_pvt_tiny", num_classes=10, drop_path_rate=0.0).cuda()
    compiled = torch.compile(model, fullgraph=True)
    x = torch.randn(2, 3, 256, 320, device="cuda")
    results = []
    for m in (model, compiled):
        model.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = m(x).float()
        out.logsumexp(-1).mean().backward()
        results.append((out.detach(), model.stages[0].patch_embed.proj.weight.grad.clone()))
    assert relative(results[1][0], results[0][0].double()) < 2e-2
    assert relative(results[1][1], results[0][1].double()) < 5e-2


@pytest.mark.parametrize("compiled", [False, True])
def test_saga_model_in_bands_matches_the_whole_map_pass(compiled):
    whole = sa.create_model("saga_pvt_tiny", num_classes=10).cuda().eval().bfloat16()
    banded = sa.create_model("saga_pvt_tiny:band_rows=24", num_classes=10).cuda().eval().bfloat16()
    banded.load_state_dict(whole.state_dict())
    x = torch.randn(2, 3, 256, 320, device="cuda", dtype=torch.bfloat16)      # stage 1: 64 rows, bands of 24
    with torch.no_grad():
        ref = whole(x).double()
        out = (torch.compile(banded, fullgraph=True) if compiled else banded)(x)
    assert relative(out, ref) < 2e-2


@pytest.mark.parametrize("name", ["saga_llie_small", "llie_channel_small", "retinexformer"])
def test_compiled_enhancement_net_matches_eager(name):
    # the nets bench compiled at photo sizes: channels-last maps, 1x1 convs as matrix products, the gate kernel
    model = sa.create_model(name).cuda().eval().bfloat16()
    x = torch.rand(1, 3, 270, 484, device="cuda", dtype=torch.bfloat16)   # padded to the net's multiple
    with torch.inference_mode():
        eager = model(x)
        compiled = torch.compile(model, fullgraph=True)(x)
    assert compiled.shape == eager.shape == x.shape
    assert relative(compiled, eager.double()) < 2e-2
