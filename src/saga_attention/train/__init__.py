"""Training and evaluation: config, loop, checkpoints, distributed setup, logging."""
from .config import PRESETS, TrainConfig, load_config, to_yaml
from .loop import evaluate, lr_at, run_config, run_eval, train

__all__ = ["PRESETS", "TrainConfig", "evaluate", "load_config", "lr_at", "run_config", "run_eval", "to_yaml",
           "train"]
