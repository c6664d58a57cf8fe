"""Image classification as a task of the engine: built-in tasks or ImageNet-layout folders, mixup /
cutmix with label smoothing, top-1 / top-5. The defaults are the DeiT/PVT ImageNet recipe."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, Subset

from ..data import TASKS as BUILTIN
from ..data import (
    EvalTransform,
    ImageFolder,
    ReplaceUnreadable,
    TensorImages,
    TrainTransform,
    class_folders,
    collate,
    generate,
    mix_batch,
    normalize,
)
from ..data.cache import cache_dir
from ..data.procedural import GENERATOR_VERSION, MAX_SIZE, MIN_SIZE, StreamedTask
from ..models import create_model, parse_model_spec, read_checkpoint
from ..models.checkpoint import write_safetensors
from ..settings import check_interval, setting, short
from .task import Datasets, Task, register_task


@dataclass
class ClassifySettings:
    data: str = setting("match", doc="a built-in task (pathfinder, match, symmetry) or a folder with train/ and "
                                     "val/")
    img_size: int = setting(224, low=32, doc="a multiple of 32")
    train_size: int = setting(20000, low=1, doc="images per split of a built-in task (per epoch, streamed)")
    stream: bool = setting(False, doc="built-in tasks: fresh training images every epoch, generated from (data "
                                      "seed, epoch, index) in the loader's workers; none is seen twice")
    val_size: int = setting(4000, low=1)
    data_seed: int = setting(0, low=0, doc="the built-in task's generator seed (fixes the split)")
    holdout: int = setting(0, low=0, doc="training images set aside as the validation set, to tune settings "
                                         "without reading the real validation split; 0 = off")
    drop_path: float = setting(0.1, low=0, below=1)
    label_smoothing: float = setting(0.1, low=0, below=1)
    mixup: float = setting(0.8, low=0, doc="Beta(alpha, alpha) of mixup; 0 = off")
    cutmix: float = setting(1.0, low=0, doc="Beta(alpha, alpha) of cutmix; 0 = off")
    mix_prob: float = setting(1.0, low=0, high=1)
    mix_switch_prob: float = setting(0.5, low=0, high=1, doc="cutmix instead of mixup, when both are on")
    crop_scale: list = setting([0.08, 1.0], doc="random resized crop area [low, high] (folders)")
    hflip: float = setting(0.5, low=0, high=1)


# The built-in tasks: no crop, flip or mixing (each would change the answer), a short schedule.
def builtin_split(task: str, split: str, size: int, count: int, seed: int) -> tuple[Tensor, Tensor]:
    """A built-in task's split, generated once and cached (safetensors) under $SAGA_CACHE."""
    path = cache_dir() / f"{task}-v{GENERATOR_VERSION}-{split}-{size}px-{count}-seed{seed}.safetensors"
    if path.is_file():
        try:
            tensors, _ = read_checkpoint(path)
            return tensors["images"], tensors["labels"]
        except (ValueError, KeyError) as err:
            print(f"regenerating {path}: the cached file is unreadable ({err})", flush=True)
    print(f"generating the built-in task {task!r} ({split}: {count} images of {size} px) into {path.parent}; once, "
          "then read from there (saga cache)", flush=True)
    images, labels = generate(task, split, size, count, seed)
    write_safetensors({"images": images, "labels": labels}, path, {"task": task, "split": split})
    return images, labels


