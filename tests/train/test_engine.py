"""A third task, written against the engine's public interface only: a tiny regression with a setting and
a metric of its own, where lower is better. It trains, checkpoints, resumes exactly and evaluates."""
import json
from dataclasses import dataclass

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from torch.utils.data import Dataset

from saga_attention.models import ModelConfig, register_model
from saga_attention.settings import setting
from saga_attention.train import Datasets, Task, load_config, register_task, run_eval, train
from saga_attention.train.engine import lr_at, warmup_steps


class Line(nn.Module):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.fc = nn.Linear(width, 1)

    def forward(self, x):
        return self.fc(x).squeeze(-1)


default_cfgs = {"toy_line": ModelConfig(task="regress", in_chans=4, out_chans=1, img_size=1, stride=1,
                                        options={"width": 4})}


@register_model
def toy_line(width: int = 4) -> Line:
    return Line(width)


class Points(Dataset):
    """y = x . w + noise, fixed by the seed."""

    def __init__(self, count: int, noise: float, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(count, 4, generator=g)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + noise * torch.randn(count, generator=g)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


@dataclass
class RegressSettings:
    noise: float = setting(0.1, low=0, doc="the targets' noise")
    points: int = setting(64, low=1)


@register_task
class Regress(Task):
    name = "regress"
    Settings = RegressSettings
    presets = {"regress-quick": {"epochs": 3, "batch_size": 8, "lr": 0.5, "warmup_epochs": 0, "workers": 0}}
    default_preset = "regress-quick"
    default_model = "toy_line"
    metrics = ("loss", "mse")
    best_metric = "mse"
    higher_is_better = False

    def datasets(self):
        return Datasets(Points(self.settings.points, self.settings.noise, 0), self.eval_dataset(), "points")

    def eval_dataset(self):
        return Points(32, self.settings.noise, 1)

    def build_model(self):
        from saga_attention.models import create_model
        return create_model(self.config.engine.model)

    def collate(self, samples):
        return torch.stack([s[0] for s in samples]), torch.stack([s[1] for s in samples]), []

    def loss(self, model, batch):
        x, y, _ = batch
        return nn.functional.mse_loss(model(x), y), len(y)

    def evaluate_batch(self, model, batch):
        x, y, _ = batch
        err = (model(x) - y).square().sum().item()
        return {"loss": err, "sq": err, "count": len(y)}

    def finish(self, sums):
        return {"loss": sums["loss"] / sums["count"], "mse": sums["sq"] / sums["count"]}


BASE = ["model=toy_line", "device=cpu", "noise=0.05"]


def _weights(run):
    return load_file(run / "last.safetensors")


def test_a_new_task_trains_with_its_own_setting_and_lower_is_better_metric(tmp_path):
    config = load_config(None, BASE)
    assert config.task_name == "regress" and config.task.noise == 0.05 and config.engine.epochs == 3
    summary = train(config, tmp_path / "run")
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3] and {"val_loss", "val_mse", "train_loss"} <= set(rows[0])
    assert rows[-1]["val_mse"] < 0.5 * rows[0]["val_mse"]                # it learns
    assert summary["best_mse"] == min(r["val_mse"] for r in rows) and summary["best_metric"] == "mse"
    assert run_eval(tmp_path / "run", [])["mse"] == pytest.approx(summary["best_mse"], rel=1e-6)
    with pytest.raises(ValueError, match="noise must be >= 0; got -1.0"):
        load_config(None, [*BASE, "noise=-1"])
    with pytest.raises(ValueError, match="model saga_pvt_tiny is built for task 'classify', not 'regress'"):
        load_config(None, ["task=regress", "model=saga_pvt_tiny"])


def test_the_new_task_resumes_exactly(tmp_path, monkeypatch):
    settings = [*BASE, "ema_decay=0.5", "epochs=4"]
    train(load_config(None, settings), tmp_path / "whole")
    calls, real = [0], Regress.loss

    def dies_in_epoch_three(self, model, batch):
        calls[0] += 1
        if calls[0] == 18:                     # 8 steps per epoch: the 2nd step of epoch 3
            raise KeyboardInterrupt
        return real(self, model, batch)

    monkeypatch.setattr(Regress, "loss", dies_in_epoch_three)
    with pytest.raises(KeyboardInterrupt, match="after epoch 2 of 4"):
        train(load_config(None, settings), tmp_path / "cut")
    monkeypatch.setattr(Regress, "loss", real)
    train(load_config(tmp_path / "cut" / "config.yaml"), tmp_path / "cut", resume=True)
    whole, cut = _weights(tmp_path / "whole"), _weights(tmp_path / "cut")
    assert whole.keys() == cut.keys() and any(k.startswith("ema.") for k in whole)
    assert all(torch.equal(whole[k], cut[k]) for k in whole)


def test_grad_checkpointing_needs_a_model_that_has_it(tmp_path):
    with pytest.raises(ValueError, match="toy_line has no set_grad_checkpointing"):
        train(load_config(None, [*BASE, "grad_checkpointing=true"]), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_resumable_false_keeps_weights_only(tmp_path):
    train(load_config(None, [*BASE, "resumable=false", "epochs=1"]), tmp_path / "run")
    assert not (tmp_path / "run" / "last.safetensors").exists() and (tmp_path / "run" / "best.safetensors").exists()
    with pytest.raises(ValueError, match="has no last.safetensors to resume from"):
        train(load_config(tmp_path / "run" / "config.yaml"), tmp_path / "run", resume=True)


def test_nan_weights_are_an_error_not_a_score(tmp_path):
    train(load_config(None, [*BASE, "epochs=1"]), tmp_path / "run")
    weights = load_file(tmp_path / "run" / "best.safetensors")
    weights["fc.weight"][0, 0] = float("nan")
    from safetensors.torch import save_file
    save_file(weights, tmp_path / "nan.safetensors", metadata={"format": "saga-attention", "model": "toy_line"})
    with pytest.raises(ValueError, match=r"holds NaN or infinite values in 1 tensor\(s\) \(e.g. fc.weight\)"):
        run_eval(tmp_path / "nan.safetensors", BASE)


def test_diverging_training_stops_with_advice(tmp_path):
    with pytest.raises(ValueError, match="training diverged in epoch 1: the loss is .*lower lr"):
        train(load_config(None, [*BASE, "lr=1e30", "epochs=2"]), tmp_path / "run")
    assert not (tmp_path / "run" / "last.safetensors").exists()


def test_warmup_is_scaled_to_the_run():
    assert warmup_steps(3, 10, 20) == 4                       # 3 epochs of 10 steps in a 2-epoch run: a fifth
    assert warmup_steps(1, 10, 100) == 10
    lrs = [lr_at(s, 20, warmup_steps(3, 10, 20), 1.0, 0.0) for s in range(20)]
    assert lrs.index(max(lrs)) == 3 and lrs[-1] < 0.01        # peaks, then decays within the run
