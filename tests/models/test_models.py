"""timm-style contract test for every registered model, plus checkpoints and input checks."""
import math
import re

import pytest
import torch

import saga_attention as sa
from saga_attention.models import (
    FeatureInfo,
    PyramidVisionTransformer,
    load_checkpoint,
    model_config,
    parse_model_spec,
    save_checkpoint,
    split_specs,
)

ALL_MODELS = sa.list_models(task="classify")       # the PVT family; the enhancement nets: test_llie.py
# medium and large run tiny's and small's code with more blocks: their contract runs in the slow suite
EVERY_MODEL = [pytest.param(n, marks=pytest.mark.slow) if n.endswith(("_medium", "_large")) else n for n in ALL_MODELS]


def test_registry_names():
    for kind in ("pvt", "global_pvt", "saga_pvt", "linear_pvt", "focused_pvt", "agent_pvt", "mala_pvt"):
        for size in ("tiny", "small", "medium", "large"):
            assert f"{kind}_{size}" in ALL_MODELS
    assert sa.list_models("saga_pvt_*") == [n for n in ALL_MODELS if n.startswith("saga_")]


def test_pvt_tiny_has_13_2m_parameters():
    n = sum(p.numel() for p in sa.create_model("pvt_tiny").parameters())
    assert abs(n / 13.2e6 - 1) < 0.01, n


@pytest.mark.parametrize("name", EVERY_MODEL)
def test_model_contract(name, tmp_path):
    """timm's model contract, with the assertions of timm's tests/test_models.py (forward, backward, default
    cfgs, forward_intermediates, features_only), on the CPU and without timm."""
    model = sa.create_model(name, num_classes=10).eval()
    assert model.num_features == model.head_hidden_size == 512 and model.model_name == name
    cfg, state = model.default_cfg, model.state_dict()
    assert cfg is model.pretrained_cfg and cfg["num_classes"] == 10 and cfg["input_size"] == (3, 224, 224)
    assert cfg["classifier"] + ".weight" in state and cfg["first_conv"] + ".weight" in state
    assert {"mean", "std", "crop_pct", "interpolation", "pool_size"} <= set(cfg)
    with torch.no_grad():
        for size in [cfg["input_size"][1:], (256, 320)]:
            x = torch.randn(1, 3, *size)
            logits = model(x)
            assert logits.shape == (1, 10) and torch.isfinite(logits).all()
            features = model.forward_features(x)
            assert features.shape == (1, 512, size[0] // 32, size[1] // 32)
            assert model.forward_head(features, pre_logits=True).shape == (1, model.head_hidden_size)
    assert features.shape[-2:] != cfg["pool_size"] and model.forward_features(
        torch.randn(1, *cfg["input_size"])).shape[-2:] == cfg["pool_size"]

    model.train()  # one training step: every parameter gets a finite gradient
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 3, 64, 96)), torch.tensor([1, 7]))
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} has no grad"
        assert torch.isfinite(p.grad).all(), f"{pname} has a non-finite grad"
    before = next(model.parameters()).detach().clone()
    opt.step()
    assert not torch.equal(before, next(model.parameters()))

    names = dict(model.named_parameters())      # the optimiser's groups: decay and no decay
    skip = model.no_weight_decay()
    assert skip <= set(names) and {f"stages.{i}.pos_embed" for i in range(4)} <= skip
    assert all(n in skip for n, p in names.items() if p.ndim == 1) and "stages.0.patch_embed.proj.weight" not in skip
    for coarse in (False, True):                 # layer-wise lr decay: every parameter but the head is grouped
        matcher = model.group_matcher(coarse)
        patterns = [matcher["stem"]] + [pattern for pattern, _ in matcher["blocks"]]
        assert all(any(re.match(p, n) for p in patterns) for n in names if not n.startswith("head."))

    model.eval()  # state_dict round trip through safetensors
    path = save_checkpoint(model, tmp_path / "w.safetensors")
    clone = sa.create_model(name, num_classes=10, checkpoint_path=path).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(clone(x), model(x), rtol=0, atol=0)

    model.reset_classifier(3)
    assert model(x).shape == (1, 3)
    model.reset_classifier(0)
    assert model.num_classes == 0 and model(x).shape == (1, model.head_hidden_size)
    model.reset_classifier(0, "")
    assert model(x).shape == (1, 512, 2, 2)
    assert sa.create_model(name, num_classes=0, global_pool="")(x).shape == (1, 512, 2, 2)