def carve(length: int, holdout: int, seed: int) -> tuple[list[int], list[int]]:
    """(training, held-out) indices of a training set of `length` images: `holdout` of them, drawn by `seed`."""
    if holdout >= length:
        raise ValueError(f"holdout={holdout} leaves no training images: the training set has {length}")
    order = torch.randperm(length, generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(order[holdout:]), sorted(order[:holdout])


@register_task
class Classify(Task):
    name = "classify"
    Settings = ClassifySettings
    default_preset = "procedural"
    default_model = "saga_pvt_tiny"
    metrics = ("loss", "top1", "top5")
    best_metric = "top1"

    @classmethod
    def check(cls, config) -> list[str]:
        s, problems = config.task, []
        if s.img_size % 32:
            problems.append(f"img_size must be a multiple of 32; got {s.img_size}")
        if problem := check_interval("crop_scale", s.crop_scale, at_most=1):
            problems.append(problem)
        if s.data in BUILTIN:
            if s.holdout >= s.train_size and not s.stream:
                problems.append(f"holdout={s.holdout} leaves no training images: train_size is {s.train_size}")
            if not MIN_SIZE <= s.img_size <= MAX_SIZE:
                problems.append(f"the built-in tasks are {MIN_SIZE} to {MAX_SIZE} pixels; got img_size={s.img_size}")
        elif not (Path(s.data) / "train").is_dir() or not (Path(s.data) / "val").is_dir():
            problems.append(f"data={short(s.data)} is neither a built-in task ({', '.join(BUILTIN)}) nor a folder "
                            "with train/ and val/ subfolders (ImageNet layout: <split>/<class>/<image>)")
        return problems

    @classmethod
    def run_label(cls, config) -> str:
        return Path(config.task.data).name or "data"

    @cached_property
    def classes(self) -> list[str]:
        """The classes in label order: a built-in task's, or the training folder's class folders."""
        if self.settings.data in BUILTIN:
            return [str(i) for i in range(BUILTIN[self.settings.data][1])]
        return class_folders(Path(self.settings.data) / "train")

    def training_split(self, augment: bool) -> Dataset:
        """The whole training split, with the training transform (augment) or the evaluation one."""
        s, classes = self.settings, self.classes
        if s.data in BUILTIN and s.stream and augment:
            return StreamedTask(s.data, s.img_size, s.train_size, s.data_seed)
        if s.data in BUILTIN:
            split = builtin_split(s.data, "train", s.img_size, s.train_size, s.data_seed)
            return TensorImages(*split, classes, hflip=s.hflip if augment else 0.0)
        transform = TrainTransform(s.img_size, tuple(s.crop_scale), s.hflip) if augment else EvalTransform(s.img_size)
        return ImageFolder(Path(s.data) / "train", transform, classes)

    def eval_dataset(self) -> Dataset:
        s, classes = self.settings, self.classes
        if s.holdout and s.stream and s.data in BUILTIN:     # the stream never draws the fixed training split
            return TensorImages(*builtin_split(s.data, "train", s.img_size, s.holdout, s.data_seed), classes)
        if s.holdout:
            split = self.training_split(augment=False)
            return Subset(split, carve(len(split), s.holdout, s.data_seed)[1])
        if s.data in BUILTIN:
            return TensorImages(*builtin_split(s.data, "val", s.img_size, s.val_size, s.data_seed), classes)
        return ImageFolder(Path(s.data) / "val", EvalTransform(s.img_size), classes=classes)

    def datasets(self) -> Datasets:
        s = self.settings
        train = self.training_split(augment=True)
        if s.holdout and not (s.stream and s.data in BUILTIN):
            train = Subset(train, carve(len(train), s.holdout, s.data_seed)[0])
        if s.data in BUILTIN:
            source = f"built-in task {s.data!r}" + (", streamed" if s.stream else "")
        else:
            train, source = ReplaceUnreadable(train, repr(f"{s.data}/train")), f"folder {s.data!r}"
        held = f", {s.holdout} training images held out as the validation set" if s.holdout else ""
        return Datasets(train, self.eval_dataset(), f"{source} (data seed {s.data_seed}{held})")

    def build_model(self) -> nn.Module:
        spec = parse_model_spec(self.config.engine.model)
        defaults = {"img_size": self.settings.img_size, "drop_path_rate": self.settings.drop_path}
        return create_model(spec, num_classes=len(self.classes),
                            **{k: v for k, v in defaults.items() if k not in spec.options})

    def collate(self, samples: list) -> tuple:
        return collate(samples)

    def lr_scale(self, total_batch: int) -> float:
        return total_batch / 512          # the DeiT/PVT rule: lr is given for a total batch of 512

    def loss(self, model: nn.Module, batch: tuple) -> tuple[Tensor, int]:
        images, labels, _ = batch
        device, s = self.process.device, self.settings
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        images, targets = mix_batch(normalize(images), labels, len(self.classes), s.label_smoothing, s.mixup,
                                    s.cutmix, s.mix_prob, s.mix_switch_prob)
        logits = model(images).float()
        return torch.sum(-targets * logits.log_softmax(-1), dim=-1).mean(), len(labels)

    def evaluate_batch(self, model: nn.Module, batch: tuple) -> dict[str, float]:
        images, labels, _ = batch
        if not len(labels):
            return {}
        images, labels = normalize(images.to(self.process.device)), labels.to(self.process.device)
        logits = model(images).float()
        top = logits.topk(min(5, logits.shape[-1]), dim=-1).indices
        return {"loss": nn.functional.cross_entropy(logits, labels, reduction="sum").item(),
                "top1": (top[:, 0] == labels).sum().item(), "top5": (top == labels[:, None]).any(-1).sum().item(),
                "count": len(labels)}

    def finish(self, sums: dict[str, float]) -> dict[str, float]:
        count = sums["count"]
        return {"loss": sums.get("loss", 0.0) / count, "top1": 100 * sums.get("top1", 0.0) / count,
                "top5": 100 * sums.get("top5", 0.0) / count}

    def describe(self, metrics: dict[str, float]) -> str:
        parts = [f"loss {metrics['loss']:.4f}", f"top-1 {metrics['top1']:.2f}%"]
        if len(self.classes) > 5 and "top5" in metrics:      # with 5 classes or fewer top-5 is always 100%
            parts.append(f"top-5 {metrics['top5']:.2f}%")
        return ", ".join(parts)
