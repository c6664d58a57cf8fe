"""Training checkpoints: model, EMA and optimizer state with the loop's counters, in one safetensors
file written atomically. Non-tensor state travels as JSON in the metadata, so loading never
unpickles anything."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..models.checkpoint import TRAIN_STATE, cpu_tensors, model_name, read_checkpoint, write_safetensors


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer's state_dict split into tensors 'optim.<param>.<name>' and JSON-able rest."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for param_id, entries in state["state"].items():
        for name, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{param_id}.{name}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{param_id}.{name}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_state(tensors: dict[str, torch.Tensor], rest: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            param_id, name = key[len("optim."):].split(".", 1)
            state.setdefault(int(param_id), {})[name] = value
    for key, value in rest["scalars"].items():
        param_id, name = key.split(".", 1)
        state.setdefault(int(param_id), {})[name] = value
    return {"state": state, "param_groups": rest["param_groups"]}


def save_train_state(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer,
                     ema: nn.Module | None, counters: dict[str, Any]) -> Path:
    """Write everything `load_train_state` restores. counters: JSON-able loop state (epoch, best, ...)."""
    tensors = cpu_tensors(model.state_dict(), "model.")
    if ema is not None:
        tensors.update(cpu_tensors(ema.state_dict(), "ema."))
    optim_tensors, optim_rest = _optimizer_tensors(optimizer)
    tensors.update(optim_tensors)
    metadata = {"kind": TRAIN_STATE, "model": model_name(model), "optimizer": json.dumps(optim_rest),
                "counters": json.dumps(counters)}
    return write_safetensors(tensors, path, metadata)


def load_train_state(path: str | os.PathLike, model: nn.Module, optimizer: torch.optim.Optimizer,
                     ema: nn.Module | None) -> dict[str, Any]:
    """Restore model, optimizer and EMA from `save_train_state`'s file; return its counters.
    ValueError when the file is not a training checkpoint of this model."""
    tensors, metadata = read_checkpoint(path)
    if metadata.get("kind") != TRAIN_STATE:
        raise ValueError(f"{str(path)!r} is not a training checkpoint (it holds model weights only); "
                         "pass it as a checkpoint to evaluate or fine-tune instead of resuming")
    if metadata.get("model") != model_name(model):
        raise ValueError(f"{str(path)!r} is a checkpoint of model {metadata.get('model')!r}, not "
                         f"{model_name(model)!r}")
    for module, prefix in ((model, "model."), (ema, "ema.")):
        if module is None:
            continue
        own = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if not own:
            raise ValueError(f"{str(path)!r} holds no {prefix[:-1]} weights (was the run started with ema_decay=0?)")
        module.load_state_dict(own)
    optimizer.load_state_dict(_optimizer_state(tensors, json.loads(metadata["optimizer"])))
    return json.loads(metadata["counters"])
