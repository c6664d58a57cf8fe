import pytest

from saga_attention.train import PRESETS, TrainConfig, load_config, to_yaml
from saga_attention.train.config import parse_overrides


def test_defaults_preset_file_then_overrides(tmp_path):
    assert load_config().epochs == PRESETS["procedural"]["epochs"] and load_config().mixup == 0.0
    assert load_config("imagenet-pvt") == TrainConfig()
    path = tmp_path / "run.yaml"
    path.write_text("model: linear_pvt_tiny\nepochs: 7\nlr: 0.002\n")
    config = load_config(path, ["epochs=9", "crop_scale=[0.5, 1]", "model_kwargs={attn_kwargs: {gate_bias_init: 2}}"])
    assert (config.model, config.epochs, config.lr) == ("linear_pvt_tiny", 9, 0.002)
    assert config.crop_scale == [0.5, 1] and config.model_kwargs == {"attn_kwargs": {"gate_bias_init": 2}}
    assert load_config(None, ["lr=1"]).lr == 1.0 and isinstance(load_config(None, ["lr=1"]).lr, float)


def test_the_saved_yaml_loads_back_the_same(tmp_path):
    config = load_config(None, ["model=focused_pvt_tiny", "ema_decay=0.99"])
    (tmp_path / "config.yaml").write_text(to_yaml(config))
    assert load_config(tmp_path / "config.yaml") == config


@pytest.mark.parametrize("overrides,message", [
    (["lrr=1"], "unknown setting 'lrr'; known: model, model_kwargs"),
    (["epochs=ten"], "setting 'epochs' must be int; got 'ten'"),
    (["epochs=true"], "setting 'epochs' must be int; got True"),
    (["img_size=100"], "img_size must be a positive multiple of 32; got 100"),
    (["amp=fp8"], "amp must be auto, bf16 or none; got 'fp8'"),
    (["crop_scale=[0.5]"], "crop_scale must be [low, high]"),
    (["lr"], "overrides are key=value"),
])
def test_bad_settings_are_clear_errors(overrides, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(None, overrides)


def test_config_source_must_exist():
    with pytest.raises(ValueError, match="must be a preset .* or a YAML file; 'nothing.yaml' is neither"):
        load_config("nothing.yaml")
    assert parse_overrides(["out="]) == {"out": ""}
