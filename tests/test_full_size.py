"""The full-size dry run (``python -m rmm_lib smoke``, :mod:`rmm_lib.dryrun`): one table per backbone
family at the paper's size, random weights, batch 2, one training and one evaluation step per model,
on its release-format fixture (tests/e2e_fixtures.py); and the committed record
(``results/full_size.json``, written by ``benchmarks/full_size.py``).

Families: TRML's fine-tuned CLIP ViT-B/32 over text + frames; MLA's ResNet-18 pair on spectrograms
and frames, its CLIP towers on image + text and its MLPs on IEMOCAP features; CMPT's ViT-B/16 +
BERT-base and AST + ViT-B/16 with LoRA and proxy tokens; the comparison's feature heads on CMPT's
towers. Each runs a part of its table (``--table``) where the whole would train many models of the
same family."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from e2e_fixtures import prepared  # noqa: F401 (session fixture: each dataset prepared once)
from rmm_lib import dryrun
from rmm_lib.tables import get, load_all

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "results" / "full_size.json"
FLOAT = 4  # bytes


def _count(module) -> tuple:
    return (sum(p.numel() for p in module.parameters()),
            sum(p.numel() for p in module.parameters() if p.requires_grad))


def _dry(keys, root, tmp_path, monkeypatch, table=None):
    """Dry-run ``keys`` (one group, this process) on the fixture under ``root``; the temporary folder
    the cells checkpoint into lives under ``tmp_path``, so the test can see that it is emptied."""
    scratch = tmp_path / "scratch"
    scratch.mkdir(exist_ok=True)
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    specs = [get(k) for k in keys]
    splits = dryrun.load_dry_splits(specs[0].dataset, root, samples=4)
    result = dryrun.dry_run_group(specs, splits, device="cpu", batch_size=2, table=table)
    assert not list(scratch.rglob("*.pt")), "a dry run left a checkpoint behind"
    for key in keys:
        assert result["tables"][key]["status"] == "ok", result["tables"][key].get("error")
    return result


def _check_cell(cell, optimiser_states: int, buffers_mib: float = 1.0):
    """Timings and memory measured, and the checkpoint a real run writes: the trainable weights,
    their best-epoch copy and the optimiser's states (AdamW 2, SGD with momentum 1), 4 bytes each,
    the frozen values training moved (and their best-epoch copy), plus the model's buffers
    (``buffers_mib``: MLA's gradient-projection matrices, batch norms)."""
    assert cell["batch_size"] == 2 and cell["train_step_s"] > 0 and cell["eval_step_s"] > 0
    assert cell["peak_memory_mib"] > 0 and cell["saved_activations_mib_per_sample"] > 0
    expected = (cell["trainable"] * (2 + optimiser_states) + 2 * cell["moved_frozen"]) * FLOAT / 2**20
    assert 0.95 * expected < cell["checkpoint_mib"] < 1.05 * expected + buffers_mib, (cell["checkpoint_mib"], expected)


def test_cmpt_image_text_at_full_size(prepared, tmp_path, monkeypatch):  # noqa: F811
    """CMPT's Table 3 model on the Food-101 fixture is the paper's: CLIP ViT-B/16 + BERT-base (the
    meta-device build of ``paper_architecture``), 101 classes although the fixture holds 3, with
    bert-base-uncased's tokenizer (no download)."""
    from rmm_lib.recipes.cmpt import paper_architecture

    result = _dry(["cmpt.table3.food101"], prepared("food101"), tmp_path, monkeypatch)
    (cell,) = dryrun.table_cells(result, "cmpt.table3.food101")
    assert cell["model"] == "CMPTModel"
    assert (cell["parameters"], cell["trainable"]) == _count(paper_architecture("image_text", n_classes=101))
    _check_cell(cell, optimiser_states=2)
    # only what trains (LoRA, proxies, the head): with the ViT's fused in_proj split into q, k and v
    # (split_attention), peft's LoRA wraps plain linears and moves no frozen weight -- on
    # nn.MultiheadAttention it merged into the base weight at every forward, moving 28 M by rounding
    assert cell["moved_frozen"] == 0 and cell["checkpoint_mib"] < 300


def test_cmpt_audio_video_at_full_size(prepared, tmp_path, monkeypatch):  # noqa: F811
    from rmm_lib.recipes.cmpt import paper_architecture

    result = _dry(["cmpt.table4.cremad"], prepared("cremad"), tmp_path, monkeypatch)
    (cell,) = dryrun.table_cells(result, "cmpt.table4.cremad")
    assert (cell["parameters"], cell["trainable"]) == _count(paper_architecture("audio_video", n_classes=6))
    _check_cell(cell, optimiser_states=2)


def test_trml_at_full_size(prepared, tmp_path, monkeypatch):  # noqa: F811
    """TRML fine-tunes the whole CLIP ViT-B/32 (Adam: two states per weight)."""
    import open_clip

    result = _dry(["trml.table1"], prepared("mosi_raw"), tmp_path, monkeypatch,
                  table={"rows": ("TRML",), "settings": ("A",)})
    (cell,) = dryrun.table_cells(result, "trml.table1")
    clip = _count(open_clip.create_model("ViT-B-32"))[0]
    assert cell["model"] == "TRML" and cell["parameters"] > clip and cell["trainable"] > clip
    _check_cell(cell, optimiser_states=2)


def test_mla_resnet_and_mlp_at_full_size(prepared, tmp_path, monkeypatch):  # noqa: F811
    """MLA's ResNet-18 pair (CREMA-D) and its MLPs (IEMOCAP features), trained with SGD + momentum."""
    from torchvision.models import resnet18

    result = _dry(["mla.table1_cremad"], prepared("cremad"), tmp_path, monkeypatch, table={"methods": ("MLA",)})
    (cell,) = dryrun.table_cells(result, "mla.table1_cremad")
    assert cell["model"] == "MLA" and cell["steps_per_batch"] == 2  # one optimiser step per modality
    assert cell["parameters"] > 2 * _count(resnet18())[0] * 0.95  # two ResNet-18s (a 1-channel stem for audio)
    _check_cell(cell, optimiser_states=1)
    result = _dry(["mla.table2"], prepared("iemocap"), tmp_path, monkeypatch, table={"rates": (0.5,), "methods": ("MLA",)})
    (cell,) = dryrun.table_cells(result, "mla.table2")
    assert cell["model"] == "MLA" and cell["parameters"] < 1e6
    _check_cell(cell, optimiser_states=1, buffers_mib=3.0)  # the 512 x 512 projection P and its running state


def test_mla_clip_towers_at_full_size(prepared, tmp_path, monkeypatch):  # noqa: F811
    """MLA on image + text fine-tunes CLIP ViT-B/32's two towers: one CLIP's weights, not two."""
    import open_clip

    result = _dry(["mla.table1_food101"], prepared("food101"), tmp_path, monkeypatch, table={"methods": ("MLA",)})
    cells = dryrun.table_cells(result, "mla.table1_food101")
    assert len(cells) == 1
    clip = _count(open_clip.create_model("ViT-B-32"))[0]
    for cell in cells:
        assert clip - 1 < cell["parameters"] < clip + 2e6, cell  # both towers once, + heads and projections
        _check_cell(cell, optimiser_states=1)


def test_the_comparison_at_full_size(prepared, tmp_path, monkeypatch):  # noqa: F811
    """A feature method of the comparison reads CMPT's two towers at full size, frozen (their pooled
    outputs), through the shared head; CMPT itself runs in the CMPT tests above."""
    result = _dry(["compare.grid.food101"], prepared("food101"), tmp_path, monkeypatch,
                  table={"methods": ("concat",), "settings": ("complete",)})
    models = [c["model"] for c in dryrun.table_cells(result, "compare.grid.food101")]
    assert models == ["ConcatFusion"]


def test_smoke_command_isolates_tables_and_reports_a_failure(prepared, tmp_path, capsys):  # noqa: F811
    """The command line: each group in a fresh process; a table whose data are missing is reported
    as failed with the loader's message, the others still run; the record says what ran where."""
    from rmm_lib.__main__ import main

    root = prepared("iemocap")
    record = tmp_path / "smoke.json"
    argv = ["smoke", "mla.table2", "--data-root", str(root), "--table", "rates=(0.5,)", "--table",
            "methods=('MLA',)", "--record", str(record)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "mla.table2: ok | 1 model(s) | MLA" in out
    saved = json.loads(record.read_text())
    assert saved["provenance"]["command"].startswith("python -m rmm_lib smoke mla.table2")
    assert saved["provenance"]["code_hash"] and saved["provenance"]["cpu"]
    assert saved["tables"]["mla.table2"]["models"] == 1
    assert main(["smoke", "cmpt.table4.ave", "--data-root", str(tmp_path / "empty"), "--record", str(record)]) == 1
    assert "cmpt.table4.ave: FAILED" in capsys.readouterr().out


# ----------------------------------------------------------------------------- the committed record
@pytest.fixture(scope="module")
def record():
    if not RECORD.is_file():
        pytest.fail(f"{RECORD} is missing: run `python benchmarks/full_size.py`")
    return json.loads(RECORD.read_text())


def test_the_record_covers_every_table_with_provenance(record):
    assert set(record["tables"]) == set(load_all()), "a table is missing from results/full_size.json"
    prov = record["provenance"]
    assert prov["command"].startswith("python benchmarks/full_size.py") and prov["code_hash"] and prov["cpu"]
    assert prov["batch_size"] == 2 and prov["device"] == "cpu" and prov["versions"]["torch"]
    for key, row in record["tables"].items():
        if row["status"] != "ok":
            assert row.get("error"), f"{key} failed without saying why"
            continue
        assert row["models"] >= 1 and row["parameters"] > 0 and row["train_step_s"] > 0, key
        for name in row["trained"] + list(row["reused"]):
            assert record["cells"][name]["checkpoint_mib"] > 0, (key, name)


def test_the_record_gives_the_papers_counts_beside_ours(record):
    for key in ("cmpt.table3.food101", "cmpt.table4.cremad"):
        row = record["tables"][key]
        paper = row["paper_parameters"]
        assert paper["source"].startswith("CMPT Table") and paper["total_m"] > 170
        assert abs(row["parameters"] / 1e6 - paper["total_m"]) / paper["total_m"] < 0.02, (key, row["parameters"])


def test_tables_that_share_models_share_the_run(record):
    """CMPT Table 1 is the diagonal of Table 6: run in one group (``dryrun.groups_of``), Table 6 trains
    nothing and reuses Table 1's three models (one per MAP training type). Read from the committed
    record, which ran them together at full size (a rerun here would cost two minutes)."""
    groups = dryrun.groups_of([get("cmpt.table1.mmimdb"), get("cmpt.table6.mmimdb")])
    assert groups == [["cmpt.table1.mmimdb", "cmpt.table6.mmimdb"]]
    first, second = record["tables"]["cmpt.table1.mmimdb"], record["tables"]["cmpt.table6.mmimdb"]
    assert len(first["trained"]) == 3 and first["reused"] == {}
    assert second["trained"] == [] and second["reused"] == {c: "cmpt.table1.mmimdb" for c in first["trained"]}
    assert second["models"] == 3
