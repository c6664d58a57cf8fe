"""Photos in and out: every mode, bit depth and orientation comes back as it went in."""
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms, ImageOps

from saga_attention.enhancement.images import read_photo, write_photo, write_png16


def _pixels(h=12, w=20, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_eight_bit_rgb_round_trips_exactly(tmp_path):
    Image.fromarray(_pixels()).save(tmp_path / "a.png")
    photo = read_photo(tmp_path / "a.png")
    assert (photo.mode, photo.bits, photo.format, photo.rgb.shape) == ("RGB", 8, "PNG", (12, 20, 3))
    write_photo(photo, photo.rgb, tmp_path / "b.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "b.png")), _pixels())


def test_sixteen_bit_rgb_png_and_tiff_keep_every_bit(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 65536, (9, 13, 3), dtype=np.uint16)
    write_png16(tmp_path / "a.png", pixels)
    tifffile.imwrite(tmp_path / "a.tif", pixels, photometric="rgb")
    for name in ("a.png", "a.tif"):
        photo = read_photo(tmp_path / name)
        assert photo.bits == 16 and np.array_equal(np.round(photo.rgb * 65535).astype(np.uint16), pixels), name
        write_photo(photo, photo.rgb, tmp_path / f"out-{name}")
        again = read_photo(tmp_path / f"out-{name}")
        assert again.bits == 16 and np.array_equal(again.rgb, photo.rgb), name


def test_sixteen_bit_grayscale_stays_sixteen_bit_grayscale(tmp_path):
    gray = np.random.default_rng(2).integers(0, 65536, (7, 9), dtype=np.uint16)
    Image.fromarray(gray).save(tmp_path / "g.png")
    photo = read_photo(tmp_path / "g.png")
    assert (photo.mode, photo.bits) == ("L", 16) and np.allclose(photo.rgb[..., 1] * 65535, gray, atol=0.5)
    write_photo(photo, photo.rgb, tmp_path / "out.png")
    out = Image.open(tmp_path / "out.png")
    assert out.mode.startswith("I") and np.abs(np.asarray(out).astype(int) - gray).max() <= 1


def test_alpha_grayscale_cmyk_and_palette_are_converted_and_restored(tmp_path):
    rgba = np.dstack([_pixels(), np.arange(240, dtype=np.uint8).reshape(12, 20)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    Image.fromarray(_pixels()[..., 0]).save(tmp_path / "g.png")
    Image.fromarray(_pixels()).convert("CMYK").save(tmp_path / "c.jpg")
    Image.fromarray(_pixels()).convert("P").save(tmp_path / "p.png")
    for name, mode in [("a.png", "RGBA"), ("g.png", "L"), ("c.jpg", "CMYK"), ("p.png", "RGB")]:
        photo = read_photo(tmp_path / name)
        write_photo(photo, photo.rgb * 0.5, tmp_path / f"out-{name}")
        out = Image.open(tmp_path / f"out-{name}")
        assert out.mode == mode and out.size == (20, 12), name
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out-a.png"))[..., 3], rgba[..., 3])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_and_reset_and_icc_is_kept(tmp_path, orientation):
    image = Image.fromarray(_pixels(10, 16))
    exif = image.getexif()
    exif[0x0112] = orientation
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image.save(tmp_path / "a.jpg", exif=exif.tobytes(), icc_profile=icc, quality=100)
    photo = read_photo(tmp_path / "a.jpg")
    upright = np.asarray(ImageOps.exif_transpose(Image.open(tmp_path / "a.jpg")))
    assert np.array_equal(np.round(photo.rgb * 255).astype(np.uint8), upright)
    write_photo(photo, photo.rgb, tmp_path / "out.jpg")
    out = Image.open(tmp_path / "out.jpg")
    assert out.size == upright.shape[1::-1] and out.getexif().get(0x0112) == 1 and out.info["icc_profile"] == icc


def test_corrupt_files_and_decompression_bombs_are_refused_in_one_line(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ValueError, match="not a readable image"):
        read_photo(tmp_path / "bad.jpg")
    Image.new("RGB", (100, 80)).save(tmp_path / "big.png")
    with pytest.raises(ValueError, match="above the limit of .* raise it with --max-pixels"):
        read_photo(tmp_path / "big.png", max_pixels=5000)
    assert read_photo(tmp_path / "big.png", max_pixels=8000).size == (100, 80)
