import os

import pytest
import torch

os.environ.setdefault("RMM_PROGRESS", "0")
# One thread per pytest-xdist worker (make test runs two on two cores: two threads each made steps
# 10-20x slower); up to two in a single process.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def small_splits():
    from rmm_lib.data import make_benchmark

    return make_benchmark(n_train=240, n_val=80, n_test=80, seed=3)


@pytest.fixture(scope="session")
def splits():
    """The quick profile's benchmark (seed 0)."""
    from rmm_lib.data import make_benchmark

    return make_benchmark(seed=0)


@pytest.fixture
def batch(small_splits):
    """Twelve test samples with mixed presence: 0-3 lack the image, 4-7 have only the image."""
    from dataclasses import replace

    b = small_splits["test"][list(range(12))]
    present = b.present.clone()
    present[:4, 0] = False
    present[4:8, 1:] = False
    return replace(b, present=present)
