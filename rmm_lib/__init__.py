"""rmm_lib: robust multimodal learning when modalities go missing.

One small library behind the rmm book: missing-modality protocols (:mod:`rmm_lib.missing`), the
embedded benchmark and data types (:mod:`rmm_lib.data`), encoders, baselines, one trainer,
metrics and plots. The methods of the three papers live in :mod:`rmm_lib.methods`, one file each.
"""
from .profiles import get_profile, profile_from_env
from .utils import seed_everything, select_device

__version__ = "0.1.0"
__all__ = ["get_profile", "profile_from_env", "seed_everything", "select_device", "__version__"]
