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


def test_t4_and_a100_columns_are_labelled_estimates_from_the_same_flops(tmp_path):
    """Both GPUs from the same FLOPs; the T4 at the same share of its 65 TFLOP/s fp16 peak as the
    A100-class GPU of its 312 (the trainer runs fp16 on a T4: it has no native bf16)."""
    est = E.estimate(fake_spec(), FLOPS)
    assert est.minutes_on("A100") == pytest.approx(est.minutes)
    assert est.minutes_on("T4") == pytest.approx(est.total_flops / (65e12 * 100 / 312) / 60)
    spec = fake_spec(key="trml.table5", paper="trml", dataset="meld", train={"epochs": 30, "batch_size": 32})
    real = E.estimate(spec)
    cells = summary_row(spec, tmp_path).split(" | ")
    assert f"≈ {E.format_minutes(real.minutes_on('T4'))} (estimate)" == cells[2]
    assert cells[3].startswith(f"≈ {E.format_minutes(real.minutes)} (estimate: 13 models × 30 epochs")


def _full_size(cells: dict, key="cmpt.table4.fake") -> dict:
    return {"tables": {key: {"trained": list(cells), "reused": {}}}, "cells": cells}


def test_gpu_memory_and_disk_by_hand():
    """Two models kept (weights) + the larger training step (gradients, AdamW's two states, the
    activations at the batch size) + the CUDA allowance; disk: CREMA-D's two folders, 10 stored
    frames (uint8) and a float16 fbank per clip, and each model's checkpoint."""
    cells = {"a": {"parameters": 100 * 2**20, "trainable": 2**20, "saved_activations_mib_per_sample": 50.0,
                   "checkpoint_mib": 12.0},
             "b": {"parameters": 200 * 2**20, "trainable": 3 * 2**20, "saved_activations_mib_per_sample": 10.0,
                   "checkpoint_mib": 30.0}}
    spec = fake_spec(train={"epochs": 5, "batch_size": 4, "optimizer": "adamw"})
    kept = 4 * 300 * 2**20
    step = max(4 * 2**20 * 3 + 50 * 2**20 * 4, 4 * 3 * 2**20 * 3 + 10 * 2**20 * 4)
    assert E.gpu_memory_gib(spec, _full_size(cells)) == pytest.approx((kept + step) / 2**30 + E.CUDA_OVERHEAD_GIB)
    sgd = fake_spec(train={"epochs": 5, "batch_size": 4, "optimizer": "sgd", "momentum": 0.9})
    step_sgd = max(4 * 2**20 * 2 + 50 * 2**20 * 4, 4 * 3 * 2**20 * 2 + 10 * 2**20 * 4)
    assert E.gpu_memory_gib(sgd, _full_size(cells)) == pytest.approx((kept + step_sgd) / 2**30 + E.CUDA_OVERHEAD_GIB)
    assert E.gpu_memory_gib(spec, {"tables": {}, "cells": {}}) is None
    per_clip = 10 * 3 * 224 * 224 + 2 * 1024 * 128
    assert E.prepared_bytes_per_sample("cremad") == per_clip
    assert E.prepared_bytes_per_sample("food101") == 8 * 256  # images stay in the release folders; text ids
    disk = E.disk_gib(spec, _full_size(cells))
    assert disk["download"] == 5.6 and disk["checkpoints"] == pytest.approx(42 / 1024)
    assert disk["prepared"] == pytest.approx((6698 + 744) * per_clip / 2**30)
    assert disk["total"] == pytest.approx(5.6 + disk["prepared"] + 42 / 1024)


def test_a_gpu_measurement_replaces_the_estimate_in_its_column(tmp_path, monkeypatch):
    record = {"provenance": {"gpu": "Tesla T4"},
              "families": {"x": {"tables": {"cmpt.table4.fake": {"minutes": 125.0}}}}}
    path = tmp_path / "gpu_cost.json"
    path.write_text(json.dumps(record))
    monkeypatch.setattr(E, "GPU_COST_FILE", path)
    cells = summary_row(fake_spec(), tmp_path).split(" | ")
    assert cells[2] == "2.1 h (projected from steps measured on Tesla T4)" and "(estimate: " in cells[3]
    record["provenance"]["gpu"] = "NVIDIA H100 80GB HBM3"
    path.write_text(json.dumps(record))
    cells = summary_row(fake_spec(), tmp_path).split(" | ")
    assert cells[2].endswith("(estimate)") and cells[3] == "2.1 h (projected from steps measured on NVIDIA H100 80GB HBM3)"


def test_tables_whose_data_are_gone_are_marked_and_last(tmp_path):
    from rmm_lib.tables import load_all

    page = reproduction_page(load_all(), tmp_path)
    trml = [line for line in page.splitlines() if line.startswith("| `trml.")]
    gone = ["no longer distributed" in line for line in trml]
    assert trml[0].startswith("| `trml.table5`") and not gone[0] and all(gone[1:])  # MELD can be downloaded
    assert "CMU no longer distributes the raw MOSI videos" in page


def test_the_page_reads_the_full_size_record(tmp_path):
    """Every table the full-size record ran gets a GPU-memory estimate and its checkpoints on the page;
    the record's own table lists every table with the paper's counts where it prints them."""
    from rmm_lib.reproduce import full_size_section
    from rmm_lib.tables import load_all

    record = E.load_record(E.FULL_SIZE_FILE)
    assert record, "results/full_size.json is missing: run `python benchmarks/full_size.py`"
    specs = load_all()
    for key, spec in specs.items():
        if record["tables"][key]["status"] != "ok":
            continue
        assert E.gpu_memory_gib(spec) > E.CUDA_OVERHEAD_GIB and E.checkpoints_gib(spec) > 0, key
        row = summary_row(spec, tmp_path).split(" | ")
        assert row[4].startswith("≈ ") and "GB (estimate" in row[4] and "checkpoints " in row[5], (key, row[4:6])
    section = full_size_section(specs)
    assert all(f"| `{key}` |" in section for key in specs)
    assert "| 195.51 M" not in section and "(195.51 M)" in section  # the paper's count beside ours


def test_the_throughput_section_names_each_ratio_and_the_spread_of_the_steps():
    """Each comparison says which way its ratio runs and how much one step varies, so that a
    difference inside the spread is not read as a speed-up."""
    from rmm_lib.reproduce import throughput_section

    def row(comparison, variant, step, steps, trainable, parameters=100):
        return {"comparison": comparison, "dataset": "cremad", "variant": variant, "step_s": step,
                "step_s_all": steps, "trainable": trainable, "parameters": parameters, "steps_per_batch": 2,
                "peak_mib": 2048.0, "peak_growth_mib": 10.0}

    record = {"command": "python benchmarks/throughput.py", "device": "cpu", "cpu": "x", "threads": 1,
              "batch_size": 2, "steps": 3,
              "rows": [row("mla_vs_concat", "mla", 1.0, [0.9, 1.0, 1.3], 50),
                       row("mla_vs_concat", "concat", 2.0, [2.0, 2.0, 2.1], 50),
                       row("cmpt_vs_full", "cmpt", 1.0, [1.0, 1.0, 1.0], 1),
                       row("cmpt_vs_full", "full", 3.0, [3.0, 3.0, 3.0], 100)]}
    text = throughput_section(record)
    assert "an MLA step takes 1.00 s (steps 0.90-1.30), a Concat step 2.00 s (steps 2.00-2.10): MLA / Concat = 0.50" in text
    assert "full / CMPT = 3.00" in text and "median of 3 steps" in text