@pytest.mark.parametrize("name", EVERY_MODEL)
def test_forward_intermediates(name):
    model = sa.create_model(name).eval()
    info = FeatureInfo(model.feature_info, range(len(model.feature_info)))
    x = torch.randn(1, 3, 96, 160)
    output, intermediates = model.forward_intermediates(x)
    assert len(intermediates) == len(info.channels()) == 4
    for c, r, o in zip(info.channels(), info.reduction(), intermediates):
        assert o.shape[1] == c and o.shape[0] == 1 and not torch.isnan(o).any()
        assert o.shape[2] <= math.ceil(96 / r) + 1 and o.shape[3] <= math.ceil(160 / r) + 1
    assert torch.allclose(output, model.forward_features(x))
    model.set_grad_checkpointing()
    output3, _ = model.forward_intermediates(x)
    assert torch.allclose(output, output3, rtol=1e-4, atol=1e-5)
    last_two = model.forward_intermediates(x, indices=2, intermediates_only=True, stop_early=True)
    assert [t.shape[1] for t in last_two] == [320, 512] and torch.equal(last_two[0], intermediates[2])
    normed = model.forward_intermediates(x, indices=[-1], norm=True, intermediates_only=True)[0]
    assert torch.allclose(normed, output)
    assert model.prune_intermediate_layers([0, 1]) == [0, 1] and len(model.stages) == 2
    pruned = model.forward_intermediates(x, indices=[0, 1], intermediates_only=True)
    assert all(torch.equal(a, b) for a, b in zip(pruned, intermediates[:2]))
    with pytest.raises(ValueError, match="indices must be stage numbers from -2 to 1"):
        model.forward_intermediates(x, indices=[3])


@pytest.mark.parametrize("name", EVERY_MODEL)
def test_features_only(name):
    model = sa.create_model(name, features_only=True).eval()
    assert isinstance(model.feature_info, FeatureInfo)
    assert model.feature_info.reduction() == [4, 8, 16, 32] and model.feature_info.channels() == [64, 128, 320, 512]
    assert model.feature_info.module_name() == [f"stages.{i}" for i in range(4)]
    with torch.no_grad():
        maps = model(torch.randn(2, 3, 96, 160))
    assert [tuple(m.shape) for m in maps] == [(2, 64, 24, 40), (2, 128, 12, 20), (2, 320, 6, 10), (2, 512, 3, 5)]
    assert not hasattr(model, "head")
    some = sa.create_model(name, features_only=True, out_indices=(1, 3))
    assert some.feature_info.reduction() == [8, 32] and some.feature_info.channels(1) == 512
    assert len(some(torch.randn(1, 3, 64, 64))) == 2


def test_attention_options_reach_every_block():
    model = sa.create_model("saga_pvt_tiny", attn_kwargs={"gate_bias_init": 2.0, "gate_granularity": "head"})
    attns = [b.attn for s in model.stages for b in s.blocks]
    assert len(attns) == 8
    for attn in attns:  # the model's own initialisation must not overwrite the gate bias
        assert attn.gate_width == attn.num_heads and torch.all(attn.gate_bias() == 2.0)
    math = sa.create_model("pvt_tiny", attn_kwargs={"impl": "math"})
    assert {b.attn.impl for s in math.stages for b in s.blocks} == {"math"}


def test_position_embedding_is_interpolated_only_off_grid():
    stage = sa.create_model("pvt_tiny").stages[0]
    assert stage.position_embedding((56, 56)) is stage.pos_embed
    assert stage.position_embedding((8, 12)).shape == (1, 96, 64)


