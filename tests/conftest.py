import os

import pytest
import torch

if not torch.cuda.is_available():
    # Triton kernels run in its CPU interpreter here; set before anything imports triton's jit.
    os.environ.setdefault("TRITON_INTERPRET", "1")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _free_gpu_memory(request):
    """Give cached GPU memory back after each GPU test: several test processes share one GPU."""
    yield
    if "gpu" in request.keywords and torch.cuda.is_available():
        torch.cuda.empty_cache()
