"""Small helpers: seeding, device selection and threads."""
from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def set_threads(n: int = 1) -> None:
    """Pin torch to ``n`` CPU threads. The quick profile uses one: its models are small, its checked
    outputs reproduce bit for bit only with a fixed thread count, and on a shared 2-core CPU a
    second thread made steps 10-20x slower."""
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}.")
    torch.set_num_threads(n)


def select_device(device: str | None = None) -> torch.device:
    """``device`` if given, else CUDA, then Apple MPS, then the CPU."""
    if device:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")

