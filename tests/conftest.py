import os

import pytest
import torch

os.environ.setdefault("RMM_PROGRESS", "0")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def small_splits():
    from rmm_lib.data import make_benchmark

    return make_benchmark(n_train=240, n_val=80, n_test=80, seed=3)


@pytest.fixture(scope="session")
def splits():
    """The quick profile's benchmark (seed 0)."""
    from rmm_lib.data import make_benchmark

    return make_benchmark(seed=0)
