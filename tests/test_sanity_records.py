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


def recorded(grid, group):
    """A grid's committed results, grouped by ``group`` (its module's by_model / by_row); the record
    must be current."""
    record = records.load(grid)
    assert records.stale_reason(grid, record) is None, f"run `{grid.command}`"
    return group({c: v["result"] for c, v in record["cells"].items()})


@pytest.fixture(scope="module")
def intro_runs():
    return recorded(intro.GRID, intro.by_model)


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


# ============================================================================= the MLA chapter (grid `mla`)
from rmm_lib.grids import mla as mla_grid  # noqa: E402  (this section is the MLA chapter's own)


@pytest.fixture(scope="module")
def mla_runs():
    return recorded(mla_grid.GRID, mla_grid.by_model)


def test_no_model_of_the_mla_chapter_beats_the_limit_of_what_it_sees(mla_runs, limits_table):
    n_test = mla_grid.CONFIG["sizes"]["n_test"]
    for model in mla_grid.TABLE1 + ("mla:hgm-", "released"):
        assert sanity.above_limit(_acc(mla_runs, model), L.limit_of(limits_table, MODALITIES), n_test, model) is None
        for m in MODALITIES:
            alone = [r["unimodal"][m] for r in mla_runs[model]]
            assert sanity.above_limit(alone, L.limit_of(limits_table, [m]), n_test, f"{model}, {m} alone") is None
    for rate in mla_grid.RATES:
        limit = L.limit_under_masks(limits_table, mla_grid.test_mask(mla_grid.CONFIG, rate), MODALITIES)
        for model in mla_grid.TABLE2:
            assert sanity.above_limit(_acc(mla_runs, f"{model}@eta={rate}"), limit, n_test, f"{model}@{rate}") is None


def test_the_fusion_oracle_is_not_below_the_rules_it_bounds(mla_runs):
    # the oracle picks, per sample, among each modality alone, equal weights and Eq. 7's weights
    for model in ("mla",) + tuple(f"mla@eta={r}" for r in mla_grid.RATES):
        fusion = {rule: [r["fusion"][rule] for r in mla_runs[model]] for rule in ("oracle", "entropy", "mean")}
        for rule in ("entropy", "mean"):
            assert sanity.below(fusion["oracle"], fusion[rule], f"{model} oracle", f"{model} {rule}") is None
            assert all(o >= f for o, f in zip(fusion["oracle"], fusion[rule])), (model, rule)


def test_mla_fused_is_not_below_its_own_modalities_alone(mla_runs):
    for m in MODALITIES:
        alone = [r["unimodal"][m] for r in mla_runs["mla"]]
        assert sanity.below(_acc(mla_runs, "mla"), alone, "MLA fused", f"MLA {m} alone") is None


def test_mla_encoders_under_adam_are_within_reach_of_the_reference_models(mla_runs, intro_runs):
    # MLA's claim is about its encoders; one far below the same modality trained alone would make
    # the chapter's comparisons say nothing about the method (notebook 00's references use Adam)
    for m in MODALITIES:
        alone = [r["unimodal"][m] for r in mla_runs["mla@adam"]]
        assert sanity.far_from_reference(alone, _acc(intro_runs, f"lb:{m}"), 0.10, f"MLA's {m} encoder (Adam)",
                                         f"{m} alone (notebook 00)") is None


SGD_REVIEW = ("known failure of the quick chapter under the paper's SGD (notebooks 20 and 23): early stopping on the "
              "fused validation accuracy ends MLA's runs at epoch 30-45, while the review's encoder needs 60-80 epochs "
              "at this step size, so MLA's review alone is ~15 points below the review trained alone with the same "
              "optimiser. Strict, so a schedule that trains the review shows up as XPASS.")


@pytest.mark.xfail(strict=True, reason=SGD_REVIEW)
def test_mla_encoders_under_the_papers_sgd_are_within_reach_of_the_same_encoders_trained_alone(mla_runs):
    for m in MODALITIES:
        alone = [r["unimodal"][m] for r in mla_runs["mla"]]
        reference = _acc(mla_runs, f"alone:{m}")
        assert sanity.far_from_reference(alone, reference, 0.10, f"MLA's {m} encoder (SGD)",
                                         f"{m} alone (SGD, grid mla)") is None


# ----------------------------------------------------------------------------- TRML (notebook 12)
@pytest.fixture(scope="module")
def trml_runs():
    from rmm_lib.grids import trml

    return recorded(trml.GRID, trml.by_row)


