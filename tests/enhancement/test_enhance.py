"""The enhancer: tiles that blend without seams, the Python API's kinds in and out, and `saga enhance`."""
import numpy as np
import pytest
import torch
from PIL import Image

import saga_attention as sa
from saga_attention.cli import main
from saga_attention.enhancement import Enhancer
from saga_attention.enhancement.tiles import MemoryModel, plan_tile, ramp, run_tiled, tile_starts
from saga_attention.models import save_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return save_checkpoint(sa.create_model("saga_llie_tiny"), tmp_path_factory.mktemp("w") / "llie.safetensors")


def test_tiles_cover_the_image_and_blend_a_local_function_exactly():
    assert tile_starts(100, 40, 8) == [0, 32, 60] and tile_starts(30, 40, 8) == [0]
    assert torch.allclose(ramp(10, 4, True, True, torch.device("cpu"))[[0, 3, 4, 9]],
                          torch.tensor([0.125, 0.875, 1.0, 0.125]))
    image = torch.rand(1, 3, 70, 101)
    out = run_tiled(lambda x: 2 * x + 1, image, tile=32, overlap=8)
    assert torch.allclose(out, 2 * image + 1, atol=1e-6)
    ramp_image = torch.linspace(0, 1, 101).expand(1, 3, 70, 101)          # each tile's own constant: its mean
    blended = run_tiled(lambda x: torch.full_like(x, float(x.mean())), ramp_image, tile=32, overlap=8)
    steps = blended.diff(dim=-1).abs().max()
    assert steps < 0.05, steps            # tile means differ by about 0.24: the ramps spread that over the overlap


def test_the_memory_plan_runs_whole_images_that_fit_and_tiles_the_rest():
    memory = MemoryModel(fixed=1e6, per_pixel=100.0)
    assert plan_tile(memory, 100, 100, budget=2e6, tile=None) is None
    side = plan_tile(memory, 4000, 6000, budget=1e8, tile=None)
    assert side % 64 == 0 and memory.bytes(side, side) <= 1e8 < memory.bytes(side + 64, side + 64)
    assert plan_tile(memory, 4000, 6000, budget=1e8, tile=256) == 256
    with pytest.raises(ValueError, match="raise --max-memory"):
        plan_tile(memory, 4000, 6000, budget=1e6, tile=None)


def test_enhance_gives_back_the_kind_it_was_given(checkpoint):
    rgb = np.random.default_rng(0).integers(0, 80, (20, 30, 3), dtype=np.uint8)
    pil = sa.enhance(Image.fromarray(rgb), model=str(checkpoint), device="cpu")
    assert isinstance(pil, Image.Image) and pil.size == (30, 20) and pil.mode == "RGB"
    array = sa.enhance(rgb, model=str(checkpoint), device="cpu")
    assert array.dtype == np.uint8 and array.shape == rgb.shape
    tensor = sa.enhance(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255, model=str(checkpoint), device="cpu")
    assert tensor.shape == (3, 20, 30) and tensor.dtype == torch.float32
    assert np.array_equal(np.asarray(pil), array)
    assert np.array_equal(sa.enhance(rgb, model=str(checkpoint), strength=0.0, device="cpu"), rgb)
    with pytest.raises(ValueError, match="PIL image, a NumPy array or a torch tensor"):
        sa.enhance([[1, 2, 3]], model=str(checkpoint))


def test_a_forced_tile_size_is_used_and_covers_the_image(checkpoint):
    enhancer = Enhancer(str(checkpoint), device="cpu", tile=64)
    rgb = np.random.default_rng(1).random((90, 150, 3), dtype=np.float32) * 0.3
    assert enhancer.plan(90, 150) == ("tiles", 64)
    out = enhancer(rgb)
    assert out.shape == rgb.shape and np.isfinite(out).all() and 0 <= out.min() and out.max() <= 1


def test_saga_enhance_mirrors_folders_skips_existing_outputs_and_names_bad_files(tmp_path, checkpoint, capsys):
    photos = tmp_path / "in"
    (photos / "trip").mkdir(parents=True)
    Image.fromarray(np.full((16, 24, 3), 30, np.uint8)).save(photos / "a.jpg")
    Image.fromarray(np.full((12, 12, 3), 20, np.uint8)).save(photos / "trip" / "b.png")
    (photos / "trip" / "c.png").write_bytes(b"broken")
    Image.new("RGB", (200, 100)).save(photos / "huge.png")
    out = tmp_path / "out"
    argv = ["enhance", str(photos), "-o", str(out), "--model", str(checkpoint), "--max-pixels", "10000", "--compare"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "c.png: not a readable image" in err and "huge.png" in err and "--max-pixels" in err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        ".saga-enhance", "a.jpg", "a.jpg.compare.jpg", "trip/b.png", "trip/b.png.compare.jpg"]
    stamp = (out / "a.jpg").stat().st_mtime_ns
    assert main(argv[:4] + ["--model", str(checkpoint)]) == 1 and (out / "a.jpg").stat().st_mtime_ns == stamp
    assert "skipped 2 whose output exists" in capsys.readouterr().out
    assert main([*argv[:4], "--model", str(checkpoint), "--overwrite", "--max-pixels", "100000"]) == 1
    assert (out / "huge.png").is_file() and (out / "a.jpg").stat().st_mtime_ns != stamp


def test_comparisons_of_one_stem_get_their_own_names_and_outputs_inside_the_inputs_are_never_read(tmp_path,
                                                                                                    checkpoint):
    photos = tmp_path / "in"
    photos.mkdir()
    Image.fromarray(np.full((16, 24, 3), 30, np.uint8)).save(photos / "a.jpg")
    Image.fromarray(np.full((16, 24, 3), 40, np.uint8)).save(photos / "a.png")
    out = photos / "bright"                                      # the output folder inside the input folder
    argv = ["enhance", str(photos), "-o", str(out), "--model", str(checkpoint), "--compare"]
    assert main(argv) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == [".saga-enhance", "a.jpg", "a.jpg.compare.jpg", "a.png", "a.png.compare.jpg"]
    assert main(argv) == 0 and sorted(p.name for p in out.iterdir()) == written   # outputs are not inputs
    assert main([*argv, "--overwrite"]) == 0 and sorted(p.name for p in out.iterdir()) == written
