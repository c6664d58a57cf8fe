"""Low-light pairs: the paired layouts, synthetic darkening and the built-in photographs."""
import numpy as np
import pytest
import torch
from PIL import Image

from saga_attention.data.darkening import Degradation
from saga_attention.data.lowlight import (
    BUILTIN_HELD_OUT,
    BUILTIN_TRAIN,
    BUILTIN_VAL,
    GRAY_PHOTOS,
    TRAINABLE_PHOTOS,
    PairedFolder,
    PairTransform,
    SyntheticPairs,
    builtin_photos,
    collate_pairs,
    find_layout,
    is_validation,
    photo_files,
)


def _photo(seed, size=(40, 56)):
    return np.random.default_rng(seed).integers(40, 255, (*size, 3), dtype=np.uint8)


def _save(path, seed, size=(40, 56)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_photo(seed, size)).save(path)


def test_degradation_darkens_in_linear_light_with_noise_and_is_reproducible():
    clean = _photo(0, (64, 64))
    low = Degradation()(clean, np.random.default_rng(1))
    again = Degradation()(clean, np.random.default_rng(1))
    assert low.shape == clean.shape and low.dtype == np.uint8 and np.array_equal(low, again)
    assert low.mean() < 0.7 * clean.mean()
    flat = Degradation(jpeg_prob=0.0)(np.full((64, 64, 3), 200, np.uint8), np.random.default_rng(2))
    assert flat.std() > 0                                      # sensor noise on a flat grey
    assert not np.array_equal(low, Degradation()(clean, np.random.default_rng(2)))


@pytest.mark.parametrize("layout,folders", [
    ("LOL-v1", [("our485", "low", "high"), ("eval15", "low", "high")]),
    ("LOL-v2", [("Train", "Low", "Normal"), ("Test", "Low", "Normal")]),
    ("input/target", [("train", "input", "target"), ("val", "input", "target")]),
])
def test_paired_layouts_are_recognised_and_matched_by_stem(tmp_path, layout, folders):
    for split, low, high in folders:
        for i in range(3):
            _save(tmp_path / split / low / f"{i}.png", i)
            _save(tmp_path / split / high / f"{i}.png", 10 + i)
    _save(tmp_path / folders[0][0] / folders[0][1] / "orphan.png", 99)
    (tmp_path / folders[0][0] / folders[0][1] / "3.png").write_bytes(b"broken")
    _save(tmp_path / folders[0][0] / folders[0][2] / "3.png", 7)
    assert find_layout(tmp_path) == layout
    train = PairedFolder(tmp_path, "train", PairTransform(32))
    assert len(train) == 4 and train.unmatched == [str(tmp_path / folders[0][0] / folders[0][1] / "orphan.png")]
    low, high, problems = collate_pairs([train[i] for i in range(4)])
    assert low.shape == high.shape == (3, 3, 32, 32) and len(problems) == 1 and "3.png" in problems[0]
    val = PairedFolder(tmp_path, "val", PairTransform(0, augment=False))
    lo, hi, problem = val[0]
    assert problem == "" and lo.shape == (3, 40, 56) and torch.equal(lo, torch.from_numpy(_photo(0)).permute(2, 0, 1))


def test_a_folder_without_a_layout_is_named(tmp_path):
    _save(tmp_path / "a.png", 0)
    assert find_layout(tmp_path) is None
    with pytest.raises(ValueError, match="has none of the paired layouts: LOL-v1 \\(our485/low"):
        PairedFolder(tmp_path, "train", PairTransform())


def test_synthetic_pairs_fixed_for_validation_fresh_for_training(tmp_path):
    for i in range(40):
        _save(tmp_path / f"photo{i:02d}.jpg", i)
    train, val = photo_files(tmp_path, "train"), photo_files(tmp_path, "val")
    assert train and val and not set(train) & set(val) and len(train) + len(val) == 40
    assert all(is_validation(p.name) for p in val)
    fixed = SyntheticPairs(val, PairTransform(0, augment=False), Degradation(), fixed_seed=0)
    assert torch.equal(fixed[0][0], fixed[0][0]) and fixed[0][2] == ""
    fresh = SyntheticPairs(train, PairTransform(24), Degradation(), fixed_seed=None)
    a, b = fresh[0], fresh[0]
    assert a[0].shape == a[1].shape == (3, 24, 24) and not torch.equal(a[0], b[0])
    assert a[0].float().mean() < a[1].float().mean()


def test_pair_transform_resizes_and_shuffles_both_images_alike():
    torch.manual_seed(0)
    photo = torch.from_numpy(_photo(1, (60, 90))).permute(2, 0, 1).float()
    high = (photo * torch.tensor([1.0, 0.6, 0.3])[:, None, None]).to(torch.uint8)    # channels told apart by mean
    low = high // 4
    transform = PairTransform(crop=0, scale=(0.5, 0.8), shuffle_channels=True)
    orders, sides = set(), set()
    for _ in range(20):
        low_t, high_t = transform(low, high)
        assert low_t.dtype == high_t.dtype == torch.uint8 and low_t.shape == high_t.shape
        assert 30 <= min(low_t.shape[-2:]) and max(low_t.shape[-2:]) <= 72        # 60 x 90 by 0.5 to 0.8, rotated
        sides.add(tuple(low_t.shape[-2:]))
        # the same resize, rotation, flips and channel order on both: low is still high // 4, to rounding
        assert (low_t.float() - high_t.float() / 4).abs().max() <= 1.5
        means = high_t.float().mean((1, 2))
        orders.add(tuple(int((high.float().mean((1, 2)) - m).abs().argmin()) for m in means))
    assert len(orders) > 1 and len(sides) > 1
    off = PairTransform(crop=0, augment=False, scale=(0.5, 0.8), shuffle_channels=True)(low, high)
    assert torch.equal(off[1], high)                                     # validation: nothing changes
    with pytest.raises(ValueError, match="scale"):
        PairTransform(scale=(0.5, 1.5))


def test_builtin_photographs_are_rgb_and_split():
    assert not set(TRAINABLE_PHOTOS) & set(BUILTIN_HELD_OUT + BUILTIN_VAL)
    assert set(BUILTIN_TRAIN) <= set(TRAINABLE_PHOTOS)
    photos = builtin_photos(TRAINABLE_PHOTOS + BUILTIN_VAL + BUILTIN_HELD_OUT)
    assert all(p.ndim == 3 and p.shape[2] == 3 and p.dtype == np.uint8 and min(p.shape[:2]) >= 128
               for p in photos.values())                         # at least one training crop
    gray = photos[GRAY_PHOTOS[0]]
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 0], gray[..., 2])
