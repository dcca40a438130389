"""Results kept as data: resumable grids, stale records refused, and every committed record
current and reproduced by a recomputed sample of its cells."""
import json
import math

import pytest

from rmm_lib import records
from rmm_lib.grids import GRIDS, get_grid
import rmm_lib.contributed  # noqa: F401  (registers the methods kept as sections of grid compare)
from rmm_lib import footing
from rmm_lib.records import Grid


def _toy(calls, config=None):
    def compute(cfg, cell):
        calls.append(cell)
        if cell == "boom" and cfg.get("fail"):
            raise RuntimeError("interrupted")
        return {"value": cfg["scale"] * len(cell), "cell": cell}

    return Grid("toy", config or {"scale": 2}, ("a", "bb", "boom"), compute, sample=("bb",))


def test_a_grid_resumes_where_it_stopped_and_keeps_provenance(tmp_path):
    calls = []
    with pytest.raises(RuntimeError, match="interrupted"):
        records.run(_toy(calls, {"scale": 2, "fail": True}), root=tmp_path, log=lambda *_: None)
    assert calls == ["a", "bb", "boom"]
    stored = records.load(_toy([], {"scale": 2, "fail": True}), tmp_path)
    assert sorted(stored["cells"]) == ["a", "bb"]  # written after each cell
    calls.clear()
    grid = _toy(calls, {"scale": 2, "fail": False})
    with pytest.raises(ValueError, match="stale"):  # the configuration changed: not silently mixed
        records.run(grid, root=tmp_path, log=lambda *_: None)
    record = records.run(grid, root=tmp_path, fresh=True, log=lambda *_: None)
    assert calls == ["a", "bb", "boom", "bb"]  # then the sample cell once more, for its loss trace
    assert record["traces"]["bb"]["losses"] == []  # the toy trains no model
    calls.clear()
    again = records.run(grid, root=tmp_path, log=lambda *_: None)
    assert calls == [] and again == record
    cell = record["cells"]["bb"]
    assert cell["result"] == {"value": 4, "cell": "bb"}
    assert set(cell) >= {"code_hash", "versions", "device", "seconds", "command", "finished", "kernels"}
    assert cell["command"] == "python -m rmm_lib grid toy --cells bb"
    assert json.loads(grid.path(tmp_path).read_text()) == record


def test_results_read_a_current_record_and_compute_past_a_stale_one(tmp_path):
    calls = []
    grid = _toy(calls)
    records.run(grid, root=tmp_path, log=lambda *_: None)
    calls.clear()
    said = []
    assert records.results(grid, tmp_path, log=said.append)["bb"]["value"] == 4
    assert calls == [] and "read from" in said[0]
    changed = _toy(calls, {"scale": 3})
    assert "configuration differs" in records.stale_reason(changed, records.load(changed, tmp_path))
    assert records.results(changed, tmp_path, log=said.append)["bb"]["value"] == 6
    assert calls == ["a", "bb", "boom"] and "computing" in said[-1]


def test_a_nested_tolerance_holds_only_under_its_key():
    stored = {"test": {"accuracy": 0.80}, "floor": {"accuracy": 0.50}}
    moved = {"test": {"accuracy": 0.85}, "floor": {"accuracy": 0.85}}
    tolerance = {"test": {"accuracy": 0.08}, "floor": 0.5}
    assert records.differences(stored, moved, tolerance, 1e-6) == []
    assert [d[0] for d in records.differences(stored, moved, {"test": {"accuracy": 0.01}, "floor": 0.5}, 1e-6)] == [
        "test.accuracy"]
    assert [d[0] for d in records.differences(stored, moved, {"test": {"accuracy": 0.08}}, 1e-6)] == ["floor.accuracy"]


def test_differences_respect_the_tolerance_of_each_number():
    stored = {"accuracy": {"mean": 0.80, "n": 5}, "loss": 1.0, "name": "x"}
    assert records.differences(stored, {"accuracy": {"mean": 0.805, "n": 5}, "loss": 1.0, "name": "x"},
                               {"accuracy": 0.01}, 0.0) == []
    found = records.differences(stored, {"accuracy": {"mean": 0.80, "n": 5}, "loss": 1.1, "name": "y"},
                                {"accuracy": 0.01}, 1e-6)
    assert [d[0] for d in found] == ["loss", "name"]
    assert records.differences({"a": 1}, {"b": 1}, {}, 0.0) == [("a", 1, None), ("b", None, 1)]


def test_unknown_grids_and_cells_are_refused(tmp_path):
    with pytest.raises(KeyError, match="No grid named"):
        get_grid("nope")
    with pytest.raises(ValueError, match="has no cells"):
        records.run(_toy([]), cells=["zzz"], root=tmp_path, log=lambda *_: None)
    with pytest.raises(ValueError, match="not cells"):
        Grid("bad", {}, ("a",), lambda c, k: {}, sample=("b",))