def test_the_resized_position_embedding_is_kept_in_inference_until_it_changes():
    stage = sa.create_model("pvt_tiny").stages[0]
    torch.nn.init.normal_(stage.pos_embed)
    trained = stage.position_embedding((8, 12))                         # with autograd: resized every call
    assert trained.requires_grad and stage.position_embedding((8, 12)) is not trained
    with torch.no_grad():
        kept = stage.position_embedding((8, 12))
        assert torch.equal(kept, trained) and stage.position_embedding((8, 12)) is kept
        assert stage.position_embedding((10, 12)).shape == (1, 120, 64)
        stage.pos_embed.mul_(2)                                           # an optimizer step, a load_state_dict
        assert torch.allclose(stage.position_embedding((8, 12)), 2 * trained)
    stage.load_state_dict({k: v.clone() * 0 for k, v in stage.state_dict().items()})
    with torch.inference_mode():
        assert stage.position_embedding((8, 12)).abs().sum() == 0


@pytest.mark.parametrize(
    "shape,message",
    [
        ((1, 3, 100, 224), "multiples of 32; got 100x224 .* 128x224"),
        ((1, 3, 224), r"input must be \(B, 3, H, W\)"),
        ((1, 1, 224, 224), r"input must be \(B, 3, H, W\)"),
    ],
)
def test_bad_input_size_raises(shape, message):
    with pytest.raises(ValueError, match=message):
        sa.create_model("saga_pvt_tiny")(torch.randn(shape))


def test_unknown_model_suggests_names():
    with pytest.raises(ValueError, match="unknown model 'saga_pvt_tyni'; did you mean saga_pvt_tiny"):
        sa.create_model("saga_pvt_tyni")


def test_checkpoint_of_another_model_is_refused(tmp_path):
    path = save_checkpoint(sa.create_model("pvt_tiny"), tmp_path / "pvt.safetensors")
    with pytest.raises(ValueError, match="holds weights of model 'pvt_tiny', not 'saga_pvt_tiny'"):
        sa.create_model("saga_pvt_tiny", checkpoint_path=path)


def test_checkpoint_with_missing_keys_or_shapes_is_refused(tmp_path):
    model = PyramidVisionTransformer(depths=(1, 1, 1, 1), num_classes=5)  # unnamed: keys decide
    path = save_checkpoint(model, tmp_path / "small.safetensors")
    bigger = PyramidVisionTransformer(depths=(1, 1, 2, 1), num_classes=7)
    with pytest.raises(ValueError, match=r"missing keys \(e.g. stages.2.blocks.1.*shape mismatches.*head.weight"):
        load_checkpoint(bigger, path)


