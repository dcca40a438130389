"""MVSA (Niu et al. 2016) in its released layout: labels, splits, text decoding and refusals."""
import json
import logging
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from data_fixtures import write_mvsa
from rmm_lib.data import load_splits
from rmm_lib.data.sources import mvsa
from rmm_lib.data.sources.common import PrepareError, strings_from_text_bytes

SCRIPT = Path(__file__).resolve().parents[1] / "data_scripts" / "prepare_mvsa.py"
CLASSES = ["negative", "neutral", "positive"]


def _raw(root):
    return root / "mvsa" / "raw"


def _ids(splits):
    return {s: list(ds.names) for s, ds in splits.items()}


def _manifest(root):
    return json.loads((root / "mvsa" / "prepared" / "manifest.json").read_text())


def test_single_labels_splits_text_and_images(tmp_path, caplog):
    expected = write_mvsa(_raw(tmp_path), n=24)
    with caplog.at_level(logging.INFO, logger="rmm_lib"):
        mvsa.prepare(tmp_path)
    assert "kept 20; dropped 4 with positive/negative" in caplog.text
    splits = load_splits("mvsa", tmp_path, normalize=False)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [16, 2, 2]  # 8:1:1 of the 20 kept posts
    ids = _ids(splits)
    assert not set(ids["train"]) & set(ids["val"]) and not set(ids["train"]) & set(ids["test"]) and not set(ids["val"]) & set(ids["test"])
    assert set(sum(ids.values(), [])) == {k for k, v in expected.items() if v is not None}
    for ds in splits.values():
        assert ds.modalities == ("image", "text") and ds.meta["class_names"] == CLASSES
        assert [CLASSES[int(y)] for y in ds.label] == [expected[k] for k in ds.names]
    everything = {k: CLASSES[int(y)] for ds in splits.values() for k, y in zip(ds.names, ds.label)}
    assert "3" not in everything and "9" not in everything  # positive text, negative image: dropped
    assert everything["2"] == "positive" and everything["4"] == "negative" and everything["5"] == "neutral"  # neutral -> the other
    train = splits["train"]
    batch = train[list(range(len(train)))]
    every_text = {k: t for ds in splits.values() for k, t in zip(ds.names, ds[list(range(len(ds)))].strings["text"])}
    assert every_text["4"] == "post 4 caf\u00e9 \u201cquoted\u201d" and every_text["1"] == "post 1 \u2764 #mvsa"
    assert batch.inputs["text"].dtype.is_floating_point is False
    assert strings_from_text_bytes(batch.inputs["text"]) == batch.strings["text"]  # UTF-8 byte rows, as food101
    assert batch.inputs["image"].shape == (len(train), 3, 224, 224)
    for j, name in enumerate(train.names):
        assert abs(float(batch.inputs["image"][j].mean()) * 255 - (20 * int(name)) % 250) < 3
    manifest = _manifest(tmp_path)
    assert manifest["options"]["variant"] == "single" and manifest["options"]["ratio"] == [8, 1, 1]
    assert manifest["source_files"]["labelResultAll.txt"] == {"posts": 24, "kept": 20, "conflicting_polarity": 4, "no_majority": 0,
                                                              "bad_files": 0, "text_legacy_bytes": 6}


def test_split_is_seeded_and_ratio_is_a_parameter(tmp_path):
    write_mvsa(_raw(tmp_path), n=60)
    mvsa.prepare(tmp_path, seed=0)
    first = _ids(load_splits("mvsa", tmp_path))
    mvsa.prepare(tmp_path, seed=0, check_images=False)
    assert _ids(load_splits("mvsa", tmp_path)) == first
    mvsa.prepare(tmp_path, seed=1)
    assert _ids(load_splits("mvsa", tmp_path)) != first
    mvsa.prepare(tmp_path, ratio=(2, 1, 1))
    assert [len(v) for v in _ids(load_splits("mvsa", tmp_path)).values()] == [24, 13, 13]  # 50 kept posts
    parts = mvsa.split_indices(50, (8, 1, 1), 3)
    assert {k: len(v) for k, v in parts.items()} == {"train": 40, "val": 5, "test": 5}
    assert sorted(np.concatenate(list(parts.values())).tolist()) == list(range(50))  # disjoint, complete
    assert parts["test"].tolist() != mvsa.split_indices(50, (8, 1, 1), 4)["test"].tolist()


def test_multiple_variant_majority_vote(tmp_path, caplog):
    expected = write_mvsa(_raw(tmp_path), n=12, variant="multiple")
    with pytest.raises(PrepareError, match="3 annotator column.*variant='multiple'"):
        mvsa.prepare(tmp_path)
    with caplog.at_level(logging.INFO, logger="rmm_lib"):
        mvsa.prepare(tmp_path, variant="multiple", ratio=(6, 1, 1))
    assert "dropped 2 with positive/negative text and image, 2 without a majority" in caplog.text
    splits = load_splits("mvsa", tmp_path)
    got = {k: CLASSES[int(y)] for ds in splits.values() for k, y in zip(ds.names, ds.label)}
    assert got == {k: v for k, v in expected.items() if v is not None}
    assert got["1"] == "positive" and got["2"] == "positive" and "4" not in got
    assert _manifest(tmp_path)["options"]["variant"] == "multiple"
    single_root = tmp_path / "single"
    write_mvsa(_raw(single_root), n=12)
    with pytest.raises(PrepareError, match="1 annotator column.*variant='single'"):
        mvsa.prepare(single_root, variant="multiple")