#: every record: the grids and the methods kept as sections of grid compare (rmm_lib.footing)
RECORDED = {**GRIDS, **{f"compare-{n}": footing.grid(n) for n in footing.registered()}}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_every_committed_record_is_current(name):
    grid = RECORDED[name]
    assert records.stale_reason(grid, records.load(grid)) is None


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_a_sample_of_cells_reproduces_the_record(name):
    # CI recomputes these cells (minutes in all), under other kernels than the ones that wrote the
    # records (make test's other-CPU step): every number within the grid's measured drift, every
    # step of the loss trace within its tolerance
    grid = RECORDED[name]
    stored = records.load(grid)
    assert grid.sample, f"grid {name} names no cells for CI to recompute"
    for cell in grid.sample:
        problems = records.reproduction_problems(grid, cell, stored)
        assert not problems, f"{name}/{cell} does not reproduce its record: {problems[:5]}"


# ----------------------------------------------------------------------------- tolerances and traces
DRIFT = json.loads((records.RESULTS / "kernel_drift.json").read_text())


@pytest.mark.parametrize("name", sorted(set(DRIFT["runs"].get("native", {}))))
def test_each_tolerance_covers_the_measured_drift_with_room(name):
    """benchmarks/kernel_drift.py measured how far each number moves under other kernels; the
    grid's tolerance must cover twice that, and the trace tolerance twice the trace's drift."""
    grid = RECORDED[name]
    for path, grids in DRIFT["runs"].items():
        for cell, measured in grids.get(name, {}).items():
            for keys, drift in measured["diffs"]:
                tolerance = _tolerance_of(grid, keys)
                assert tolerance >= 2 * drift, f"{name}/{cell} [{path}]: {keys} moved {drift}, tolerance {tolerance}"
    for path, drift in DRIFT["trace_drift"].get(name, {}).items():
        assert grid.trace_tolerance >= 2 * drift, f"{name} [{path}]: loss trace moved {drift} (relative)"


def _tolerance_of(grid, keys: list) -> float:
    """The tolerance ``records.differences`` applies to the number at ``keys`` across CPUs."""
    tolerance, default = grid.tolerance, grid.default_tolerance
    for key in keys:
        if key in grid.exact_only:
            return math.inf
        tolerance, default = records.descend(tolerance, default, key)
    return default


def test_the_loss_trace_is_the_first_steps_and_stops_the_run(small_splits):
    from rmm_lib.experiments import fit_baseline
    from rmm_lib.train import TrainConfig

    reached = []

    def compute(config, cell):
        fit_baseline("concat", small_splits, config=TrainConfig(epochs=3, batch_size=40, seed=int(cell)))
        reached.append(cell)  # skipped: the trace stops the run
        return {}

    grid = Grid("traced", {}, ("0", "1"), compute, trace_steps=4)
    first, again, other = (records.trace(grid, c)["losses"] for c in ("0", "0", "1"))
    assert len(first) == 4 and reached == [] and first == again
    assert records.trace_differences(first, other, 1e-3)  # another seed: other weights, other losses
    assert records.trace_differences(first, first[:3], 1e-3) == [("steps", 4, 3)]
    assert records.trace_differences(first, [x * (1 + 2e-4) for x in first], 1e-4)
    assert not records.trace_differences(first, [x * (1 + 5e-5) for x in first], 1e-4)


def test_a_broken_method_fails_the_recompute_on_any_cpu(monkeypatch):
    """Two deliberate breaks of MLA, checked with another CPU's tolerances (``across_cpus``). A sign
    error in Eq. 7 (the most uncertain modality weighted most) leaves training and its loss trace
    alone, but the fusion weights the cell records move far beyond their drift. The head-gradient
    projection (Eq. 4) switched off moves the final numbers less than a CPU does, but not the loss
    trace: step 0 precedes any projection, the next steps differ by ~1e-4 against a drift of ~1e-7."""
    from rmm_lib.methods import mla

    grid, cell = GRIDS["mla"], "mla/seed=0"
    fusion_weights = mla.fusion_weights
    monkeypatch.setattr(mla, "fusion_weights", lambda entropy, present: fusion_weights(-entropy, present))
    problems = records.reproduction_problems(grid, cell, across_cpus=True)
    assert any(p.startswith("per_modality.image.mean_weight") for p in problems), problems
    assert not any(p.startswith("loss trace") for p in problems), problems
    monkeypatch.undo()

    monkeypatch.setattr(mla, "project_head_gradient", lambda grad, P: grad)
    stored = records.load(grid)["traces"][cell]["losses"]
    changed = records.trace_differences(stored, records.trace(grid, cell)["losses"], grid.trace_tolerance)
    assert changed and min(step for step, _, _ in changed) >= 1, changed
