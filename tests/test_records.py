"""Results kept as data: resumable grids, stale records refused, and every committed record
current and reproduced by a recomputed sample of its cells."""
import json

import pytest

from rmm_lib import records
from rmm_lib.grids import GRIDS, get_grid
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
    assert calls == ["a", "bb", "boom"]
    calls.clear()
    again = records.run(grid, root=tmp_path, log=lambda *_: None)
    assert calls == [] and again == record
    cell = record["cells"]["bb"]
    assert cell["result"] == {"value": 4, "cell": "bb"}
    assert set(cell) >= {"code_hash", "versions", "device", "seconds", "command", "finished"}
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


@pytest.mark.parametrize("name", sorted(GRIDS))
def test_every_committed_record_is_current(name):
    grid = GRIDS[name]
    assert records.stale_reason(grid, records.load(grid)) is None


@pytest.mark.parametrize("name", sorted(GRIDS))
def test_a_sample_of_cells_reproduces_the_record(name):
    # CI recomputes these cells (minutes in all) and compares them number by number
    grid = GRIDS[name]
    stored = records.load(grid)
    assert grid.sample, f"grid {name} names no cells for CI to recompute"
    for cell in grid.sample:
        fresh = records.compute_cell(grid, cell)["result"]
        diffs = records.differences(stored["cells"][cell]["result"], fresh, grid.tolerance, grid.default_tolerance)
        assert not diffs, f"{name}/{cell} does not reproduce its record: {diffs[:5]}"


def test_fresh_with_cells_recomputes_only_those(tmp_path):
    calls = []
    grid = _toy(calls)
    records.run(grid, root=tmp_path, log=lambda *_: None)
    calls.clear()
    record = records.run(grid, cells=["bb"], fresh=True, root=tmp_path, log=lambda *_: None)
    assert calls == ["bb"] and sorted(record["cells"]) == ["a", "bb", "boom"]
