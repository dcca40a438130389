"""The information limits of the testbed (:mod:`rmm_lib.limits`) as a grid."""
from __future__ import annotations

from .. import limits as L
from ..data import benchmark as B
from ..records import Grid, results

#: The benchmark seed the chapters draw their splits from.
BENCHMARK_SEED = 0


def _cell(config: dict, cell: str) -> dict:
    if cell == "exact":
        return L.exact_limits(config["seed"], config["benchmark"], config["n_test"])
    return L.estimated_limits(config["seed"], config["benchmark"], config["n_test"], config["reader_epochs"],
                              config["n_reader"])


GRID = Grid(
    name="limits",
    config={"benchmark": {**B.default_options(), **B.TESTBED}, "seed": BENCHMARK_SEED, "n_test": L.LIMIT_TEST,
            "n_reader": L.READER_TRAIN, "reader_epochs": 12},
    cells=("exact", "cnn"),
    compute=_cell,
    sample=("exact",),
    tolerance={"mean": 1e-6, "low": 1e-6, "high": 1e-6},
    description="Information limits of every modality subset of the testbed (rmm_lib.limits): the exact "
                "posterior with a perfect digit reader, and with a CNN reader trained on 60,000 photos.",
)


def benchmark_limits(log=print) -> dict:
    """The limits table of the testbed (from its record when current), for :func:`rmm_lib.limits.limit_of`."""
    cells = results(GRID, log=log)
    return L.limits_table(cells["exact"], cells["cnn"])
