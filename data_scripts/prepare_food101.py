"""Command line of :mod:`rmm_lib.data.sources.food101` (run `python data_scripts/prepare_food101.py --help`)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a clone without installing

from rmm_lib.data.sources.food101 import main  # noqa: E402

if __name__ == "__main__":
    main()
