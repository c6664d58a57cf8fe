"""Models: a timm-style registry and the PVT family with every attention kind."""
from . import llie, pvt, retinexformer  # noqa: F401  (register the low-light nets, PVT and Retinexformer)
from .checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from .features import FeatureInfo
from .pvt import PyramidVisionTransformer
from .registry import (
                       ModelConfig,
                       ModelSpec,
                       check_buildable,
                       check_input_size,
                       create_model,
                       list_models,
                       model_config,
                       model_tasks,
                       parse_model_spec,
                       register_model,
                       shipped_models,
                       split_specs,
)
from .timm_registry import register_with_timm

TIMM_MODELS = register_with_timm()

__all__ = [
    "FeatureInfo",
    "ModelConfig",
    "ModelSpec",
    "check_buildable",
    "check_input_size",
    "PyramidVisionTransformer",
    "TIMM_MODELS",
    "create_model",
    "list_models",
    "load_checkpoint",
    "model_config",
    "model_tasks",
    "parse_model_spec",
    "read_checkpoint",
    "register_model",
    "save_checkpoint",
    "shipped_models",
    "split_specs",
]
