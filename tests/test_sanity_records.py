"""The sanity checks of rmm_lib.sanity on every committed grid: a broken testbed fails here.
(tests/test_stats.py shows each check failing on numbers broken on purpose.)"""
import pytest

from rmm_lib import limits as L
from rmm_lib import records, sanity
from rmm_lib.data import MODALITIES
from rmm_lib.grids import intro
from rmm_lib.grids.limits import benchmark_limits


@pytest.fixture(scope="module")
def limits_table():
    return benchmark_limits(log=lambda *_: None)


@pytest.fixture(scope="module")
def intro_runs():
    record = records.load(intro.GRID)
    assert records.stale_reason(intro.GRID, record) is None, "run `python -m rmm_lib grid intro`"
    return intro.by_model({c: v["result"] for c, v in record["cells"].items()})


def _acc(runs, model):
    return [r["test"]["accuracy"] for r in runs[model]]


def test_no_model_of_notebook_00_beats_the_limit_of_what_it_sees(intro_runs, limits_table):
    n_test = intro.CONFIG["sizes"]["n_test"]
    for m in MODALITIES:
        assert sanity.above_limit(_acc(intro_runs, f"lb:{m}"), L.limit_of(limits_table, [m]), n_test, m) is None
    assert sanity.above_limit(_acc(intro_runs, "concat"), L.limit_of(limits_table, MODALITIES), n_test) is None


def test_the_upper_bound_is_not_below_any_lower_bound(intro_runs):
    for m in MODALITIES:
        assert sanity.below(_acc(intro_runs, "concat"), _acc(intro_runs, f"lb:{m}"), "concat", f"{m} only") is None


def test_every_lower_bound_is_a_reference_within_reach_of_its_limit(intro_runs, limits_table):
    # the reference models of the book: each within 15 points of what its modality allows
    for m in MODALITIES:
        limit = L.limit_of(limits_table, [m])["mean"]
        assert sanity.far_from_reference(_acc(intro_runs, f"lb:{m}"), [limit], 0.15, f"{m} only",
                                         f"the {m} limit") is None
