"""CUDA checks of both backends and the models (skipped without a GPU)."""
import pytest
import torch

import saga_attention as sa
from saga_attention.ops import saga_attention_reference
from saga_attention.ops.norm import TRAIN_MIN_ROWS

pytestmark = pytest.mark.gpu

KERNEL_TOL = {torch.float32: 1e-5, torch.float16: 5e-3, torch.bfloat16: 1e-2}


@pytest.fixture
def poisoned(monkeypatch):
    """Every buffer the kernels write starts as NaN, so an element they skip fails the test."""
    from saga_attention.ops.saga import launch as kernels

    monkeypatch.setattr(kernels, "_alloc", lambda like, shape, dtype=None: like.new_full(
        shape, float("nan"), dtype=dtype))


def fused_inputs(n, heads, dk, dv, dtype, batch=1):
    """q, k, v, g_k, g_v as strided slices of one (B, N, 5-way) projection, as the layers pass them."""
    widths = [heads * dk, heads * dk, heads * dv, heads * dk, heads * dv]
    fused = torch.randn(batch, n, sum(widths), device="cuda", dtype=dtype)
    q, k, v, gk, gv = (t.unflatten(-1, (heads, -1)) for t in fused.split(widths, dim=-1))
    return [q, k, v * 100, gk, gv]  # v * 100: fp16 sums of these overflow unless accumulated in fp32


def relative(x, ref):
    assert not torch.isnan(x).any()
    return ((x.double() - ref).norm() / ref.norm().clamp_min(1e-12)).item()


def test_enhancement_blocks_and_pvt_norms_keep_their_fast_paths(monkeypatch):
    # CUDA's pixel shuffle returns contiguous maps: a decoder block's residual adds then took the strided path
    model = sa.create_model("saga_llie_tiny").cuda().eval().bfloat16()
    seen = []
    for decoder in model.decoders:
        decoder.register_forward_pre_hook(lambda module, args: seen.append(
            args[0].is_contiguous(memory_format=torch.channels_last)))
    with torch.no_grad():
        model(torch.rand(1, 3, 64, 96, device="cuda", dtype=torch.bfloat16))
    assert seen == [True, True]
    # PVT's LayerNorms run the narrow-row kernel in inference, and it matches F.layer_norm
    norm = sa.layers.LayerNorm(64, eps=1e-6).cuda()
    torch.nn.init.normal_(norm.weight), torch.nn.init.normal_(norm.bias)
    x = torch.randn(4, 1000, 64, device="cuda", dtype=torch.bfloat16) * 3 + 1
    from saga_attention.ops.norm import kernels as norm_kernels

    calls, kernel = [], norm_kernels.layer_norm_triton
    monkeypatch.setattr(norm_kernels, "layer_norm_triton", lambda *args: calls.append(1) or kernel(*args))
    with torch.no_grad():
        ref = torch.nn.functional.layer_norm(x.float(), (64,), norm.weight, norm.bias, 1e-6)
        assert relative(norm.bfloat16()(x), ref.double()) < 1e-2
    assert calls == [1]


