"""Training configuration: defaults (the DeiT/PVT recipe), named presets, a YAML file, then
`key=value` overrides from the command line, in that order."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml


@dataclass
class TrainConfig:
    """Every setting of `saga train`; the defaults are the DeiT/PVT ImageNet recipe (for 300 epochs)."""

    model: str = "saga_pvt_tiny"
    model_kwargs: dict = field(default_factory=dict)   # architecture overrides, e.g. {attn_kwargs: {...}}
    data: str = "match"            # a built-in task (pathfinder, match) or a folder with train/ and val/
    img_size: int = 224
    train_size: int = 20000        # images per split of a built-in task
    val_size: int = 4000
    data_seed: int = 0             # the built-in task's generator seed (fixes the split)
    workers: int = 4               # DataLoader workers per process
    batch_size: int = 128          # per process
    epochs: int = 300
    lr: float = 5e-4               # for a total batch of 512; scaled linearly with batch_size x processes
    min_lr: float = 1e-5
    warmup_epochs: float = 5.0
    weight_decay: float = 0.05
    clip_grad: float = 0.0         # max gradient norm; 0 = off
    drop_path: float = 0.1
    label_smoothing: float = 0.1
    mixup: float = 0.8             # Beta(alpha, alpha) of mixup; 0 = off
    cutmix: float = 1.0            # Beta(alpha, alpha) of cutmix; 0 = off
    mix_prob: float = 1.0
    mix_switch_prob: float = 0.5   # cutmix instead of mixup, when both are on
    crop_scale: list = field(default_factory=lambda: [0.08, 1.0])   # random resized crop (folders)
    hflip: float = 0.5
    ema_decay: float = 0.0         # 0 = no EMA; e.g. 0.9998
    amp: str = "auto"              # auto (bf16 on CUDA) | bf16 | none
    compile: bool = False          # torch.compile the model
    seed: int = 0
    device: str = "auto"
    out: str = ""                  # the run folder; default runs/<model>-<data>-<time>

    def check(self) -> None:
        """ValueError on settings that cannot work, saying which and what is expected."""
        problems = []
        if self.img_size <= 0 or self.img_size % 32:
            problems.append(f"img_size must be a positive multiple of 32; got {self.img_size}")
        for name in ("batch_size", "epochs", "train_size", "val_size"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1; got {getattr(self, name)}")
        if self.workers < 0:
            problems.append(f"workers must be >= 0; got {self.workers}")
        if self.amp not in ("auto", "bf16", "none"):
            problems.append(f"amp must be auto, bf16 or none; got {self.amp!r}")
        if len(self.crop_scale) != 2 or not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            problems.append(f"crop_scale must be [low, high] with 0 < low <= high <= 1; got {self.crop_scale}")
        if not 0 <= self.label_smoothing < 1 or not 0 <= self.ema_decay < 1:
            problems.append("label_smoothing and ema_decay must be in [0, 1)")
        if problems:
            raise ValueError("; ".join(problems))


PRESETS: dict[str, dict[str, Any]] = {
    # The DeiT/PVT ImageNet recipe: 300 epochs at 224; give data=<folder>.
    "imagenet-pvt": {},
    # The built-in tasks: no crop, flip or mixing (each would change the answer), a short schedule.
    "procedural": dict(data="match", img_size=64, epochs=30, batch_size=128, lr=1e-3, warmup_epochs=3,
                       mixup=0.0, cutmix=0.0, hflip=0.0, label_smoothing=0.0, drop_path=0.1, clip_grad=5.0),
}
DEFAULT_PRESET = "procedural"


def _field_types() -> dict[str, Any]:
    return {f.name: type(f.default_factory()) if f.default_factory is not dataclasses.MISSING else type(f.default)
            for f in dataclasses.fields(TrainConfig)}


def _coerce(key: str, value: Any) -> Any:
    types = _field_types()
    if key not in types:
        raise ValueError(f"unknown setting {key!r}; known: {', '.join(types)}")
    wanted = types[key]
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if wanted is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, wanted) or (wanted is int and isinstance(value, bool)):
        raise ValueError(f"setting {key!r} must be {wanted.__name__}; got {value!r}")
    return value


def apply(config: TrainConfig, values: dict[str, Any]) -> TrainConfig:
    """A copy of `config` with `values` set, each checked against its field's type."""
    return dataclasses.replace(config, **{k: _coerce(k, v) for k, v in values.items()})


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """['lr=1e-3', 'crop_scale=[0.5, 1]'] -> {'lr': 0.001, 'crop_scale': [0.5, 1]} (values read as YAML)."""
    values = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"overrides are key=value, e.g. lr=1e-3 or model=linear_pvt_tiny; got {item!r}")
        values[key.strip()] = yaml.safe_load(text) if text.strip() else ""
    return values


def load_config(source: str | os.PathLike | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Defaults, then a preset name or YAML file (default: the 'procedural' preset), then overrides."""
    source = DEFAULT_PRESET if source is None else str(source)
    if source in PRESETS:
        values = dict(PRESETS[source])
    else:
        path = Path(source)
        if not path.is_file():
            raise ValueError(f"--config must be a preset ({', '.join(PRESETS)}) or a YAML file; "
                             f"{source!r} is neither")
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{source!r} must hold a mapping of settings; got {type(values).__name__}")
    config = apply(apply(TrainConfig(), values), parse_overrides(overrides))
    config.check()
    return config


def to_yaml(config: TrainConfig) -> str:
    return yaml.safe_dump(dataclasses.asdict(config), sort_keys=False)
