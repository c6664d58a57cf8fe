import numpy as np
import pytest
import torch
import torch.nn.functional as F

from saga_attention.data import TASKS, generate, num_classes
from saga_attention.data.procedural import MATCH_PALETTE, StreamedTask, pathfinder_scene


@pytest.mark.parametrize("task", list(TASKS))
def test_splits_are_deterministic_and_distinct(task):
    images, labels = generate(task, "train", 64, 12, seed=3)
    again, again_labels = generate(task, "train", 64, 12, seed=3)
    assert images.shape == (12, 3, 64, 64) and images.dtype == torch.uint8
    assert torch.equal(images, again) and torch.equal(labels, again_labels)
    prefix, _ = generate(task, "train", 64, 5, seed=3)          # image i depends on i alone
    assert torch.equal(prefix, images[:5])
    assert not torch.equal(generate(task, "val", 64, 12, seed=3)[0], images)
    assert not torch.equal(generate(task, "train", 64, 12, seed=4)[0], images)
    assert labels.min() >= 0 and labels.max() < num_classes(task)


@pytest.mark.parametrize("task", list(TASKS))
def test_labels_are_balanced(task):
    _, labels = generate(task, "train", 64, 200)
    counts = labels.bincount(minlength=num_classes(task)).float()
    assert counts.min() > 0.6 * counts.mean()


def _grow(seed: torch.Tensor, ink: torch.Tensor) -> torch.Tensor:
    """The part of `ink` connected to `seed` (both (H, W) bool)."""
    region = seed & ink
    while True:
        grown = F.max_pool2d(region[None, None].float(), 3, 1, 1)[0, 0].bool() & ink
        if torch.equal(grown, region):
            return region
        region = grown


@pytest.mark.parametrize("size", [64, 128])
def test_pathfinder_label_says_whether_the_dots_are_joined(size):
    for index in range(24):
        image, label, dots = pathfinder_scene(np.random.default_rng([1, 0, index]), size)
        ink = torch.from_numpy(image[0] > 0)
        (xa, ya), (xb, yb) = (np.round(d).astype(int) for d in dots)
        seed = torch.zeros_like(ink)
        seed[ya, xa] = True
        assert ink[ya, xa] and ink[yb, xb]
        assert bool(_grow(seed, ink)[yb, xb]) == bool(label)


def test_pathfinder_dots_are_as_far_apart_in_both_classes():
    """The dots' distance is no shortcut: its spread is the same for joined and for separate dots."""
    scenes = [pathfinder_scene(np.random.default_rng([5, 0, index]), 64) for index in range(300)]
    distance = np.array([np.hypot(*(dots[0] - dots[1])) for _, _, dots in scenes])
    label = np.array([label for _, label, _ in scenes])
    joined, separate = distance[label == 1], distance[label == 0]
    assert abs(joined.mean() - separate.mean()) < 1.5
    assert np.abs(np.percentile(joined, [25, 50, 75]) - np.percentile(separate, [25, 50, 75])).max() < 2.0


def _glyph(mask: torch.Tensor) -> torch.Tensor:
    rows, cols = mask.any(1).nonzero()[:, 0], mask.any(0).nonzero()[:, 0]
    return mask[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def test_match_label_is_the_colour_of_the_query_shape():
    images, labels = generate("match", "val", 64, 24, seed=2)
    palette = torch.from_numpy(MATCH_PALETTE)
    for image, label in zip(images, labels):
        pixels = image.permute(1, 2, 0)                            # (H, W, 3)
        colours = [(pixels == palette[c]).all(-1) for c in range(len(palette))]
        assert all(c.any() for c in colours), "every image holds every colour"
        query = (pixels[:16, :16] == 255).all(-1)
        assert torch.equal(_glyph(colours[label]), _glyph(query))


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="unknown built-in task 'maze'; choose one of pathfinder, match"):
        generate("maze", "train", 64, 1)
    with pytest.raises(ValueError, match="sizes 64..224 divisible by 32; got 48"):
        generate("match", "train", 48, 1)
    with pytest.raises(ValueError, match="split must be one of train, val, stream; got 'test'"):
        generate("match", "test", 64, 1)


def test_worker_processes_give_the_same_split():
    one = generate("match", "train", 64, 1000, processes=1)
    two = generate("match", "train", 64, 1000, processes=2)
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])


def test_symmetry_label_says_whether_the_halves_mirror():
    images, labels = generate("symmetry", "train", 224, 40)
    for image, label in zip(images, labels):
        mirrored = torch.equal(image, image.flip(-1))
        assert mirrored == bool(label)
        if not label:                                    # two cells of 14 x 14 pixels differ from their mirror
            differs = (image != image.flip(-1)).any(0)
            assert differs.sum() == 2 * 2 * 14 * 14


@pytest.mark.parametrize("task", list(TASKS))
def test_two_epochs_of_a_stream_never_see_the_same_image(task):
    stream = StreamedTask(task, 64, 24, seed=5)
    seen = []
    for epoch in (0, 1):
        stream.set_epoch(epoch)
        seen += [stream[i][0].numpy().tobytes() for i in range(len(stream))]
    assert len(set(seen)) == len(seen) == 48
    fixed = generate(task, "train", 64, 24, seed=5)[0]        # the stream shares nothing with the fixed splits
    assert not {image.numpy().tobytes() for image in fixed} & set(seen)
    stream.set_epoch(1)                                      # and is reproducible from (seed, epoch, index)
    assert stream[3][0].numpy().tobytes() == seen[24 + 3]


def test_a_stream_refuses_an_unknown_task():
    with pytest.raises(ValueError, match="unknown built-in task 'mnist'"):
        StreamedTask("mnist", 64, 10)
