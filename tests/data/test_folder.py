import numpy as np
import pytest
import torch
from folders import make_folder
from PIL import Image

from saga_attention.data import (
    EvalTransform,
    ImageFolder,
    ReplaceUnreadable,
    TrainTransform,
    collate,
    load_rgb,
    mix_batch,
    soft_targets,
)


def test_folder_reads_classes_and_reports_unreadable_files(tmp_path):
    root = make_folder(tmp_path / "train", corrupt="broken.jpg")
    dataset = ImageFolder(root, EvalTransform(32))
    assert dataset.classes == ["cat", "dog"] and len(dataset) == 7
    images, labels, problems = collate([dataset[i] for i in range(len(dataset))])
    assert images.shape == (6, 3, 32, 32) and images.dtype == torch.uint8
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert len(problems) == 1 and "broken.jpg" in problems[0] and "UnidentifiedImageError" in problems[0]


def test_a_training_set_replaces_unreadable_files_and_names_them(tmp_path):
    root = make_folder(tmp_path / "train", per_class=1, corrupt="broken.jpg")   # cat: 0.jpg, broken.jpg; dog
    folder = ImageFolder(root, EvalTransform(32))
    dataset = ReplaceUnreadable(folder, "train")
    broken = [i for i, (path, _) in enumerate(folder.samples) if path.name == "broken.jpg"][0]
    image, label, problem = dataset[broken]
    assert image is not None and label == folder.samples[(broken + 1) % len(dataset)][1]
    assert "broken.jpg" in problem
    images, labels, problems = collate([dataset[i] for i in range(len(dataset))])
    assert len(images) == len(dataset) == 3 and len(problems) == 1        # the batch keeps its size


def test_nothing_readable_is_named(tmp_path):
    for i in range(7):
        (tmp_path / "train" / "cat").mkdir(parents=True, exist_ok=True)
        (tmp_path / "train" / "cat" / f"bad{i}.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"none of the 7 files under train is a readable image: bad0.png, bad1.png"):
        ReplaceUnreadable(ImageFolder(tmp_path / "train", EvalTransform(32)), "train")


def test_empty_and_looping_class_folders_are_refused_by_name(tmp_path):
    root = make_folder(tmp_path / "train")
    (root / "emu").mkdir()
    with pytest.raises(ValueError, match="class folder .*emu' is empty"):
        ImageFolder(root, EvalTransform(32))
    (root / "emu").rmdir()
    (root / "all").symlink_to(root)
    with pytest.raises(ValueError, match="class folder .*all' links to .* counted twice"):
        ImageFolder(root, EvalTransform(32))


def test_16_bit_images_are_scaled_not_saturated(tmp_path):
    ramp = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)        # 0 .. 63000 of 65535
    Image.fromarray(ramp).save(tmp_path / "gray16.png")
    assert Image.open(tmp_path / "gray16.png").mode.startswith("I")
    rgb = np.asarray(load_rgb(tmp_path / "gray16.png"))
    assert rgb.shape == (8, 8, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb[..., 0], np.round(ramp / 257).astype(np.uint8)) and 0 < rgb.mean() < 255
    Image.fromarray(np.ones((4, 4), np.float32)).save(tmp_path / "float.tif")
    with pytest.raises(ValueError, match="floating-point images"):
        load_rgb(tmp_path / "float.tif")


def test_validation_classes_follow_the_training_set(tmp_path):
    make_folder(tmp_path / "val", classes=("dog",))
    assert ImageFolder(tmp_path / "val", EvalTransform(32), classes=["cat", "dog"])[0][1] == 1
    make_folder(tmp_path / "val", classes=("emu",))
    with pytest.raises(ValueError, match="class folders the training set lacks: emu"):
        ImageFolder(tmp_path / "val", EvalTransform(32), classes=["cat", "dog"])


def test_missing_or_empty_folders_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist; expected <root>/<class>/<image>"):
        ImageFolder(tmp_path / "nowhere", EvalTransform(32))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no class folders"):
        ImageFolder(tmp_path / "empty", EvalTransform(32))


def test_transforms_give_the_size_asked_for():
    image = Image.fromarray(np.arange(60 * 90 * 3, dtype=np.uint8).reshape(60, 90, 3))
    torch.manual_seed(0)
    for transform in (TrainTransform(32), TrainTransform(32, scale=(1.0, 1.0), hflip=1.0), EvalTransform(32)):
        out = transform(image)
        assert out.shape == (3, 32, 32) and out.dtype == torch.uint8
    square = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    # the whole square is the only crop of area 1 that fits, so the output is the image, flipped or not
    flipped = TrainTransform(32, scale=(1.0, 1.0), hflip=1.0)(Image.fromarray(square))
    kept = TrainTransform(32, scale=(1.0, 1.0), hflip=0.0)(Image.fromarray(square))
    assert torch.equal(kept, torch.from_numpy(square).permute(2, 0, 1)) and torch.equal(flipped, kept.flip(-1))


def test_mixing_keeps_targets_distributions():
    images, labels = torch.randn(6, 3, 16, 16), torch.tensor([0, 1, 2, 0, 1, 2])
    plain = soft_targets(labels, 3, 0.1)
    assert torch.allclose(plain.sum(-1), torch.ones(6)) and plain[0, 0].item() == pytest.approx(0.9 + 0.1 / 3)
    same, targets = mix_batch(images, labels, 3, 0.1, 0.0, 0.0, 1.0, 0.5)
    assert same is images and torch.equal(targets, plain)
    for mixup, cutmix in ((0.8, 0.0), (0.0, 1.0)):
        mixed, targets = mix_batch(images, labels, 3, 0.1, mixup, cutmix, 1.0, 0.5)
        assert torch.allclose(targets.sum(-1), torch.ones(6))
        # row 0 mixes label 0 with the reversed batch's label 2: t0 - t2 = 0.9 (2 lam - 1)
        lam = ((targets[0, 0] - targets[0, 2]).item() / 0.9 + 1) / 2
        if cutmix:
            pasted = (mixed[0] != images[0]).any(0).float().mean().item()
            assert pasted == pytest.approx(1 - lam, abs=1e-6)
        else:
            assert torch.allclose(mixed[0], lam * images[0] + (1 - lam) * images[5], atol=1e-6)