def test_script_prepares_like_the_module(tmp_path, monkeypatch, capsys):
    write_mvsa(_raw(tmp_path), n=30)
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--root", str(tmp_path), "--ratio", "8:1:1", "--seed", "3"])
    runpy.run_path(str(SCRIPT), run_name="__main__")
    out = capsys.readouterr().out
    assert "prepared" in out and "were not valid UTF-8" in out
    by_script = _ids(load_splits("mvsa", tmp_path))
    mvsa.prepare(tmp_path, seed=3)
    assert _ids(load_splits("mvsa", tmp_path)) == by_script and [len(v) for v in by_script.values()] == [19, 3, 3]
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--root", str(tmp_path), "--ratio", "8:1"])
    with pytest.raises(SystemExit, match="--ratio must look like 8:1:1"):
        runpy.run_path(str(SCRIPT), run_name="__main__")


def test_release_in_its_archive_folder_with_crlf(tmp_path):
    src = _raw(tmp_path) / "MVSA_Single"
    write_mvsa(src, n=12)
    label_file = src / "labelResultAll.txt"
    label_file.write_bytes(label_file.read_bytes().replace(b"\n", b"\r\n"))
    mvsa.prepare(tmp_path)
    assert sum(len(ds) for ds in load_splits("mvsa", tmp_path).values()) == 10


@pytest.mark.parametrize("line, message", [
    ("13\tpositive,happy", "line 14: unknown label 'happy'"),
    ("13\tpositive", "line 14: expected 'text,image'"),
    ("13", r"line 14: expected <id> and 1 'text,image' field\(s\), got 1"),
    ("13\tpositive,negative\tneutral,neutral", "line 14: expected <id> and 1"),
    ("abc\tpositive,positive", "post id 'abc' is not a number"),
    ("1\tneutral,neutral", "post 1 is listed twice"),
])
def test_malformed_label_file(tmp_path, line, message):
    src = _raw(tmp_path)
    write_mvsa(src, n=12)
    with open(src / "labelResultAll.txt", "a") as handle:
        handle.write(line + "\n")
    with pytest.raises(PrepareError, match=message):
        mvsa.prepare(tmp_path)


def test_refusals(tmp_path, caplog):
    with pytest.raises(FileNotFoundError, match="labelResultAll.txt not found.*\n.*Download: the extracted MVSA_Single"):
        mvsa.prepare(tmp_path)
    src = _raw(tmp_path)
    write_mvsa(src, n=12)
    (src / "labelResultAll.txt").write_text("id\ttext\n1\tpositive,positive\n")
    with pytest.raises(PrepareError, match="expected the header"):
        mvsa.prepare(tmp_path)
    (src / "labelResultAll.txt").write_text("ID\ttext,image\n")
    with pytest.raises(PrepareError, match="lists no posts"):
        mvsa.prepare(tmp_path)
    write_mvsa(src, n=12)
    (src / "data" / "7.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"data/7.jpg \(post on line 8.*\n(.*\n)*.*--on-bad skip"):
        mvsa.prepare(tmp_path)
    (src / "data" / "7.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    with pytest.raises(PrepareError, match="7.jpg: not a readable image"):
        mvsa.prepare(tmp_path)
    (src / "data" / "10.txt").unlink()
    mvsa.prepare(tmp_path, on_bad="skip")
    assert "skipped 2 post(s) with a missing or unreadable file: ['7', '10']" in caplog.text  # a warning
    assert sum(len(ds) for ds in load_splits("mvsa", tmp_path).values()) == 8
    write_mvsa(src, n=12)
    with pytest.raises(PrepareError, match=r"4.txt: not valid UTF-8 \(byte 10: b'\\xe9'\)"):
        mvsa.prepare(tmp_path, text_errors="error")
    with pytest.raises(ValueError, match="ratio must be three positive numbers"):
        mvsa.prepare(tmp_path, ratio=(8, 1))
    with pytest.raises(ValueError, match="variant must be"):
        mvsa.prepare(tmp_path, variant="double")
    write_mvsa(tmp_path / "tiny" / "mvsa" / "raw", n=2)
    with pytest.raises(PrepareError, match="cannot fill train/val/test"):
        mvsa.prepare(tmp_path / "tiny")


def test_registry_entry_matches_the_spec_order():
    from rmm_lib.data import DATASETS

    spec = DATASETS["mvsa"]
    assert tuple(spec.modalities) == ("image", "text") and spec.class_names == tuple(CLASSES)
    assert spec.script == "prepare_mvsa.py" and spec.dtypes == {"text": "int64"}
