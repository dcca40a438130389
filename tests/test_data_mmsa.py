"""MMSA pickles -> prepared -> load_splits, and every refusal (checksum before unpickling)."""
import hashlib
import pickle

import numpy as np
import pytest
import torch

from data_fixtures import mmsa_data, write_mmsa
from rmm_lib.data import PreparedDataError, load_splits
from rmm_lib.data.sources import mmsa
from rmm_lib.data.sources.common import PrepareError


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def mosi_root(tmp_path):
    data = mmsa_data("mosi")
    path = tmp_path / "mosi" / "raw" / "aligned_50.pkl"
    write_mmsa(path, data)
    return tmp_path, path, data


def test_prepare_and_load_mosi_round_trip(mosi_root):
    root, path, data = mosi_root
    mmsa.prepare("mosi", root, sha256=_sha(path))
    splits = load_splits("mosi", root)
    assert set(splits) == {"train", "val", "test"} and len(splits["val"]) == 3
    train = splits["train"]
    assert train.modalities == ("text", "audio", "video")
    assert torch.allclose(train.inputs["audio"], torch.from_numpy(data["train"]["audio"]))
    assert torch.allclose(train.inputs["video"], torch.from_numpy(data["train"]["vision"]))
    assert torch.allclose(train.score, torch.from_numpy(data["train"]["regression_labels"]))
    assert train.label.tolist() == data["train"]["classification_labels"].astype(int).tolist()
    assert train.strings["text"][1] == "train utterance number 1"
    ids = load_splits("mosi", root, text="ids")["test"]
    assert ids.inputs["text"].dtype == torch.long
    assert ids[[0]].inputs["text"].shape == (1, 50)
    assert ids.inputs["text"][[2]].tolist()[0] == data["test"]["text_bert"][2, 0].astype(int).tolist()


def test_mosei_dims_and_unaligned_lengths(tmp_path):
    data = mmsa_data("mosei", length=7)
    path = tmp_path / "mosei" / "raw" / "unaligned_50.pkl"
    write_mmsa(path, data)
    mmsa.prepare("mosei", tmp_path, sha256=_sha(path), aligned=False)
    test = load_splits("mosei", tmp_path)["test"]
    assert test.inputs["audio"].shape == (4, 7, 74) and test.inputs["video"].shape == (4, 7, 35)


def test_wrong_checksum_stops_before_unpickling(mosi_root, monkeypatch):
    root, path, _ = mosi_root
    monkeypatch.setattr(mmsa._ArraysOnlyUnpickler, "load", lambda self: pytest.fail("unpickled before the checksum"))
    with pytest.raises(PrepareError, match="sha256 is .* expected"):
        mmsa.prepare("mosi", root, sha256="0" * 64)
    with pytest.raises(PrepareError, match="no --sha256"):
        mmsa.prepare("mosi", root)


def test_foreign_classes_in_the_pickle_are_refused(tmp_path):
    path = tmp_path / "mosi" / "raw" / "aligned_50.pkl"
    path.parent.mkdir(parents=True)

    class Evil:
        def __reduce__(self):
            return (print, ("this would run",))

    path.write_bytes(pickle.dumps({"train": Evil()}))
    with pytest.raises(mmsa.UnsafePickleError, match="builtins.print"):
        mmsa.prepare("mosi", tmp_path, trust_unverified=True)


def test_missing_truncated_and_malformed_files(tmp_path, mosi_root):
    with pytest.raises(FileNotFoundError, match="aligned_50.pkl.*\n.*Download"):
        mmsa.prepare("mosi", tmp_path / "elsewhere", sha256="0" * 64)
    root, path, data = mosi_root
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(PrepareError, match="truncated or corrupted"):
        mmsa.prepare("mosi", root, trust_unverified=True)
    bad = mmsa_data("mosi")
    del bad["valid"]["vision"]
    write_mmsa(path, bad)
    with pytest.raises(PrepareError, match=r"lacks the keys \['vision'\]"):
        mmsa.prepare("mosi", root, trust_unverified=True)
    bad = mmsa_data("mosi")
    bad["test"]["audio"] = bad["test"]["audio"][:, :, :3]
    write_mmsa(path, bad)
    with pytest.raises(PrepareError, match=r"expected \(4, L, 5\)"):
        mmsa.prepare("mosi", root, trust_unverified=True)
    bad = mmsa_data("mosi")
    bad["train"]["classification_labels"][0] = 3
    write_mmsa(path, bad)
    with pytest.raises(PrepareError, match=r"labels must lie in \[0, 2\]"):
        mmsa.prepare("mosi", root, trust_unverified=True)
    bad = mmsa_data("mosi")
    bad["train"]["audio"][2, 0, 0] = -np.inf
    write_mmsa(path, bad)
    with pytest.raises(PrepareError, match="NaN/inf in 1 sample"):
        mmsa.prepare("mosi", root, trust_unverified=True)
    mmsa.prepare("mosi", root, trust_unverified=True, nonfinite="zero")
    assert load_splits("mosi", root)["train"].inputs["audio"][2, 0, 0] == 0


def test_loader_refuses_missing_stale_and_truncated_prepared_files(mosi_root):
    root, path, _ = mosi_root
    with pytest.raises(FileNotFoundError, match="prepare_mmsa.py"):
        load_splits("mosi", root)
    mmsa.prepare("mosi", root, sha256=_sha(path))
    audio = root / "mosi" / "prepared" / "val" / "audio.npy"
    audio.write_bytes(audio.read_bytes()[:-100])
    with pytest.raises(PreparedDataError, match="truncated or corrupted"):
        load_splits("mosi", root)
    mmsa.prepare("mosi", root, sha256=_sha(path))
    label = root / "mosi" / "prepared" / "train" / "label.npy"
    np.save(label, np.array([0, 1, 2, 7, 0, 1]))
    with pytest.raises(PreparedDataError, match=r"labels must lie in \[0, 2\]"):
        load_splits("mosi", root)
    with pytest.raises(PreparedDataError, match="sha256 mismatch"):
        load_splits("mosi", root, verify=True)
    with pytest.raises(ValueError, match="Unknown option"):
        mmsa.prepare("mosi", root, sha256=_sha(path))
        load_splits("mosi", root, colour="red")


def test_script_runs_from_the_command_line(mosi_root, capsys):
    root, path, _ = mosi_root
    mmsa.main(["--dataset", "mosi", "--root", str(root), "--sha256", _sha(path)])
    assert "prepared" in capsys.readouterr().out
    assert (root / "mosi" / "prepared" / "manifest.json").exists()