def _trml(runs, method, victim, metric="accuracy", part="test", task="classification"):
    return [r[part][metric] for r in runs[(task, method, victim)]]


def test_trml_upper_bound_is_not_below_its_lower_bounds(trml_runs):
    for victim in ("T->V", "V->T"):
        assert sanity.below(_trml(trml_runs, "ub", "-"), _trml(trml_runs, "lb", victim), "UB", f"LB {victim}") is None
        # regression: a lower MAE is better
        ub = [-v for v in _trml(trml_runs, "ub", "-", "mae", task="regression")]
        lb = [-v for v in _trml(trml_runs, "lb", victim, "mae", task="regression")]
        assert sanity.below(ub, lb, "UB (-MAE)", f"LB {victim} (-MAE)") is None


def test_trml_never_beats_the_limit_of_the_modality_it_sees(trml_runs, limits_table):
    n_test = 600
    for victim, sees in (("T->V", ["text"]), ("V->T", ["video"])):
        for method in ("lb", "trml", "cyclic"):
            assert sanity.above_limit(_trml(trml_runs, method, victim), L.limit_of(limits_table, sees), n_test,
                                      f"{method} {victim}") is None
    assert sanity.above_limit(_trml(trml_runs, "ub", "-"), L.limit_of(limits_table, ["text", "video"]), n_test,
                              "UB") is None


# ----------------------------------------------------------------------------- CMPT (notebooks 30-33)
@pytest.fixture(scope="module")
def cmpt_runs():
    from rmm_lib.grids import cmpt

    return recorded(cmpt.GRID, intro.by_model)


def test_no_model_of_the_cmpt_chapter_beats_the_limit_of_what_it_sees(cmpt_runs, limits_table):
    from rmm_lib.grids import cmpt

    n_test = cmpt.CONFIG["sizes"]["n_test"]
    for variant in cmpt.VARIANTS:
        for case, sees in cmpt.SEES.items():
            accs = [r["test"][case] for r in cmpt_runs[variant]]
            assert sanity.above_limit(accs, L.limit_of(limits_table, sees), n_test, f"{variant}, {case}") is None
    for m in cmpt.PAIR:
        assert sanity.above_limit(_acc(cmpt_runs, f"alone:{m}"), L.limit_of(limits_table, [m]), n_test, m) is None
    for train_type in cmpt.MAP_TYPES:
        for test_type in cmpt.MAP_TYPES:
            limit = L.limit_under_masks(limits_table, cmpt.map_test_mask(cmpt.CONFIG, test_type), cmpt.PAIR)
            accs = [r["test"][test_type] for r in cmpt_runs[f"map:{train_type}"]]
            assert sanity.above_limit(accs, limit, n_test, f"MAP {train_type} -> {test_type}") is None


def test_the_proxy_oracle_is_not_below_the_learned_proxy_or_the_floor(cmpt_runs):
    # the oracle (the missing modality's true class token in the slot) is the same model, complete
    oracle = [r["test"]["complete"] for r in cmpt_runs["cmpt"]]
    for case in ("image missing", "text missing"):
        learned = [r["test"][case] for r in cmpt_runs["cmpt"]]
        floor = [r["floor"][case] for r in cmpt_runs["cmpt"]]
        assert sanity.below(oracle, learned, "oracle", f"learned proxy, {case}") is None
        assert sanity.below(oracle, floor, "oracle", f"zeroed proxy, {case}") is None


def test_the_cmpt_towers_are_within_reach_of_the_reference_models(cmpt_runs, intro_runs):
    # issue 13: each tower alone within 10 points of notebook 00's model of that modality
    for m in ("image", "text"):
        assert sanity.far_from_reference(_acc(cmpt_runs, f"alone:{m}"), _acc(intro_runs, f"lb:{m}"), 0.10,
                                         f"CMPT's {m} tower", f"{m} alone (notebook 00)") is None


def test_complete_inputs_are_not_below_either_modality_alone(cmpt_runs):
    for variant in ("cmpt", "dropout", "baseline"):
        complete = [r["test"]["complete"] for r in cmpt_runs[variant]]
        for case in ("image missing", "text missing"):
            one = [r["test"][case] for r in cmpt_runs[variant]]
            assert sanity.below(complete, one, f"{variant} complete", f"{variant} {case}") is None
