"""`holdout`: tune on training images the run never trains on, without reading the validation split."""
import pytest
import torch
from folders import make_folder

from saga_attention.data.procedural import StreamedTask
from saga_attention.train import get_task, load_config
from saga_attention.train.classify import builtin_split
from saga_attention.train.distributed import Process
from saga_attention.train.engine import train

SMALL = ["img_size=64", "train_size=48", "val_size=16", "batch_size=16", "workers=0", "device=cpu"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SAGA_CACHE", str(tmp_path / "cache"))


def _task(settings):
    config = load_config(None, settings)
    return get_task(config.task_name)(config, Process(0, 1, torch.device("cpu")))


def test_a_builtin_task_holds_out_part_of_its_training_split():
    data = _task([*SMALL, "data=match", "holdout=12"]).datasets()
    assert len(data.train) == 36 and len(data.val) == 12 and "12 training images held out" in data.source
    everything, labels = builtin_split("match", "train", 64, 48, 0)
    seen = torch.stack([data.train[i][0] for i in range(36)])
    held = torch.stack([data.val[i][0] for i in range(12)])
    key = {image.numpy().tobytes(): i for i, image in enumerate(everything)}
    train_ids, held_ids = {key[image.numpy().tobytes()] for image in seen}, [key[i.numpy().tobytes()] for i in held]
    assert not train_ids & set(held_ids) and train_ids | set(held_ids) == set(range(48))
    assert [data.val[i][1] for i in range(12)] == labels[held_ids].tolist()
    again = _task([*SMALL, "data=match", "holdout=12"]).datasets().val
    assert all(torch.equal(again[i][0], held[i]) for i in range(12))         # the same images every run


def test_a_folder_holds_out_training_files_and_never_reads_its_val_split(tmp_path):
    make_folder(tmp_path / "data" / "train", per_class=5, size=(80, 72))
    (tmp_path / "data" / "val").mkdir()                                       # empty: would fail if read
    data = _task([*SMALL, "holdout=4", f"data={tmp_path / 'data'}"]).datasets()
    assert len(data.train) == 6 and len(data.val) == 4
    assert data.val[0][0].shape == (3, 64, 64)                                # evaluation transform


def test_a_holdout_that_leaves_nothing_to_train_on_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="holdout=48 leaves no training images: train_size is 48"):
        load_config(None, [*SMALL, "data=match", "holdout=48"])
    make_folder(tmp_path / "data" / "train", per_class=2)
    (tmp_path / "data" / "val").mkdir()
    with pytest.raises(ValueError, match="holdout=4 leaves no training images: the training set has 4"):
        _task([*SMALL, "holdout=4", f"data={tmp_path / 'data'}"]).datasets()


def test_a_streamed_run_trains_on_fresh_images_each_epoch(tmp_path, monkeypatch):
    """stream=true: the engine moves the stream on every epoch; holdout reads the fixed training split."""
    settings = [*SMALL, "data=symmetry", "stream=true", "holdout=8", "train_size=32", "epochs=2", "model=saga_pvt_tiny"]
    data = _task(settings).datasets()
    assert len(data.train) == 32 and len(data.val) == 8 and "streamed" in data.source
    assert torch.equal(data.val[0][0], builtin_split("symmetry", "train", 64, 8, 0)[0][0])
    seen, original = [], StreamedTask.__getitem__

    def spy(self, index):
        seen.append(self.stream_index(index))
        return original(self, index)

    monkeypatch.setattr(StreamedTask, "__getitem__", spy)
    train(load_config(None, settings), tmp_path / "run")
    assert sorted(seen) == list(range(64))                  # 2 epochs x 32 images, none twice
