"""The darkening families of the evaluation: 8-bit, darker, fixed by (seed, family, name), refused when unknown."""
import numpy as np
import pytest

from saga_attention.data.darkening import FAMILIES, darken


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
