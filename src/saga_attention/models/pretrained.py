"""Weights shipped inside the package (src/saga_attention/weights/<model>.safetensors), for
`create_model(name, pretrained=True)`. Each file's metadata says what it was trained on and the command
that reproduces it."""
from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def shipped_models() -> list[str]:
    """The models that have shipped weights."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))


def shipped_weights(name: str) -> Path:
    """The shipped weights of model `name`; ValueError naming the models that have some."""
    path = WEIGHTS_DIR / f"{name}.safetensors"
    if not path.is_file():
        have = shipped_models()
        raise ValueError(f"no weights are shipped for {name}; models with shipped weights: "
                         f"{', '.join(have) if have else 'none'}")
    return path
