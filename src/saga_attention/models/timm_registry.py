"""Register this library's models with timm when timm is importable (it is optional)."""
from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

from .pvt import pretrained_cfg
from .registry import create_model, list_models, model_config


def _as_dict(cfg: Any) -> dict:
    """timm's PretrainedCfg (or a dict, or None) as a dict."""
    if cfg is None:
        return {}
    return dict(cfg) if isinstance(cfg, dict) else cfg.to_dict()


def user_weights(cfg: dict) -> str | None:
    """The weights file a timm pretrained config points at: its 'file' (timm's pretrained_cfg_overlay,
    train.py --pretrained-path) or the folder of a 'local-dir:' hub id (timm's local-dir: loading also passes the
    folder as 'file'); in a folder, model.safetensors, else save_for_hf's pytorch_model.bin. None for neither."""
    hub = str(cfg.get("hf_hub_id") or "")
    if cfg.get("file"):
        path = Path(cfg["file"])
        if not path.is_dir():
            return str(path)
    elif hub.startswith("local-dir:"):
        path = Path(hub.removeprefix("local-dir:"))
    else:
        return None
    bin_file = path / "pytorch_model.bin"            # save_for_hf's default format
    return str(bin_file if bin_file.is_file() and not (path / "model.safetensors").is_file()
               else path / "model.safetensors")


def _with_user_weights(name: str, path: str, **kwargs: Any):
    """The model with a user's weights: a safetensors checkpoint, or a PyTorch state dict (.bin, .pth)."""
    if path.endswith(".safetensors"):
        return create_model(name, checkpoint_path=path, **kwargs)
    import torch

    model = create_model(name, **kwargs)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model


FEATURE_CLASSES = (None, "getter", "fx", "hook")


def _feature_options(kwargs: dict[str, Any]) -> None:
    """Take timm's feature_cls and feature_cfg out of kwargs. The models give their stage maps themselves
    (features_only=True), as timm's getter, fx and hook wrappers would; their out_indices go through."""
    cfg = dict(kwargs.pop("feature_cfg", None) or {})
    feature_cls = kwargs.pop("feature_cls", cfg.pop("feature_cls", None))
    if feature_cls not in FEATURE_CLASSES:
        raise ValueError(f"feature_cls must be one of 'getter', 'fx' or 'hook' (all give the stage maps of "
                         f"features_only=True); got {feature_cls!r}")
    if "out_indices" in cfg:
        kwargs.setdefault("out_indices", cfg.pop("out_indices"))
    cfg.pop("flatten_sequential", None)
    if cfg:
        raise ValueError(f"feature_cfg takes feature_cls and out_indices here; got {', '.join(sorted(cfg))}")


def _timm_entrypoint(name: str):
    def entrypoint(pretrained: bool = False, **kwargs: Any):
        cfg = {**_as_dict(kwargs.pop("pretrained_cfg", None)), **_as_dict(kwargs.pop("pretrained_cfg_overlay", None))}
        kwargs.pop("cache_dir", None)
        _feature_options(kwargs)
        path = user_weights(cfg) if pretrained else None
        if path:                                  # a user's file always wins over the shipped weights
            return _with_user_weights(name, path, **kwargs)
        return create_model(name, pretrained=pretrained, **kwargs)     # shipped weights, or a ValueError
    entrypoint.__name__ = entrypoint.__qualname__ = name
    entrypoint.__module__ = __name__
    return entrypoint


default_cfgs: dict[str, dict[str, Any]] = {}     # timm's register_model reads its models' configs from here


def register_with_timm() -> list[str]:
    """Add every model to timm's registry (skipping names timm already has); returns those added. The classifiers
    come with their pretrained config, so that timm's tools and tests see input size, pooled map, first conv and
    classifier; the enhancement nets, which have no classifier, come without."""
    if importlib.util.find_spec("timm") is None:
        return []
    try:
        from timm.models import is_model, register_model
    except Exception as err:  # a broken timm install must not break this library
        warnings.warn(f"timm is installed but could not be imported ({err}); models not registered with it")
        return []
    added = []
    for name in list_models():
        if not is_model(name):
            if model_config(name).task == "classify":   # timm's config for the classifier contract it tests
                default_cfgs[name] = pretrained_cfg()
            fn = _timm_entrypoint(name)
            globals()[name] = fn
            register_model(fn)
            added.append(name)
    return added
