"""Small helpers: seeding and device selection."""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def select_device(device: str | None = None) -> torch.device:
    """``device`` if given (or ``RMM_DEVICE``), else CUDA, then Apple MPS, then the CPU."""
    device = device or os.environ.get("RMM_DEVICE")
    if device:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
