"""PSNR and SSIM as the low-light papers report them, against scikit-image's implementations."""
import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from saga_attention.metrics import gt_mean, image_scores, psnr, ssim, to_8bit


def _pair(seed, size=(37, 53)):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(2, 3, *size, generator=g)
    output = (target * 0.7 + 0.2 * torch.rand(2, 3, *size, generator=g) - 0.05)   # some values outside [0, 1]
    return output, target


def _numpy_8bit(t):
    return to_8bit(t).permute(1, 2, 0).numpy()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_psnr_and_ssim_match_scikit_image(seed):
    output, target = _pair(seed)
    ours_psnr, ours_ssim = psnr(output, target), ssim(output, target)
    for i in range(2):
        out8, tgt8 = _numpy_8bit(output[i]), _numpy_8bit(target[i])
        ref_psnr = peak_signal_noise_ratio(tgt8, out8, data_range=255)
        ref_ssim = structural_similarity(tgt8, out8, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                         data_range=255, channel_axis=-1)
        assert abs(ours_psnr[i] - ref_psnr) < 1e-4 and abs(ours_ssim[i] - ref_ssim) < 1e-4
    assert 0 < min(ours_ssim) < 1 and 5 < min(ours_psnr) < 40


def test_the_output_is_measured_as_it_would_be_saved():
    target = torch.full((1, 3, 16, 16), 0.5)
    assert psnr(target + 0.4 / 255, target) == [float("inf")]          # rounds to the same 8-bit value
    assert psnr(target.clone().fill_(1.7), target.clone().fill_(1.0)) == [float("inf")]   # clamped
    assert ssim(target, target) == pytest.approx([1.0])


def test_gt_mean_matches_the_mean_gray_level_only():
    output, target = _pair(3)
    rescaled = gt_mean(output * 0.3, target)
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    gray = lambda t: (t * weights).sum(1).flatten(1).mean(1)  # noqa: E731
    assert torch.allclose(gray(rescaled), gray(target.clamp(0, 1)), atol=0.02)
    assert psnr(gt_mean(output, target), target)[0] != psnr(output, target)[0]


def test_bad_shapes_and_tiny_images_are_clear_errors():
    with pytest.raises(ValueError, match="must both be \\(B, 3, H, W\\)"):
        psnr(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError, match="at least 11 x 11"):
        ssim(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))


def test_image_scores_take_an_hwc_array_against_a_batch_of_one():
    image = np.random.default_rng(0).random((13, 17, 3))
    target = torch.from_numpy(image).permute(2, 0, 1)[None]
    assert image_scores(image, target) == (float("inf"), pytest.approx(1.0))
    assert image_scores(image * 0.5, target) == (pytest.approx(psnr(target * 0.5, target)[0]),
                                                 pytest.approx(ssim(target * 0.5, target)[0]))