@pytest.mark.parametrize("rows,kernel", [(1000, False), (TRAIN_MIN_ROWS, True)])
def test_layer_norm_auto_trains_through_the_kernel_only_on_large_norms(rows, kernel):
    norm = sa.layers.LayerNorm(64, eps=1e-6).cuda()
    x = torch.randn(1, rows, 64, device="cuda", requires_grad=True)
    out = norm(x)
    assert ("NativeLayerNorm" not in type(out.grad_fn).__name__) == kernel, type(out.grad_fn).__name__
    out.sum().backward()
    assert x.grad is not None and norm.weight.grad is not None


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_layer_norm_kernel_backward_matches_aten_in_float64(dtype):
    # the opt-in training path of layers.LayerNorm (backend "triton"): PVT-T stage 1's width, many programs
    norm = sa.layers.LayerNorm(64, eps=1e-6).cuda()
    torch.nn.init.normal_(norm.weight), torch.nn.init.normal_(norm.bias)
    norm.backend = "triton"
    x = (torch.randn(4, 10007, 64, device="cuda") * 3 + 1).to(dtype).requires_grad_()
    grad = torch.randn(4, 10007, 64, device="cuda").to(dtype)
    got = torch.autograd.grad(norm.to(dtype)(x), (x, norm.weight, norm.bias), grad)
    leaves = [t.detach().double().requires_grad_() for t in (x, norm.weight, norm.bias)]
    ref = torch.nn.functional.layer_norm(leaves[0], (64,), leaves[1], leaves[2], 1e-6)
    want = torch.autograd.grad(ref, leaves, grad.double())
    for g, w in zip(got, want):
        assert relative(g, w) < KERNEL_TOL[dtype] * 10


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("n", [1, 63, 1000, 65537, 1048576])
@pytest.mark.parametrize("d", [16, 32, 64, 128])
def test_triton_kernels_match_float64(poisoned, dtype, n, d):
    inputs = [t.detach().requires_grad_() for t in fused_inputs(n, 2 if n < 65536 else 1, d, d, dtype)]
    check_triton_against_float64(inputs, KERNEL_TOL[dtype], grads=n > 1)


@pytest.mark.parametrize("dk,dv", [(48, 96), (128, 16), (24, 40)])
def test_triton_kernels_with_unequal_head_dims(poisoned, dk, dv):
    for contiguous in (False, True):
        inputs = fused_inputs(4099, 3, dk, dv, torch.bfloat16, batch=2)
        inputs = [(t.contiguous() if contiguous else t).detach().requires_grad_() for t in inputs]
        check_triton_against_float64(inputs, KERNEL_TOL[torch.bfloat16], grads=True)


def check_triton_against_float64(inputs, tol, grads):
    ref_inputs = [t.detach().double().requires_grad_() for t in inputs]
    out = sa.saga_attention(*inputs, backend="triton")
    ref = saga_attention_reference(*ref_inputs)
    assert out.dtype == inputs[0].dtype and torch.isfinite(out).all()
    assert relative(out, ref) < tol
    grad_out = torch.randn_like(out)
    out.backward(grad_out)
    ref.backward(grad_out.double())
    for name, t, r in zip(["q", "k", "v", "g_k", "g_v"], inputs, ref_inputs):
        assert t.grad is not None and torch.isfinite(t.grad).all(), name
        if grads:  # with one token y does not depend on q or k: nothing to compare in relative terms
            assert relative(t.grad, r.grad) < tol, name


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


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float16, 1e-2), (torch.bfloat16, 2e-2)])
@pytest.mark.parametrize("n", [1, 1000, 65537])
def test_op_on_cuda_matches_float64(dtype, tol, n):
    shapes = [(2, n, 2, 64), (2, n, 2, 64), (2, n, 2, 48), (2, n, 2, 64), (2, n, 2, 48)]
    inputs = [torch.randn(s, device="cuda", dtype=dtype) for s in shapes]
    inputs[2] = inputs[2] * 100  # sums of fp16 values this large overflow unless accumulated in fp32
    out = sa.saga_attention(*inputs)
    ref = saga_attention_reference(*[t.double().cpu() for t in inputs])
    assert out.dtype == dtype and torch.isfinite(out).all()
    err = ((out.double().cpu() - ref).norm() / ref.norm()).item()
    assert err < tol


@pytest.mark.parametrize("name", ["pvt_tiny", "saga_pvt_tiny", "linear_pvt_tiny", "focused_pvt_tiny"])
def test_models_train_on_cuda_in_bf16(name):
    model = sa.create_model(name, num_classes=10).cuda()
    x = torch.randn(2, 3, 256, 320, device="cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(x).float().logsumexp(-1).mean()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_timm_registration():
    timm = pytest.importorskip("timm")
    model = timm.create_model("saga_pvt_tiny", num_classes=7)
    assert model(torch.randn(1, 3, 224, 224)).shape == (1, 7)
    with pytest.raises(ValueError, match="no pretrained weights"):
        timm.create_model("saga_pvt_tiny", pretrained=True)
