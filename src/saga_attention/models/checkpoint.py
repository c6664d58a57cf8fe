"""Model weights as safetensors (no pickled code is ever loaded), written atomically."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

FORMAT = "saga-attention"
TRAIN_STATE = "train-state"    # metadata "kind" of a training checkpoint; its model weights are under "model."


def cpu_tensors(state: dict[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    """A state_dict's tensors, detached, contiguous and on the CPU, with `prefix` before each key."""
    return {prefix + k: v.detach().contiguous().cpu() for k, v in state.items()}


def save_checkpoint(model: nn.Module, path: str | os.PathLike) -> Path:
    """Write the model's state_dict to `path` (safetensors) via a temporary file and an atomic rename."""
    return write_safetensors(cpu_tensors(model.state_dict()), path, {"model": model_name(model)})


def model_name(model: nn.Module) -> str:
    return getattr(model, "model_name", type(model).__name__)


def write_safetensors(tensors: dict[str, torch.Tensor], path: str | os.PathLike, metadata: dict[str, str]) -> Path:
    """Write tensors and string metadata to `path` atomically (a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"format": FORMAT, **metadata}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, 0o666 & ~umask)         # mkstemp's file is private; a checkpoint is an ordinary file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of a safetensors checkpoint; ValueError if it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"could not read {str(path)!r} as a safetensors checkpoint: {err}") from err


def load_checkpoint(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load weights saved by `save_checkpoint` (or the model weights of a training checkpoint),
    strictly: another model, missing or unexpected keys, a shape mismatch or a NaN or infinite value each
    raise a ValueError that names them."""
    tensors, metadata = read_checkpoint(path)
    if metadata.get("kind") == TRAIN_STATE:
        tensors = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    expected = getattr(model, "model_name", None)
    saved = metadata.get("model")
    if expected and saved and saved != expected:
        raise ValueError(f"checkpoint {str(path)!r} holds weights of model {saved!r}, not {expected!r}")
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    shapes = [f"{k}: checkpoint {tuple(tensors[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in tensors and tensors[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:3])})")
    if shapes:
        problems.append(f"{len(shapes)} shape mismatches (e.g. {'; '.join(shapes[:3])})")
    if problems:
        name = saved or "an unnamed model"
        raise ValueError(f"checkpoint {str(path)!r} ({name}) does not fit {expected or type(model).__name__}: "
                         + "; ".join(problems))
    broken = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if broken:
        raise ValueError(f"checkpoint {str(path)!r} holds NaN or infinite values in {len(broken)} tensor(s) (e.g. "
                         f"{', '.join(broken[:3])}): these weights are broken (a diverged run?) and are not used")
    model.load_state_dict(tensors)
    return model
