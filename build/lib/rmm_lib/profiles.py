"""Run profiles: the one place every notebook and script reads its settings from.

``quick`` (the default) runs offline on a CPU in minutes on the embedded benchmark.
``paper`` uses the papers' backbones, datasets and hyperparameters on one GPU.

Choose with the environment variable ``RMM_PROFILE`` (``quick`` or ``paper``) or by passing
the name to :func:`get_profile`.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

PROFILE_ENV = "RMM_PROFILE"
PROGRESS_ENV = "RMM_PROGRESS"


@dataclass(frozen=True)
class Profile:
    """Settings shared by every chapter. Chapters read what they need and ignore the rest."""

    name: str
    # Embedded benchmark sizes (the paper profile uses a 10x larger draw when no real data is loaded).
    n_train: int
    n_val: int
    n_test: int
    # Training defaults.
    epochs: int
    batch_size: int
    patience: int
    # Where real datasets and downloaded weights live (paper profile).
    data_root: str
    # Backbones by their real names (paper) or the small quick-profile stand-ins.
    backbones: dict = field(default_factory=dict)
    offline: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


_PROFILES = {
    "quick": Profile(
        name="quick",
        n_train=1200,
        n_val=300,
        n_test=600,
        epochs=12,
        batch_size=64,
        patience=4,
        data_root=os.path.expanduser("~/rmm_data"),
        backbones={"image": "cnn-small", "text": "bag-of-words", "audio": "transformer-small"},
        offline=True,
    ),
    "paper": Profile(
        name="paper",
        n_train=12000,
        n_val=3000,
        n_test=6000,
        epochs=100,
        batch_size=64,
        patience=10,
        data_root=os.path.expanduser("~/rmm_data"),
        backbones={
            "clip": "ViT-B-32/openai",
            "clip_cmpt": "ViT-B-16/openai",
            "text": "bert-base-uncased",
            "audio": "MIT/ast-finetuned-audioset-10-10-0.4593",
        },
        offline=False,
    ),
}


def profile_name() -> str:
    """The active profile's name, from ``RMM_PROFILE`` (default ``quick``)."""
    return os.environ.get(PROFILE_ENV, "quick").strip().lower() or "quick"


def get_profile(name: str | None = None) -> Profile:
    """Return the settings of profile ``name`` (default: the ``RMM_PROFILE`` environment variable)."""
    name = (name or profile_name()).strip().lower()
    if name not in _PROFILES:
        raise ValueError(
            f"Unknown profile {name!r}. Set {PROFILE_ENV} to one of {sorted(_PROFILES)} "
            f"(quick: CPU, offline, minutes; paper: papers' settings on one GPU)."
        )
    profile = _PROFILES[name]
    root = os.environ.get("RMM_DATA_ROOT")
    if root:
        from dataclasses import replace

        profile = replace(profile, data_root=os.path.expanduser(root))
    return profile


def progress_enabled(progress: bool | None = None) -> bool:
    """Whether to show tqdm bars: an explicit argument wins, then ``RMM_PROGRESS`` (default on)."""
    if progress is not None:
        return bool(progress)
    return os.environ.get(PROGRESS_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}
