"""Data: ImageNet-layout folders, the built-in procedural tasks, transforms and mixup / cutmix."""
from .folder import ImageFolder, ReplaceUnreadable, TensorImages, class_folders, collate, load_rgb
from .procedural import TASKS, generate, num_classes
from .transforms import EvalTransform, TrainTransform, mix_batch, normalize, soft_targets

__all__ = ["EvalTransform", "ImageFolder", "ReplaceUnreadable", "TASKS", "TensorImages", "TrainTransform",
           "class_folders", "collate", "generate", "load_rgb", "mix_batch", "normalize", "num_classes", "soft_targets"]
