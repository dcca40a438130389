"""Command line of :mod:`rmm_lib.data.sources.mvsa` (run `python data_scripts/prepare_mvsa.py --help`)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from rmm_lib.data.sources.mvsa import main  # noqa: E402

if __name__ == "__main__":
    main()
