"""The "Reproducing the papers" page: one table per paper, the GPU-time estimate, our numbers."""
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from rmm_lib import estimates as E
from rmm_lib.reproduce import reproduction_page, summary_row, table_section

ROOT = Path(__file__).resolve().parents[1]
FLOPS = {"backbones": {  # made-up counts, so the hand computation below is easy to follow
    "clip-vit-b-16-visual@224": {"forward": 10.0, "backward_lora": 13.0},
    "ast@1024x128": {"forward": 100.0, "backward_lora": 120.0},
    "clip-vit-b-32-visual@224": {"forward": 4.0, "backward_full": 8.0},
    "clip-vit-b-32-text@77": {"forward": 3.0, "backward_full": 6.0},
}}


def fake_spec(**kw):
    base = dict(key="cmpt.table4.fake", paper="cmpt", title="A fake table", dataset="cremad", backbones={},
                train={"epochs": 5}, protocol="", paper_numbers={"CMPT": {"Acc": 88.84, "F1": 80.0}},
                gpu_minutes=None, notes="", model={}, run=None)
    return SimpleNamespace(**{**base, **kw})


def test_estimate_equals_a_hand_computation():
    # CMPT Table 4 trains one model; CREMA-D: 6698 train (validation carved from it), 744 test.
    # Audio: AST once; video: 3 frames through ViT-B/16; both frozen with LoRA.
    est = E.estimate(fake_spec(), FLOPS)
    train = (100 + 120) + 3 * (10 + 13)
    forward = 100 + 3 * 10
    assert (est.models, est.epochs, est.samples) == (1, 5, {"train": 6698, "val": 0, "test": 744})
    assert est.train_flops == train and est.forward_flops == forward
    assert est.total_flops == 1 * (5 * 6698 * train + 744 * forward)
    assert est.minutes == pytest.approx(est.total_flops / 100e12 / 60)
    # TRML Table 5 trains 13 models, fine-tuning both CLIP ViT-B/32 towers; MELD: 9989 / 1109 / 2610.
    trml = E.estimate(fake_spec(key="trml.table5", paper="trml", dataset="meld", train={"epochs": 2}), FLOPS)
    train, forward = (3 + 6) + 3 * (4 + 8), 3 + 3 * 4
    assert trml.total_flops == 13 * (2 * (9989 * train + 1109 * forward) + 2610 * forward)


def test_time_is_labelled_estimate_until_measured(tmp_path):
    row = summary_row(fake_spec(), tmp_path)
    assert "(estimate: 1 model × 5 epochs)" in row and "measured" not in row
    assert "15 min (measured)" in summary_row(fake_spec(gpu_minutes=15), tmp_path)
    assert "no estimate" in summary_row(fake_spec(key="cmpt.nosuch"), tmp_path)


def write_record(runs, key, **kw):
    record = {"key": key, "synthetic": False, "device": "cuda", "wall_s": 1200.0,
              "environment": {"gpu": "NVIDIA H100"}, "ours": {"CMPT": {"Acc": 87.123}}, **kw}
    (runs / key).mkdir(parents=True)
    (runs / key / "result.json").write_text(json.dumps(record))


def test_a_recorded_run_appears_as_ours(tmp_path):
    spec = fake_spec()
    before_row, before_numbers = summary_row(spec, tmp_path), table_section(spec, tmp_path)
    assert before_row.endswith("| 2 numbers | — |") and "| CMPT | 88.84 | 80.0 |" in before_numbers
    write_record(tmp_path, spec.key)
    row, numbers = summary_row(spec, tmp_path), table_section(spec, tmp_path)
    assert row.endswith("| 2 numbers | 1 number |") and "20 min (measured, NVIDIA H100)" in row
    assert "| CMPT | Acc | 88.84 | 87.12 |" in numbers and "| CMPT | F1 | 80.0 | - |" in numbers


def test_a_smoke_record_is_not_ours(tmp_path):
    spec = fake_spec()
    write_record(tmp_path, spec.key, synthetic=True)
    assert summary_row(spec, tmp_path).endswith("| — |") and "estimate" in summary_row(spec, tmp_path)


def test_every_registered_spec_appears_exactly_once(tmp_path):
    from rmm_lib.tables import load_all

    specs = load_all()
    page = reproduction_page(specs, tmp_path)
    assert specs
    for key in specs:
        assert page.count(f"| `{key}`: ") == 1, key  # its row in the paper's table
        assert page.count(f"**`{key}`: ") == 1, key  # its numbers, folded below
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    assert len(rows) == len(specs) and all("(estimate: " in r for r in rows)  # every row estimated, none measured
    assert page.count("<details>") == page.count("</details>") == len({s.paper for s in specs.values()})
    assert "not run yet" not in page and "not measured yet" not in page


def test_every_spec_has_a_model_count_and_flop_counts():
    from rmm_lib.tables import load_all

    for spec in load_all().values():
        assert not E.gaps(spec), (spec.key, E.gaps(spec))


def test_flop_counts_are_committed_with_their_provenance():
    record = json.loads((ROOT / "rmm_lib" / "tables" / "flops.json").read_text())
    assert record["provenance"]["command"].startswith("python benchmarks/flops.py") and record["provenance"]["torch"]
    vit = record["backbones"]["clip-vit-b-16-visual@224"]
    assert 34e9 < vit["forward"] < 36e9  # ViT-B/16 at 224: about 17.6 GMACs
    full = record["backbones"]["clip-vit-b-32-visual@224"]
    assert 2.8 < (full["forward"] + full["backward_full"]) / full["forward"] < 3.1  # training ~ 3 x forward


def test_dataset_anchors_match_the_datasets_page_headings():
    from rmm_lib.data.registry import DATASETS
    from rmm_lib.reproduce import dataset_anchor

    headings = re.findall(r"^### (.+)$", (ROOT / "book" / "datasets.md").read_text(), re.M)
    slugs = {re.sub(r"[^\w\- ]", "", h.replace("`", "").strip().lower()).replace(" ", "-") for h in headings}
    from rmm_lib.tables import load_all

    for name in {s.dataset for s in load_all().values()}:
        assert name in DATASETS and dataset_anchor(name) in slugs, name
