import pytest

from saga_attention.configs import read_recipe
from saga_attention.train import load_config, to_yaml
from saga_attention.train.config import parse_overrides


def test_defaults_preset_file_then_overrides(tmp_path):
    config = load_config()
    assert config.engine.epochs == read_recipe("procedural")["epochs"] == 30 and config.task.mixup == 0.0
    assert (config.task_name, config.engine.model) == ("classify", "saga_pvt_tiny")
    recipe = load_config("imagenet-pvt")
    assert (recipe.engine.epochs, recipe.engine.lr, recipe.task.mixup, recipe.task.img_size) == (300, 5e-4, 0.8, 224)
    path = tmp_path / "run.yaml"
    path.write_text("model: linear_pvt_tiny\nepochs: 7\nlr: 2e-3\n")
    config = load_config(path, ["epochs=9", "crop_scale=[0.5, 1]", "model=saga_pvt_tiny:gate_bias_init=2"])
    assert (config.engine.model, config.engine.epochs, config.engine.lr) == (
        "saga_pvt_tiny:gate_bias_init=2.0", 9, 0.002)
    assert config.task.crop_scale == [0.5, 1]
    assert load_config(None, ["lr=1"]).engine.lr == 1.0 and isinstance(load_config(None, ["lr=1"]).engine.lr, float)


@pytest.mark.parametrize("text,value", [("1e-3", 0.001), ("1E-3", 0.001), (".5e-2", 0.005), ("0.001", 0.001),
                                        ("1", 1.0), ("+2e+0", 2.0)])
def test_numbers_parse_in_every_spelling(text, value, tmp_path):
    assert load_config(None, [f"lr={text}"]).engine.lr == value
    (tmp_path / "c.yaml").write_text(f"lr: {text}\nepochs: 1e1\n")
    config = load_config(tmp_path / "c.yaml")
    assert config.engine.lr == value and config.engine.epochs == 10 and isinstance(config.engine.epochs, int)


def test_the_saved_yaml_loads_back_the_same(tmp_path):
    config = load_config(None, ["model=focused_pvt_tiny", "ema_decay=0.99"])
    (tmp_path / "config.yaml").write_text(to_yaml(config))
    assert load_config(tmp_path / "config.yaml") == config


@pytest.mark.parametrize("text,mode", [("false", "false"), ("true", "true"), ("True", "true"),
                                       ("reduce-overhead", "reduce-overhead")])
def test_compile_takes_false_true_or_reduce_overhead(text, mode, tmp_path):
    assert load_config(None, [f"compile={text}"]).engine.compile == mode
    (tmp_path / "c.yaml").write_text(f"compile: {text}\n")          # a run folder written when compile was a bool
    assert load_config(tmp_path / "c.yaml").engine.compile == mode


@pytest.mark.parametrize("overrides,message", [
    (["lrr=1"], r"unknown setting 'lrr'; did you mean lr\? known: task, model, workers"),
    (["epochs=ten"], "epochs must be a whole number; got 'ten'"),
    (["epochs=true"], "epochs must be a whole number; got True"),
    (["epochs=0"], "epochs must be >= 1 and <= 100000; got 0"),
    (["img_size=100"], "img_size must be a multiple of 32; got 100"),
    (["img_size=512"], "the built-in tasks are 64 to 224 pixels; got img_size=512"),
    (["amp=fp8"], "amp must be one of auto, bf16, none; got 'fp8'"),
    (["compile=max-autotune"], "compile must be one of false, true, reduce-overhead; got 'max-autotune'"),
    (["crop_scale=[0.5]"], "crop_scale must be [low, high]"),
    (["crop_scale=[a,b]"], "crop_scale must be [low, high] with 0 < low <= high <= 1; got ['a', 'b']"),
    (["crop_scale=7"], "crop_scale must be a list like [a, b]; got 7"),
    (["mixup=-1"], "mixup must be >= 0; got -1.0"),
    (["hflip=7"], "hflip must be >= 0 and <= 1; got 7.0"),
    (["weight_decay=-1"], "weight_decay must be >= 0; got -1.0"),
    (["lr=.nan"], "lr must be a finite number; got nan"),
    (["lr=0"], "lr must be > 0; got 0.0"),
    (["drop_path=5"], "drop_path must be >= 0 and < 1; got 5.0"),
    (["ema_decay=1"], "ema_decay must be >= 0 and < 1; got 1.0"),
    (["device=tpu"], "device must be auto, cpu, cuda or cuda:N; got 'tpu'"),
    (["workers=-1"], "workers must be >= 0; got -1"),
    (["task=segment"], "task must be one of classify"),
    (["model=nothere"], "unknown model 'nothere'"),
    (["model=saga_pvt_tiny:gate_bias=2"], "model saga_pvt_tiny has no option 'gate_bias'; did you mean gate_bias_init"),
    (["data=/no/such/folder"], "data='/no/such/folder' is neither a built-in task"),
    (["lr"], "settings are key=value"),
    (["lr=[1,"], "the value of lr is not valid YAML"),
])
def test_bad_settings_are_clear_errors(overrides, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        load_config(None, overrides)


def test_every_problem_is_named_at_once():
    with pytest.raises(ValueError, match="mixup must be >= 0; got -1.0; hflip must be >= 0 and <= 1; got 7.0"):
        load_config(None, ["mixup=-1", "hflip=7"])


def test_config_source_must_exist_and_be_settings(tmp_path):
    with pytest.raises(ValueError, match="must be a recipe .* or a YAML file; 'nothing.yaml' is neither"):
        load_config("nothing.yaml")
    assert parse_overrides(["out="]) == {"out": ""}
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="must hold a mapping of settings"):
        load_config(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("epochs: 3\nlr: [1,\n")
    with pytest.raises(ValueError, match=r"is not valid YAML \(line 3"):
        load_config(tmp_path / "broken.yaml")


def test_yaml_that_expands_exponentially_is_refused_at_once(tmp_path):
    """'Billion laughs': nine levels of aliases would print as 10^9 items; aliases are refused outright."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"anchors \(&name\) are not allowed in settings"):
        load_config(tmp_path / "bomb.yaml")
    with pytest.raises(ValueError, match="anchors"):
        load_config(None, ["crop_scale=[&a 0.5, *a]"])
    with pytest.raises(ValueError, match=r"aliases \(\*name\) are not allowed in settings"):
        load_config(None, ["crop_scale=[*a]"])
    (tmp_path / "huge.yaml").write_text("epochs: 1\n" + "# padding\n" * 200_000)
    with pytest.raises(ValueError, match="larger than 1024 KiB"):
        load_config(tmp_path / "huge.yaml")
