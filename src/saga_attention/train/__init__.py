"""Training and evaluation: the engine, the Task protocol and its tasks, config, checkpoints, logging."""
from . import classify, enhance  # noqa: F401  (register the classification and enhancement tasks)
from .config import load_config, make_config, preset_names, to_yaml
from .engine import Interrupted, evaluate, lr_at, run_config, run_eval, train
from .engine_settings import EngineSettings, TrainConfig
from .task import TASKS, Datasets, Task, get_task, register_task

__all__ = ["Datasets", "EngineSettings", "Interrupted", "TASKS", "Task", "TrainConfig", "evaluate", "get_task",
           "load_config", "lr_at", "make_config", "preset_names", "register_task", "run_config", "run_eval",
           "to_yaml", "train"]