def test_unreadable_checkpoint_is_reported(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file at all")
    with pytest.raises(ValueError, match="could not read .* as a safetensors checkpoint"):
        sa.create_model("pvt_tiny", checkpoint_path=bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        sa.create_model("pvt_tiny", checkpoint_path=tmp_path / "nothing.safetensors")


def test_img_size_must_be_divisible():
    with pytest.raises(ValueError, match="img_size must be a positive multiple of 32; got 200"):
        sa.create_model("pvt_tiny", img_size=200)


def test_uint8_input_is_a_clear_error():
    with pytest.raises(ValueError, match="floating-point tensor of normalised images; got torch.uint8"):
        sa.create_model("pvt_tiny")(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))


@pytest.mark.parametrize("kwargs,message", [
    ({"num_clases": 3}, "model pvt_tiny has no option 'num_clases'; did you mean num_classes"),
    ({"drop_path_rate": 5.0}, r"drop_path_rate must be in \[0, 1\); got 5.0"),
    ({"num_classes": -2}, "num_classes must be >= 0"),
    ({"qkv_bias": "yes"}, "option 'qkv_bias' of pvt_tiny must be true or false; got 'yes'"),
    ({"compile": True}, "compile is a setting of the run, not an option of model pvt_tiny"),
])
def test_bad_create_model_keywords_are_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sa.create_model("pvt_tiny", **kwargs)


def test_every_model_declares_what_it_is_for():
    for name in ALL_MODELS:
        config = model_config(name)
        assert (config.task, config.in_chans, config.out_chans, config.img_size, config.stride) == (
            "classify", 3, 1000, 224, 32)
    assert sa.list_models(task="classify") == ALL_MODELS and "saga_pvt_tiny" not in sa.list_models(task="enhance")


def test_model_specs_are_parsed_and_checked_once():
    spec = parse_model_spec("saga_pvt_tiny:gate_bias_init=2,value_gate=false, gate_granularity=head")
    assert spec.name == "saga_pvt_tiny" and dict(spec.options) == {
        "gate_bias_init": 2.0, "value_gate": False, "gate_granularity": "head"}
    assert isinstance(spec.options["gate_bias_init"], float)
    assert str(spec) == "saga_pvt_tiny:gate_bias_init=2.0,value_gate=false,gate_granularity=head"
    assert parse_model_spec(str(spec)) == spec
    assert dict(parse_model_spec("saga_pvt_tiny:eps=1e-3").options) == {"eps": 0.001}
    model = sa.create_model(spec, num_classes=3)
    attns = [b.attn for s in model.stages for b in s.blocks]
    assert all(a.gate_width == a.num_heads and not a.num_gates == 2 and torch.all(a.gate_bias() == 2.0)
               for a in attns)
    assert split_specs("pvt_tiny,saga_pvt_tiny:a=1,b=2,linear_pvt_tiny") == [
        "pvt_tiny", "saga_pvt_tiny:a=1,b=2", "linear_pvt_tiny"]


@pytest.mark.parametrize("spec,message", [
    ("saga_pvt_tiny:gate_bias=2", "has no option 'gate_bias'; did you mean gate_bias_init"),
    ("saga_pvt_tiny:value_gate=3", "option 'value_gate' of saga_pvt_tiny must be true or false; got 3"),
    ("pvt_tiny:math", "model spec options are key=value"),
    ("pvt_tiny:impl=[1,", "option 'impl' of pvt_tiny is not valid YAML"),
    ("saga_pvt_tyni", "unknown model 'saga_pvt_tyni'; did you mean saga_pvt_tiny"),
])
def test_bad_specs_give_the_same_error_everywhere(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_model_spec(spec)
    with pytest.raises(ValueError, match=message):
        sa.create_model(spec)


def _step(model, x, y):
    """Loss, gradients and the bytes autograd keeps for backward (outside checkpointed blocks) of one step."""
    saved = [0]

    def pack(t):
        saved[0] += t.numel() * t.element_size()
        return t

    model.zero_grad(set_to_none=True)
    torch.manual_seed(0)                       # the same drop-path masks
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()}, saved[0]


@pytest.mark.parametrize("name", ["saga_pvt_tiny", "pvt_tiny"])
def test_grad_checkpointing_gives_the_same_step_and_keeps_less(name):
    model = sa.create_model(name, num_classes=5, drop_path_rate=0.1).train()
    x, y = torch.randn(2, 3, 128, 128), torch.tensor([1, 3])
    loss, grads, kept = _step(model, x, y)
    model.set_grad_checkpointing(True)
    loss_ckpt, grads_ckpt, kept_ckpt = _step(model, x, y)
    assert loss_ckpt == pytest.approx(loss, rel=1e-6)
    for n in grads:
        torch.testing.assert_close(grads_ckpt[n], grads[n], rtol=1e-4, atol=1e-6, msg=n)
    assert kept_ckpt < 0.25 * kept, (kept_ckpt, kept)
    model.set_grad_checkpointing(False)
    assert _step(model, x, y)[2] == kept


def test_checkpoints_are_ordinary_files_and_broken_weights_are_refused(tmp_path):
    import os

    model = sa.create_model("linear_pvt_tiny", num_classes=3)
    path = save_checkpoint(model, tmp_path / "w.safetensors")
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask          # not the private mode of a temporary file
    with torch.no_grad():
        model.head.weight[0, 0] = float("inf")
    save_checkpoint(model, tmp_path / "inf.safetensors")
    with pytest.raises(ValueError, match=r"holds NaN or infinite values in 1 tensor\(s\) \(e.g. head.weight\)"):
        sa.create_model("linear_pvt_tiny", num_classes=3, checkpoint_path=str(tmp_path / "inf.safetensors"))


def test_device_and_dtype_are_taken_as_timm_passes_them():
    model = sa.create_model("saga_pvt_tiny", device="meta")
    assert {p.device.type for p in model.parameters()} == {"meta"}
    assert model.pretrained_cfg["architecture"] == "saga_pvt_tiny" == model.default_cfg["architecture"]
    assert next(sa.create_model("saga_llie_tiny", dtype=torch.bfloat16).parameters()).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="device must be a torch device"):
        sa.create_model("pvt_tiny", device="tpu")
    with pytest.raises(ValueError, match="cannot be loaded into a model on the meta device"):
        sa.create_model("saga_llie_tiny", pretrained=True, device="meta")
    with pytest.raises(ValueError, match="device is a setting of the run"):
        sa.create_model("pvt_tiny:device=cuda")


