"""`python -m rmm_lib` list / run / smoke with a toy TableSpec, and notebook.setup's profiles."""
import json
import subprocess
import sys
import types

import pytest
import torch

from rmm_lib import tables
from rmm_lib.__main__ import main
from rmm_lib.context import TableOptions
from rmm_lib.data.sources import iemocap
from rmm_lib.notebook import setup
from rmm_lib.reproduce import load_record, markdown_table
from rmm_lib.train import TrainConfig
from test_data_image_text import _iemocap

SEEN = {}


def _toy_run(ctx):
    """Softmax regression on the audio features: a real (tiny) training run."""
    SEEN.update(smoke=ctx.smoke, max_steps=ctx.train.max_batches, train=ctx.train, model=ctx.model, table=ctx.table,
                profile=ctx.profile.name, n=len(ctx.splits["train"]))
    # The context's training configuration is the spec's settings with the command line's on top (a
    # one-epoch smoke run must not keep the spec's warm-up epochs): the trainer accepts its schedule.
    from rmm_lib.train import Trainer

    Trainer(torch.nn.Linear(1, 1), ctx.train, progress=False)  # checks the schedule
    train, test = ctx.splits["train"], ctx.splits["test"]
    x, y = train[list(range(len(train)))].inputs["audio"].flatten(1), train.label
    head = torch.nn.Linear(x.shape[1], int(max(y.max(), test.label.max())) + 1)
    opt = torch.optim.SGD(head.parameters(), lr=0.1)
    for _ in range(ctx.train.max_batches or ctx.train.epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(head(x), y).backward()
        opt.step()
    xt = test[list(range(len(test)))].inputs["audio"].flatten(1)
    return {"Multi": {"Acc": float((head(xt).argmax(1) == test.label).float().mean() * 100)}}


@pytest.fixture()
def toy(monkeypatch):
    spec = tables.TableSpec(key="toy.table1", paper="toy", title="Toy table", dataset="iemocap", backbones={"audio": "linear"},
                            train={"epochs": 5, "warmup_epochs": 1}, protocol="complete", paper_numbers={"Multi": {"Acc": 78.92}, "Audio": {"Acc": 46.29}},
                            run=_toy_run, options=("rows",))
    # Only the toy table: the papers' own specs train real models (too slow for a unit test).
    tables.load_all()  # import the paper modules first, so they register into the real registry
    monkeypatch.setattr(tables, "REGISTRY", {spec.key: spec})
    return spec


def test_list_shows_registered_tables(toy, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "toy.table1" in out and "iemocap" in out and "unmeasured" in out


def test_run_writes_record_and_table_beside_the_paper(toy, tmp_path, capsys):
    _iemocap(tmp_path / "data" / "iemocap" / "raw")
    iemocap.prepare(tmp_path / "data")
    assert main(["run", "toy.table1", "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "runs"),
                 "--epochs", "3", "--device", "cpu", "--no-progress"]) == 0
    # only --epochs on top of the spec's settings; the run command defaults to the paper profile
    assert SEEN == {"smoke": False, "max_steps": None, "n": 8, "profile": "paper", "model": {},
                    "train": TrainConfig.from_dict(toy.train, epochs=3, seed=0, device="cpu"),
                    "table": TableOptions()}
    record = json.loads((tmp_path / "runs" / "toy.table1" / "result.json").read_text())
    assert record["paper_numbers"]["Multi"]["Acc"] == 78.92 and 0 <= record["ours"]["Multi"]["Acc"] <= 100
    assert record["dataset"] == "iemocap" and not record["synthetic"]
    table = (tmp_path / "runs" / "toy.table1" / "table.md").read_text()
    assert "| Multi | Acc | 78.92 | " in table and "| Audio | Acc | 46.29 | - |" in table
    assert load_record("toy.table1", tmp_path / "runs")["ours"] == record["ours"]
    assert "table.md" not in capsys.readouterr().err


def test_run_passes_train_model_and_table_options_and_refuses_unknown_ones(toy, tmp_path, capsys):
    _iemocap(tmp_path / "data" / "iemocap" / "raw")
    iemocap.prepare(tmp_path / "data")
    common = ["run", "toy.table1", "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "runs"),
              "--device", "cpu", "--no-progress"]
    assert main(common + ["--train", "batch_size=4", "--model", "lam=0.5", "--table", "rows=('Multi',)",
                          "--max-steps", "1", "--random-weights"]) == 0
    assert SEEN["train"].batch_size == 4 and SEEN["model"] == {"lam": 0.5} and SEEN["table"].rows == ("Multi",)
    assert SEEN["smoke"] and SEEN["max_steps"] == 1 and SEEN["train"].epochs == 1
    assert json.loads((tmp_path / "runs" / "toy.table1" / "result.json").read_text())["synthetic"]
    capsys.readouterr()
    assert main(common + ["--train", "lrr=1e-3"]) == 2  # a typo must not train with the default
    assert "lrr" in capsys.readouterr().err
    assert main(common + ["--table", "colums=1"]) == 2
    assert "colums" in capsys.readouterr().err
    assert main(common + ["--table", "methods=('MLA',)"]) == 2  # an option, but not one this table reads
    assert "toy.table1 does not read the option(s) ['methods']" in capsys.readouterr().err


def test_run_without_data_explains_what_to_download(toy, tmp_path, capsys):
    assert main(["run", "toy.table1", "--data-root", str(tmp_path), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "prepare_iemocap.py" in err and "request access from its owners" in err


def test_smoke_is_a_dry_run_on_synthetic_real_shapes(toy, tmp_path, capsys):
    """Without --data-root the dry run reads random data of the real shapes; one step per model at
    batch 2 (the spec's warm-up dropped), in the paper profile with random weights, nothing kept but
    the record, which is never a result."""
    assert main(["smoke", "all", "--out", str(tmp_path / "runs"), "--in-process"]) == 0
    assert SEEN["smoke"] and SEEN["max_steps"] == 1 and SEEN["n"] == 4 and SEEN["profile"] == "paper"
    assert (SEEN["train"].epochs, SEEN["train"].warmup_epochs, SEEN["train"].batch_size) == (1, 0, 2)
    out = capsys.readouterr().out
    assert "toy.table1: ok | 0 model(s)" in out and "1 of 1 table(s) ran at full size" in out
    record = json.loads((tmp_path / "runs" / "smoke" / "smoke.json").read_text())
    assert record["tables"]["toy.table1"]["status"] == "ok" and record["provenance"]["batch_size"] == 2
    assert "random data of the real shapes" in record["provenance"]["data"]
    assert load_record("toy.table1", tmp_path / "runs" / "smoke") is None  # a smoke run is never a result
    assert not list(tmp_path.rglob("*.pt"))


def test_smoke_reports_a_failing_table_and_unknown_keys(toy, tmp_path, monkeypatch, capsys):
    broken = tables.TableSpec(key="toy.broken", paper="toy", title="Broken", dataset="mosi", backbones={}, train={},
                              protocol="", paper_numbers={}, run=lambda ctx: 1 / 0)
    monkeypatch.setitem(tables.REGISTRY, broken.key, broken)
    assert main(["smoke", "all", "--out", str(tmp_path), "--in-process"]) == 1
    out = capsys.readouterr().out
    assert "toy.broken: FAILED ZeroDivisionError" in out and "toy.table1: ok" in out
    assert main(["run", "nope.table9"]) == 2
    assert "known tables:" in capsys.readouterr().err


def test_table_before_any_run(toy):
    assert "| Multi | Acc | 78.92 | not run yet |" in markdown_table(toy, None)


def test_module_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "rmm_lib", "--help"], capture_output=True, text=True, check=True).stdout
    assert "list" in out and "smoke" in out


def test_quick_setup_is_unchanged(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("RMM_PROFILE", raising=False)
    monkeypatch.setenv("COLAB_RELEASE_TAG", "x")  # even on Colab the quick profile mounts nothing
    monkeypatch.setattr("rmm_lib.notebook.mount_drive", lambda: pytest.fail("quick profile mounted Drive"))
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert setup().name == "quick"
        assert torch.get_num_threads() == 1  # checked outputs reproduce only with a fixed thread count
    finally:
        torch.set_num_threads(threads)
    assert capsys.readouterr().out == "profile: quick | device: cpu\n"


def test_paper_setup_reports_gpu_and_data(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("RMM_PROFILE", "paper")
    monkeypatch.setenv("RMM_DATA_ROOT", str(tmp_path))
    _iemocap(tmp_path / "iemocap" / "raw")
    iemocap.prepare(tmp_path)
    setup()
    out = capsys.readouterr().out
    assert out.startswith("profile: paper | device: cpu\n") and "gpu: none" in out
    assert "prepared: iemocap" in out and "nothing is downloaded" in out


def test_paper_setup_mounts_drive_on_colab(monkeypatch, capsys):
    mounted = []
    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=mounted.append)
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setenv("RMM_PROFILE", "paper")
    monkeypatch.delenv("RMM_DATA_ROOT", raising=False)
    profile = setup()
    assert mounted == ["/content/drive"] and profile.data_root == "/content/drive/MyDrive/rmm_data"
    assert "data root: /content/drive/MyDrive/rmm_data (does not exist yet)" in capsys.readouterr().out
    # setup exported RMM_DATA_ROOT; the delenv above restores the original value at teardown


def test_reproduction_section_fills_itself_once_run(toy, tmp_path):
    from rmm_lib.reproduce import run_table, summary_row, table_section

    # before a run: the summary row names the table, a GPU time that is not a measurement and no
    # numbers of ours (the page states the command once); the section shows the paper's numbers alone
    row = summary_row(toy, tmp_path)
    assert row.startswith("| `toy.table1`: Toy table |") and "(measured" not in row and row.endswith("| — |")
    before = table_section(toy, tmp_path)
    assert "| Multi | 78.92 |" in before and "| Audio | 46.29 |" in before and "ours" not in before
    _iemocap(tmp_path / "data" / "iemocap" / "raw")
    iemocap.prepare(tmp_path / "data")
    from rmm_lib.data import load_splits

    record = run_table(toy, load_splits("iemocap", tmp_path / "data"), "paper", device="cpu", out_dir=tmp_path,
                       train={"epochs": 2}, progress=False)
    assert SEEN["train"].epochs == 2 and not record["synthetic"]
    after = table_section(toy, tmp_path)
    assert f"| Multi | Acc | 78.92 | {round(record['ours']['Multi']['Acc'], 2)} |" in after and "not run yet" not in after
    assert "| Audio | Acc | 46.29 | - |" in after  # a number the run did not produce
    assert summary_row(toy, tmp_path).endswith("| 1 number |")  # ours, once run


def test_comparison_accepts_bare_numbers_and_extra_rows():
    from rmm_lib.reproduce import comparison_rows

    rows = comparison_rows({"Acc": 78.919, "Multi": {"F1": 60.0}}, {"Multi": {"F1": 55.556, "AUC": 0.9}, "Extra": 1.0})
    assert rows == [("Acc", "", 78.92, None), ("Multi", "F1", 60.0, 55.56), ("Multi", "AUC", None, 0.9), ("Extra", "", None, 1.0)]
