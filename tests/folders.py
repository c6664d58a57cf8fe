"""Image folders made by the tests (ImageNet layout)."""
import numpy as np
from PIL import Image


def make_folder(root, classes=("cat", "dog"), per_class=3, size=(40, 30), corrupt=None):
    """An ImageNet-layout split folder of small PNG/JPEG images, plus an optional corrupt file."""
    rng = np.random.default_rng(0)
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, (size[1], size[0], 3), dtype=np.uint8) + 150 * label
            Image.fromarray(pixels).save(root / name / f"{i}.{'png' if i % 2 else 'jpg'}")
    if corrupt:
        (root / classes[0] / corrupt).write_bytes(b"not an image at all")
    return root
