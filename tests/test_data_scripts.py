"""Every data_scripts/prepare_*.py runs as a script (help text) and prepares data end to end."""
import runpy
import sys
from pathlib import Path

import pytest

from test_data_image_text import _iemocap

SCRIPTS = sorted((Path(__file__).resolve().parents[1] / "data_scripts").glob("prepare_*.py"))


def _run(script, argv, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(script), *argv])
    runpy.run_path(str(script), run_name="__main__")


def test_one_script_per_dataset_family():
    assert {s.stem for s in SCRIPTS} == {f"prepare_{n}" for n in
                                          ("mmsa", "cmu_raw", "meld", "food101", "mmimdb", "mvsa", "cremad", "kinetics_sounds", "ave",
                                           "iemocap")}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_scripts_explain_themselves(script, monkeypatch, capsys):
    with pytest.raises(SystemExit) as done:
        _run(script, ["--help"], monkeypatch)
    assert done.value.code == 0 and "--root" in capsys.readouterr().out


def test_script_prepares_from_the_command_line(tmp_path, monkeypatch, capsys):
    _iemocap(tmp_path / "iemocap" / "raw")
    script = next(s for s in SCRIPTS if s.stem == "prepare_iemocap")
    _run(script, ["--root", str(tmp_path)], monkeypatch)
    assert "prepared" in capsys.readouterr().out and (tmp_path / "iemocap" / "prepared" / "manifest.json").exists()
