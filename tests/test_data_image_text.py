"""UPMC Food-101, MM-IMDb and user-provided IEMOCAP features: release layouts in miniature."""
import numpy as np
import pytest
import torch

from data_fixtures import write_csv, write_jpeg, write_json
from rmm_lib.data import PreparedDataError, load_splits
from rmm_lib.data.sources import food101, iemocap, mmimdb
from rmm_lib.data.sources.common import PrepareError


def _food(src, classes=("apple_pie", "ramen")):
    for split, n in (("train", 4), ("test", 2)):
        rows = []
        for c in classes:
            for i in range(n):
                name = f"{c}_{i}.jpg"
                write_jpeg(src / "images" / split / c / name, value=40 * classes.index(c) + 20)
                rows.append([name, f"best {c.replace('_', ' ')} recipe {i}", c])
        write_csv(src / "texts" / f"{split}_titles.csv", rows)


def test_food101_lazy_images_and_text(tmp_path):
    src = tmp_path / "food101" / "raw"
    _food(src)
    food101.prepare(tmp_path, val_size=2)
    splits = load_splits("food101", tmp_path, normalize=False)
    assert [len(splits[s]) for s in ("train", "val", "test")] == [6, 2, 4]
    test = splits["test"]
    assert test.modalities == ("image", "text") and test.meta["class_names"] == ["apple_pie", "ramen"]
    batch = test[[3, 0]]
    assert batch.inputs["image"].shape == (2, 3, 224, 224)
    assert abs(float(batch.inputs["image"][0].mean()) * 255 - 60) < 3 and batch.label.tolist() == [1, 0]
    assert batch.strings["text"] == ["best ramen recipe 1", "best apple pie recipe 0"]
    ids = batch.inputs["text"][1]
    assert bytes((ids[ids > 0] - 1).tolist()).decode() == "best apple pie recipe 0"
    assert test.inputs["image"].shape == (4, 3, 224, 224)  # shape known without reading any image
    # the dataset folder moves as a whole (e.g. into Google Drive): image paths are relative to it
    import shutil

    shutil.move(tmp_path / "food101", tmp_path / "drive" / "food101")
    moved = load_splits("food101", tmp_path / "drive", normalize=False)["test"][[3, 0]]
    assert torch.equal(moved.inputs["image"], batch.inputs["image"])


def test_food101_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="images/train.*\n.*Download: images"):
        food101.prepare(tmp_path)
    src = tmp_path / "food101" / "raw"
    _food(src)
    write_csv(src / "texts" / "test_titles.csv", [["x.jpg", "text", "sushi"]])
    with pytest.raises(PrepareError, match="class 'sushi'"):
        food101.prepare(tmp_path)
    _food(src)
    (src / "images" / "test" / "ramen" / "ramen_1.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    with pytest.raises(PrepareError, match="truncated or corrupted"):
        food101.prepare(tmp_path)
    _food(src)
    food101.prepare(tmp_path, val_size=2)
    (src / "images" / "test" / "ramen" / "ramen_1.jpg").unlink()
    with pytest.raises(PreparedDataError, match="is gone"):
        load_splits("food101", tmp_path)["test"][[3]]


def _imdb(src):
    ids = {"train": ["0001", "0002", "0003"], "dev": ["0004"], "test": ["0005", "0006"]}
    write_json(src / "split.json", ids)
    genres = [["Drama", "Romance"], ["Comedy"], ["Horror", "Adult"], ["Drama"], ["Film-Noir", "Crime"], ["War"]]
    for k, sample in enumerate(sum(ids.values(), [])):
        write_json(src / "dataset" / f"{sample}.json", {"plot": [f"plot of {sample}", "second outline"], "genres": genres[k], "title": "t"})
        write_jpeg(src / "dataset" / f"{sample}.jpeg")
    return ids


def test_mmimdb_multilabel_targets(tmp_path):
    src = tmp_path / "mmimdb" / "raw" / "mmimdb"
    _imdb(src)
    mmimdb.prepare(tmp_path)
    splits = load_splits("mmimdb", tmp_path)
    test = splits["test"]
    assert test.label.dtype == torch.float32 and test.label.shape == (2, 23)
    names = test.meta["class_names"]
    assert {names[j] for j in test.label[0].nonzero().flatten().tolist()} == {"Film-Noir", "Crime"}
    assert splits["train"].label[2].sum() == 1  # Adult is not among the 23 genres
    assert test.strings["text"][0] == "plot of 0005"
    mmimdb.prepare(tmp_path, plot="all")
    assert load_splits("mmimdb", tmp_path)["val"].strings["text"] == ["plot of 0004 second outline"]
    write_json(src / "dataset" / "0006.json", {"plot": ["p"], "genres": ["Cooking"]})
    with pytest.raises(PrepareError, match="Cooking"):
        mmimdb.prepare(tmp_path)
    write_json(src / "split.json", {"train": [], "val": [], "test": []})
    with pytest.raises(PrepareError, match="expected the keys"):
        mmimdb.prepare(tmp_path)


def _iemocap(src, n=(8, 3, 3), classes=("ang", "hap", "neu", "sad")):
    src.mkdir(parents=True, exist_ok=True)
    (src / "classes.txt").write_text("\n".join(classes) + "\n")
    rng = np.random.default_rng(0)
    for split, k in zip(("train", "val", "test"), n):
        np.savez(src / f"{split}.npz", audio=rng.normal(size=(k, 512)).astype(np.float32),
                 image=rng.normal(size=(k, 1024)).astype(np.float32), text=rng.normal(size=(k, 1024)).astype(np.float32),
                 label=rng.integers(0, len(classes), k))


def test_iemocap_user_features_and_refusals(tmp_path):
    with pytest.raises(FileNotFoundError, match="request access from its owners"):
        iemocap.prepare(tmp_path)
    src = tmp_path / "iemocap" / "raw"
    _iemocap(src)
    iemocap.prepare(tmp_path)
    splits = load_splits("iemocap", tmp_path)
    assert splits["train"].modalities == ("audio", "image", "text") and splits["train"].inputs["image"].shape == (8, 1024)
    np.savez(src / "val.npz", audio=np.zeros((3, 256), np.float32), image=np.zeros((3, 1024), np.float32),
             text=np.zeros((3, 1024), np.float32), label=np.zeros(3, int))
    with pytest.raises(PrepareError, match=r"expected \(3, 512\)"):
        iemocap.prepare(tmp_path)
    _iemocap(src)
    np.savez(src / "test.npz", audio=np.zeros((2, 512)), image=np.zeros((2, 1024)), text=np.zeros((2, 1024)), label=np.array([0, 4]))
    with pytest.raises(PrepareError, match=r"labels must lie in \[0, 3\]"):
        iemocap.prepare(tmp_path)
    np.savez(src / "test.npz", audio=np.zeros((2, 512)), label=np.array([0, 1]))
    with pytest.raises(PrepareError, match=r"lacks the keys \['image', 'text'\]"):
        iemocap.prepare(tmp_path)
    (src / "test.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(PrepareError, match="truncated"):
        iemocap.prepare(tmp_path)
    np.savez(src / "test.npz", audio=np.array([object()] * 2), label=np.array([0, 1]))
    with pytest.raises(PrepareError, match="pickled objects"):
        iemocap.prepare(tmp_path)