def test_a_users_weights_file_wins_over_the_shipped_weights(tmp_path):
    from saga_attention.models.timm_registry import _timm_entrypoint, user_weights

    mine = sa.create_model("saga_llie_tiny")
    path = save_checkpoint(mine, tmp_path / "mine.safetensors")
    entry = _timm_entrypoint("saga_llie_tiny")
    for cfg in ({"pretrained_cfg_overlay": {"file": str(path)}}, {"pretrained_cfg": {"file": str(path)}}):
        loaded = entry(pretrained=True, **cfg)
        assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), mine.state_dict().values()))
    shipped = entry(pretrained=True)
    assert not torch.equal(shipped.state_dict()["stem.weight"], mine.state_dict()["stem.weight"])
    assert user_weights({"hf_hub_id": "local-dir:/models/x"}) == "/models/x/model.safetensors"
    assert user_weights({"hf_hub_id": "timm/x"}) is None


def test_timms_feature_classes_give_the_stage_maps():
    from saga_attention.models.timm_registry import _timm_entrypoint

    entry = _timm_entrypoint("saga_pvt_tiny")
    x = torch.randn(1, 3, 64, 96)
    want = [m.shape for m in entry(features_only=True)(x)]
    for options in ({"feature_cls": "getter"}, {"feature_cfg": {"feature_cls": "fx"}}, {"feature_cls": "hook"}):
        model = entry(features_only=True, **options)
        assert [m.shape for m in model(x)] == want and model.feature_info.channels() == [64, 128, 320, 512]
    assert [m.shape[1] for m in entry(features_only=True, feature_cfg={"out_indices": (1, 3)})(x)] == [128, 512]
    with pytest.raises(ValueError, match="feature_cls must be one of 'getter', 'fx' or 'hook'"):
        entry(features_only=True, feature_cls="dict")
    with pytest.raises(ValueError, match="feature_cfg takes feature_cls and out_indices here; got strides"):
        entry(features_only=True, feature_cfg={"strides": 2})


def test_unfused_pvt_runs_the_plain_modules_with_the_same_weights(monkeypatch):
    """pvt_tiny:fused=false is PVT as users run it (aten LayerNorm, nn.Linear MLP): the benchmarks' stock baseline."""
    fused = sa.create_model("pvt_tiny", num_classes=5).eval()
    plain = sa.create_model("pvt_tiny:fused=false", num_classes=5).eval()
    plain.load_state_dict(fused.state_dict())
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        want = fused(x)
        monkeypatch.setattr("saga_attention.layers.blocks.norm_mlp", lambda *a, **k: pytest.fail("fused MLP ran"))
        assert torch.allclose(plain(x), want, atol=1e-5)
    assert {m.backend for m in plain.modules() if isinstance(m, sa.layers.LayerNorm)} == {"torch"}
