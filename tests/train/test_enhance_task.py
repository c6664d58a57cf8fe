"""Low-light enhancement through the engine: paired folders and photo folders, PSNR-best checkpoints, resume,
saga eval, and init= fine-tuning."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from saga_attention.cli import main
from saga_attention.data.darkening import PLAIN, darken
from saga_attention.models import read_checkpoint
from saga_attention.train import get_task, load_config, train
from saga_attention.train.distributed import Process

TINY = ["model=saga_llie_tiny", "crop=32", "samples_per_epoch=8", "batch_size=4", "workers=0", "device=cpu",
        "warmup_epochs=0", "ema_decay=0.5", "lr=1e-3"]


def _paired(root):
    rng = np.random.default_rng(0)
    for split, count in (("train", 3), ("val", 2)):
        for folder in ("input", "target"):
            (root / split / folder).mkdir(parents=True)
        for i in range(count):
            target = rng.integers(60, 255, (40 + 4 * i, 36, 3), dtype=np.uint8)
            Image.fromarray(target).save(root / split / "target" / f"{i}.png")
            Image.fromarray(target // 6).save(root / split / "input" / f"{i}.png")
    return root


def test_train_resume_eval_and_fine_tune_on_a_paired_folder(tmp_path, capsys):
    data = _paired(tmp_path / "pairs")
    run = tmp_path / "run"
    config = load_config(None, [*TINY, f"data={data}", "epochs=1", f"out={run}"])
    assert config.task_name == "enhance"
    summary = train(config)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert {"val_psnr", "val_ssim", "val_psnr_gt_mean", "ema_psnr"} <= set(rows[0]) and summary["best_metric"] == "psnr"
    assert main(["train", "--resume", str(run), "epochs=2"]) == 0
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    assert main(["eval", "--model", str(run)]) == 0
    assert "(2 samples): PSNR" in capsys.readouterr().out
    tuned = load_config(None, [*TINY, f"data={data}", f"init={run}"])
    model = get_task("enhance")(tuned, Process(0, 1, torch.device("cpu"))).build_model()
    best, _ = read_checkpoint(run / "best.safetensors")
    assert all(torch.equal(best[k], v) for k, v in model.state_dict().items())


def test_a_plain_photo_folder_becomes_synthetic_pairs_split_by_name(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(30):
        Image.fromarray(rng.integers(0, 255, (24, 20, 3), dtype=np.uint8)).save(tmp_path / f"img{i:02d}.jpg")
    task = get_task("enhance")(load_config(None, [*TINY, f"data={tmp_path}"]), Process(0, 1, torch.device("cpu")))
    train, val = task._pairs("train"), task._pairs("val")
    assert len(train.photos) + len(val.photos) == 30 and 0 < len(val.photos) < 10
    assert not set(train.photos) & set(val.photos)
    assert len(train) == len(train.photos) and len(val) == len(PLAIN) * len(val.photos)   # each family once
    assert sorted(family for _, family in val.items) == sorted(PLAIN * len(val.photos))
    first, again = val[0], val[0]
    assert torch.equal(first[0], again[0]) and first[0].float().mean() < first[1].float().mean()   # fixed and darker
    name, family = val.items[0]
    photo = np.asarray(Image.open(name).convert("RGB"))
    assert torch.equal(first[0], torch.from_numpy(darken(photo, family, 0, Path(name).name)).permute(2, 0, 1))


@pytest.mark.parametrize("data", ["lowlight", "lowlight-heldout"])
def test_the_built_in_sets_use_separate_photographs(data):
    task = get_task("enhance")(load_config(None, [*TINY, f"data={data}"]), Process(0, 1, torch.device("cpu")))
    names = set(task.eval_dataset().photos)
    assert names == ({"chelsea", "rocket", "astronaut", "coffee"} if data == "lowlight-heldout" else {"grace_hopper"})
    if data == "lowlight":               # validation never sees a training photograph
        assert not names & set(task._pairs("train").photos)


def test_the_photos_setting_picks_the_training_photographs_and_never_a_held_out_one():
    task = get_task("enhance")(load_config(None, [*TINY, "photos=[camera,retina]"]), Process(0, 1, torch.device("cpu")))
    assert list(task._pairs("train").photos) == ["camera", "retina"]
    for photos in ("[chelsea]", "[grace_hopper]", "[nonesuch]", "[]"):
        with pytest.raises(ValueError, match="photos takes one or more of"):
            load_config(None, [*TINY, f"photos={photos}"])
