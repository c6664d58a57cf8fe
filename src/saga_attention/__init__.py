"""saga-attention: SAGA (Selective Adaptive Gating) linear attention for vision transformers."""
from . import layers, models, ops
from .enhancement import enhance
from .models import create_model, list_models
from .ops import saga_attention

__version__ = "0.1.0"

__all__ = ["__version__", "create_model", "enhance", "layers", "list_models", "models", "ops", "saga_attention"]
