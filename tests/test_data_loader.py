"""The file-backed dataset keeps MultimodalDataset's interface; synthetic splits have real shapes;
the feature cache encodes each sample once and is invalidated by new weights or new data."""
import numpy as np
import pytest
import torch

from rmm_lib.data import DATASETS, FeatureCache, PreparedDataset, load_splits, synthetic_splits
from rmm_lib.data.sources import iemocap
from rmm_lib.missing import mla_random_missing
from test_data_image_text import _iemocap


@pytest.fixture()
def iemo(tmp_path):
    _iemocap(tmp_path / "iemocap" / "raw")
    iemocap.prepare(tmp_path)
    return tmp_path


def test_file_backed_dataset_matches_the_in_memory_one(iemo):
    lazy = load_splits("iemocap", iemo, in_memory=False)["train"]
    full = load_splits("iemocap", iemo)["train"]
    assert isinstance(lazy, PreparedDataset) and not isinstance(full, PreparedDataset)
    idx = [5, 1, 1, 7]
    for m in lazy.modalities:
        assert torch.equal(lazy[idx].inputs[m], full[idx].inputs[m])
        assert torch.equal(lazy.inputs[m][idx], full.inputs[m][idx])
    mask = mla_random_missing(len(lazy), lazy.modalities, 0.5, seed=1)
    a, b = lazy.with_presence(mask), full.with_presence(mask)
    for m in lazy.modalities:
        assert torch.equal(a[list(range(8))].inputs[m], b[list(range(8))].inputs[m])
    assert torch.equal(a.presence, b.presence)
    sub = a.subset([6, 2])
    assert torch.equal(sub[[0, 1]].inputs["text"], b[[6, 2]].inputs["text"]) and sub.label.tolist() == b.label[[6, 2]].tolist()
    only = sub.select_modalities(["text", "audio"])
    assert only.modalities == ("text", "audio") and only[[1]].present.shape == (1, 2)
    batches = list(lazy.loader(3, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert sum(len(x) for x in batches) == 8 and sorted(torch.cat([x.ids for x in batches]).tolist()) == list(range(8))


def test_text_placeholders_follow_the_mask(tmp_path):
    from data_fixtures import write_csv, write_jpeg
    from rmm_lib.data.sources import food101

    src = tmp_path / "food101" / "raw"
    for split in ("train", "test"):
        write_csv(src / "texts" / f"{split}_titles.csv", [[f"a_{i}.jpg", f"t{i}", "a"] for i in range(3)])
        for i in range(3):
            write_jpeg(src / "images" / split / "a" / f"a_{i}.jpg")
    food101.prepare(tmp_path, val_size=1)
    test = load_splits("food101", tmp_path)["test"].with_presence(np.array([[1, 0], [0, 1], [1, 1]], bool))
    batch = test[[0, 1, 2]]
    assert batch.strings["text"] == ["", "t1", "t2"] and (batch.inputs["text"][0] == 0).all()
    assert (batch.inputs["image"][1] == 0).all() and batch.inputs["image"][0].abs().sum() > 0


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_synthetic_splits_have_the_real_shapes(name):
    splits = synthetic_splits(name, n=2, seed=0)
    spec = DATASETS[name]
    for ds in splits.values():
        assert ds.modalities == tuple(spec.modalities)
        for m, shape in spec.modalities.items():
            assert tuple(ds.inputs[m].shape) == (2, *shape)
        assert ds.label.shape == ((2, 23) if name == "mmimdb" else (2,))
        assert int(ds.label.max()) < spec.n_classes


def test_unknown_dataset_and_benchmark_passthrough(tmp_path):
    with pytest.raises(ValueError, match="Unknown dataset 'imagenet'"):
        load_splits("imagenet", tmp_path)
    assert len(load_splits("benchmark", tmp_path, n_train=30, n_val=10, n_test=10)["val"]) == 10


def test_feature_cache_encodes_once_and_invalidates(iemo, tmp_path):
    train = load_splits("iemocap", iemo, in_memory=False)["train"]
    torch.manual_seed(0)
    encoder = torch.nn.Linear(512, 4)
    cache = FeatureCache(tmp_path / "cache")
    first = cache.features(train, "audio", encoder, "linear-512-4", batch_size=3)
    assert cache.encoded == 8
    assert torch.allclose(first, encoder(train[list(range(8))].inputs["audio"]), atol=1e-6)
    again = cache.features(train.subset([3, 1]), "audio", encoder, "linear-512-4")
    assert cache.encoded == 8 and torch.equal(again, first[[3, 1]])
    with torch.no_grad():
        encoder.weight.add_(1.0)
    changed = cache.features(train, "audio", encoder, "linear-512-4")
    assert cache.encoded == 16 and not torch.allclose(changed, first)
    # new data under the same names: re-prepared files change the manifest's sha256
    _iemocap(iemo / "iemocap" / "raw", n=(8, 3, 3))
    np.savez(iemo / "iemocap" / "raw" / "train.npz", audio=np.ones((8, 512), np.float32), image=np.ones((8, 1024), np.float32),
             text=np.ones((8, 1024), np.float32), label=np.zeros(8, int))
    iemocap.prepare(iemo)
    fresh = load_splits("iemocap", iemo, in_memory=False)["train"]
    cache.features(fresh, "audio", encoder, "linear-512-4")
    assert cache.encoded == 24
    # absent samples are placeholders, not data: zeros back, nothing encoded for them
    masked = fresh.with_presence(np.array([[0, 1, 1]] * 2 + [[1, 1, 1]] * 6, bool))
    other = FeatureCache(tmp_path / "other")
    out = other.features(masked, "audio", encoder, "linear-512-4")
    assert other.encoded == 6 and (out[:2] == 0).all() and (out[2:] != 0).any()


def test_cache_refuses_random_frames(tmp_path):
    from rmm_lib.data.prepared import PreparedDataset, _FrameSource
    from rmm_lib.data.cache import fingerprint_dataset

    frames = np.zeros((2, 4, 3, 8, 8), np.uint8)
    ds = PreparedDataset({"video": _FrameSource(frames, 3, "random", 0, False)}, torch.zeros(2, dtype=torch.long), None, {},
                         ["a", "b"], meta={"prepared": str(tmp_path), "split": "train"})
    (tmp_path / "manifest.json").write_text('{"files": {}}')
    with pytest.raises(ValueError, match="frames='uniform'"):
        fingerprint_dataset(ds, "video")
