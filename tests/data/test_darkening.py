"""The darkening families of the evaluation (8-bit, darker, fixed by (seed, family, name), refused when unknown)
and the training mixture (every family drawn, casts, noise and JPEG by chance)."""
import numpy as np
import pytest

from saga_attention.data.darkening import FAMILIES, PLAIN, Degradation, darken


@pytest.fixture
def photo():
    rng = np.random.default_rng(0)
    return (rng.uniform(0.2, 1.0, (40, 56, 3)) * 255).astype(np.uint8)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_gives_a_darker_8_bit_image_fixed_by_its_seed(photo, family):
    dark = darken(photo, family, seed=0, name="a")
    assert dark.dtype == np.uint8 and dark.shape == photo.shape
    assert dark.mean() < 0.7 * photo.mean()
    assert np.array_equal(dark, darken(photo, family, seed=0, name="a"))
    assert not np.array_equal(dark, darken(photo, family, seed=1, name="a"))


def test_srgb_scaling_is_a_plain_scale_and_jpeg_changes_it(photo):
    dark = darken(photo, "srgb-scale", name="b").astype(float)
    k = dark.sum() / photo.astype(float).sum()
    assert 0.05 <= k <= 0.3 and np.abs(dark - photo * k).max() <= 0.5 + 1e-9
    assert not np.array_equal(darken(photo, "srgb-scale+jpeg", name="b"), dark.astype(np.uint8))


def test_bad_family_or_image(photo):
    with pytest.raises(ValueError, match="darkening family must be one of sensor"):
        darken(photo, "dusk")
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) uint8 image"):
        darken(photo.astype(np.float32), "gamma")


def test_the_training_mixture_draws_every_family_and_casts_noise_and_jpeg_by_chance():
    gray = np.full((32, 32, 3), 160, np.uint8)
    plain = Degradation(cast_prob=0.0, noise_prob=0.0, jpeg_prob=0.0, families=("srgb-scale", "gamma", "exposure"))
    outputs = [plain(gray, np.random.default_rng(seed)) for seed in range(40)]
    assert all(np.ptp(o) == 0 for o in outputs)                  # no cast, no noise: a flat gray stays flat gray
    assert all(0 < o.mean() < 160 for o in outputs)
    cast = Degradation(cast_prob=1.0, noise_prob=0.0, jpeg_prob=0.0, families=("exposure",))
    assert all(np.ptp(cast(gray, np.random.default_rng(seed)).mean(axis=(0, 1))) > 0 for seed in range(10))
    mixed = [Degradation()(gray, np.random.default_rng(seed)) for seed in range(60)]
    flat = sum(np.ptp(o) == 0 for o in mixed)                    # neither cast nor noise nor JPEG ringing
    assert 0 < flat < 60
    draws = {PLAIN[int(np.random.default_rng(seed).integers(len(PLAIN)))] for seed in range(60)}
    assert draws == set(PLAIN)


def test_the_sensor_family_always_has_noise():
    gray = np.full((32, 32, 3), 160, np.uint8)
    sensor = Degradation(families=("sensor",), cast_prob=0.0, noise_prob=0.0, jpeg_prob=0.0)
    assert all(np.ptp(sensor(gray, np.random.default_rng(seed))) > 0 for seed in range(5))


def test_unknown_training_family_is_refused():
    with pytest.raises(ValueError, match="darkening families are one or more of sensor"):
        Degradation(families=("dusk",))
