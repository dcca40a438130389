"""The one call every notebook's setup cell makes.

:func:`setup` is an entry point: it reads the run profile (``RMM_PROFILE``) once, picks the device
and prints a one-line summary, so a reader sees at the top of each page which settings produced its
numbers. The notebook passes the returned profile to every recipe it calls. It also sets the book's
figure style (legible text, a colour-blind-safe palette; :mod:`rmm_lib.style`).

In the ``paper`` profile it also names the GPU (or warns that there is none), finds the data
root -- on Colab it mounts Google Drive and uses ``MyDrive/rmm_data`` unless ``RMM_DATA_ROOT``
says otherwise -- and says which datasets are prepared there and how to prepare the rest. It
never downloads anything; the ``quick`` profile touches neither Drive nor the data root.
"""
from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

from .profiles import Profile, profile_from_env
from .style import use_book_style
from .utils import select_device, set_threads

COLAB_DRIVE = "/content/drive"
COLAB_DATA_ROOT = "/content/drive/MyDrive/rmm_data"


def on_colab() -> bool:
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def mount_drive(mount_point: str = COLAB_DRIVE) -> bool:
    """Mount Google Drive on Colab (asks the reader for permission); False elsewhere."""
    if not on_colab():
        return False
    from google.colab import drive  # only importable on Colab

    drive.mount(mount_point)
    return True


def prepared_datasets(root) -> dict:
    """``{name: prepared?}`` for every real dataset, looking under ``root`` only."""
    from .data.registry import DATASETS

    root = Path(root).expanduser()
    return {name: (root / name / "prepared" / "manifest.json").exists() for name in DATASETS}


def data_report(root) -> str:
    status = prepared_datasets(root)
    ready = [n for n, ok in status.items() if ok]
    lines = [f"data root: {root}" + ("" if Path(root).expanduser().exists() else " (does not exist yet)"),
             f"prepared: {', '.join(ready) if ready else 'none'}"]
    if len(ready) < len(status):
        lines.append(
            "to add a dataset: put its released files in <data root>/<name>/raw and run "
            "`python data_scripts/prepare_<name>.py` (book: Datasets); nothing is downloaded for you"
        )
    return "\n".join(lines)


def setup(profile: str | None = None, verbose: bool = True) -> Profile:
    """Return the active :class:`~rmm_lib.profiles.Profile` and print which one it is. Figures
    take the book's style from here on (:func:`rmm_lib.style.use_book_style`)."""
    use_book_style()
    active = profile_from_env(profile)
    device = select_device()
    if verbose:
        print(f"profile: {active.name} | device: {device.type}")
    import torch

    if active.name != "paper":
        set_threads(1)  # the quick profile's one thread (see rmm_lib.utils.set_threads)
        return active

    if verbose:
        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            print(f"gpu: {props.name}, {props.total_memory / 2**30:.0f} GiB")
        else:
            print("gpu: none -- the paper profile expects one GPU (Colab: Runtime > Change runtime type > GPU)")
    if "RMM_DATA_ROOT" not in os.environ and on_colab():
        mount_drive()
        active = replace(active, data_root=COLAB_DATA_ROOT)
        os.environ["RMM_DATA_ROOT"] = COLAB_DATA_ROOT  # load_splits reads it
    if verbose:
        print(data_report(active.data_root))
    return active
