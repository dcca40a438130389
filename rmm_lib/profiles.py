"""Run profiles, and the one module that reads the environment.

``quick`` (the default) runs offline on a CPU in minutes on the embedded benchmark.
``paper`` uses the papers' backbones, datasets and hyperparameters on one GPU.

:func:`get_profile` is pure: it returns the named profile. :func:`profile_from_env` reads
``RMM_PROFILE`` and ``RMM_DATA_ROOT``; only the entry points call it (``rmm_lib.notebook.setup``
and the command line), and they pass the profile down. The other variables read here are
display and cache settings with defaults for standalone use: ``RMM_PROGRESS`` (tqdm bars),
``RMM_CACHE`` (pretrained quick-profile models) and ``HF_HOME`` (named in download advice).
A test checks that no other module of ``rmm_lib`` (outside the entry points) touches the environment.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

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
    """The profile the environment asks for, ``RMM_PROFILE`` (default ``quick``)."""
    return os.environ.get(PROFILE_ENV, "quick").strip().lower() or "quick"


def get_profile(name: str = "quick", data_root: str | None = None) -> Profile:
    """The settings of profile ``name`` (``quick`` or ``paper``), with ``data_root`` if given."""
    name = str(name).strip().lower()
    if name not in _PROFILES:
        raise ValueError(
            f"Unknown profile {name!r}. Use one of {sorted(_PROFILES)} (environment: {PROFILE_ENV}; "
            "quick: CPU, offline, minutes; paper: papers' settings on one GPU)."
        )
    profile = _PROFILES[name]
    if data_root:
        profile = replace(profile, data_root=os.path.expanduser(str(data_root)))
    return profile


def profile_from_env(name: str | None = None) -> Profile:
    """The profile of an entry point: ``name``, else ``RMM_PROFILE``; ``RMM_DATA_ROOT`` as data root."""
    return get_profile(name or profile_name(), os.environ.get("RMM_DATA_ROOT"))


def data_root_from_env() -> str:
    """``RMM_DATA_ROOT``, else the profiles' default (``~/rmm_data``)."""
    return os.path.expanduser(os.environ.get("RMM_DATA_ROOT") or _PROFILES["quick"].data_root)


def cache_root() -> Path:
    """Where rmm keeps what it builds once (``RMM_CACHE``, default ``~/.cache/rmm``)."""
    return Path(os.environ.get("RMM_CACHE", "~/.cache/rmm")).expanduser()


def hf_home() -> str:
    """Hugging Face's cache folder, for messages that say where a download goes."""
    return os.environ.get("HF_HOME", "~/.cache/huggingface")


#: Environment variables that choose other floating-point kernels than the processor's own
#: (``benchmarks/kernel_drift.py`` and ``make test``'s other-CPU step set them).
KERNEL_VARIABLES = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA")


def kernel_overrides() -> dict:
    """The kernel-choosing environment variables that are set (records keep them as provenance)."""
    return {name: os.environ[name] for name in KERNEL_VARIABLES if os.environ.get(name)}


def progress_enabled(progress: bool | None = None) -> bool:
    """Whether to show tqdm bars: an explicit argument wins, then ``RMM_PROGRESS`` (default on)."""
    if progress is not None:
        return bool(progress)
    return os.environ.get(PROGRESS_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}
