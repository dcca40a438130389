"""The one call every notebook's setup cell makes.

:func:`setup` reads the run profile (``RMM_PROFILE``), picks the device and prints a one-line
summary, so a reader sees at the top of each page which settings produced its numbers. The
paper profile's data checks (mounting on Colab, what to download) hook in here too.
"""
from __future__ import annotations

from .profiles import Profile, get_profile
from .utils import select_device


def setup(profile: str | None = None, verbose: bool = True) -> Profile:
    """Return the active :class:`~rmm_lib.profiles.Profile` and print which one it is."""
    active = get_profile(profile)
    if verbose:
        print(f"profile: {active.name} | device: {select_device().type}")
    return active
