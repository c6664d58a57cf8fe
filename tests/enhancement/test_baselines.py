"""The baselines of the low-light evaluation, and the colour and banding metrics they are scored by."""
import numpy as np

from saga_attention import metrics
from saga_attention.data.darkening import linear_to_srgb, srgb_to_linear
from saga_attention.enhancement.baselines import BASELINES, oracle_gain


def sky(levels: int | None = None) -> np.ndarray:
    """A smooth blue gradient, (64, 96, 3) in [0, 1]; with `levels`, posterised to that many steps."""
    ramp = np.linspace(0.4, 0.6, 96)                     # about 0.3 levels of 255 per pixel: smooth
    if levels:
        ramp = np.round(ramp * levels) / levels
    return np.stack([np.tile(ramp, (64, 1)) * c for c in (0.4, 0.6, 1.0)], axis=2)


def test_the_oracle_gain_undoes_an_exposure_in_linear_light():
    target = sky()
    dark = linear_to_srgb(srgb_to_linear(target) * 0.1)
    assert np.abs(oracle_gain(dark, target) - target).max() < 1e-6


def test_the_no_target_baselines_brighten_and_keep_the_shape():
    dark = sky() * 0.1
    for name, baseline in BASELINES.items():
        out = baseline(dark)
        assert out.shape == dark.shape and out.mean() > 2 * dark.mean() and 0 <= out.min() and out.max() <= 1, name


def test_colour_metrics():
    target = sky()
    assert metrics.ciede2000(target, target) == 0 and metrics.saturation_ratio(target, target) == 1
    gray = np.repeat(target.mean(axis=2, keepdims=True), 3, axis=2)
    assert metrics.ciede2000(gray, target) > 5 and metrics.saturation_ratio(gray, target) < 0.1
    assert np.isnan(metrics.saturation_ratio(target, gray))            # a target without colour


def test_banding_counts_steps_where_the_target_is_smooth_not_its_own_edges():
    target = sky()
    assert metrics.banding(target, target) == 0
    assert metrics.banding(sky(levels=10), target) > 3                  # two steps of 15 levels
    assert metrics.banding(np.clip(target + np.random.default_rng(0).normal(0, 0.004, target.shape), 0, 1),
                           target) < 1                                   # fine grain is not banding


def test_grid_measures_a_checkerboard_of_alternate_rows_or_columns_where_the_target_is_smooth():
    target = sky()
    assert metrics.grid(target, target) < 0.05
    columns, rows = target.copy(), target.copy()
    columns[:, ::2] += 1 / 255                                           # alternate columns one level brighter
    rows[::2] += 2 / 255
    assert 0.9 < metrics.grid(columns, target) < 1.1 and 1.8 < metrics.grid(rows, target) < 2.2
    grain = np.clip(target + np.random.default_rng(0).normal(0, 0.004, target.shape), 0, 1)
    assert metrics.grid(grain, target) < 0.3                             # one level of noise averages out
    assert metrics.grid(sky(levels=10), target) < 0.05                   # steps are banding's, not a grid
