"""Every dataset keeps the one ModalDataset interface: the in-memory MultimodalDataset and the
file-backed PreparedDataset are checked against the same arrays, member by member, so a method
may take either. Batch.select / Batch.with_presence and apply_masks are checked here too."""
import numpy as np
import pytest
import torch

from rmm_lib.data import (
    Batch,
    ModalDataset,
    MultimodalDataset,
    PreparedDataset,
    apply_masks,
    placeholder_inputs,
    placeholder_strings,
)
from rmm_lib.data.prepared import PreparedWriter, _View, read_manifest, read_split
from rmm_lib.data.registry import DatasetInfo

N = 6
MODS = ("image", "text", "audio")
INFO = DatasetInfo(
    name="toy", title="Toy", modalities={}, task="classification", n_classes=3, splits={}, source="tests",
    licence="none", size="0", files="none", script="none",
)


def _arrays():
    rng = np.random.default_rng(0)
    return {
        "image": rng.normal(size=(N, 2, 3)).astype(np.float32) + 5.0,  # never 0, so placeholders show
        "text": rng.integers(1, 50, size=(N, 5)).astype(np.int64),  # token ids, 0 = padding
        "audio": rng.normal(size=(N, 4)).astype(np.float32) + 5.0,
    }


ARRAYS = _arrays()
LABEL = np.array([0, 1, 2, 0, 1, 2], dtype=np.int64)
SCORE = np.linspace(-3, 3, N).astype(np.float32)
TEXT = [f"sample {i}" for i in range(N)]
MASK1 = np.array([[1, 1, 1], [0, 1, 1], [1, 0, 1], [1, 1, 0], [0, 0, 1], [1, 1, 1]], bool)
MASK2 = np.array([[1, 0, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 1], [0, 1, 1]], bool)


def _expected(name):
    return torch.from_numpy(ARRAYS[name])


def _memory(tmp_path):
    inputs = {m: torch.from_numpy(a.copy()) for m, a in ARRAYS.items()}
    return MultimodalDataset(inputs, torch.from_numpy(LABEL), torch.from_numpy(SCORE), strings={"text": list(TEXT)},
                             meta={"dataset": "toy"})


def _prepared(tmp_path):
    out = tmp_path / "toy" / "prepared"
    writer = PreparedWriter(out, INFO, ["a", "b", "c"], source_files={})
    writer.add_split("train", label=LABEL, ids=[f"id{i}" for i in range(N)], score=SCORE, strings={"text": TEXT},
                     arrays=ARRAYS)
    writer.finish(MODS)
    manifest = read_manifest(INFO, out)
    return read_split(INFO, out, manifest, "train", frames="auto", seed=0, normalize=False)


@pytest.fixture(params=["memory", "prepared"])
def ds(request, tmp_path):
    made = {"memory": _memory, "prepared": _prepared}[request.param](tmp_path)
    assert isinstance(made, PreparedDataset) == (request.param == "prepared")
    return made


def _rows(ds):
    return ds[list(range(len(ds)))]


# ----------------------------------------------------------------------------- the members
def test_members_and_tensor_like_inputs(ds):
    assert isinstance(ds, ModalDataset) and isinstance(ds, torch.utils.data.Dataset)
    assert len(ds) == N and ds.modalities == MODS and tuple(ds.inputs) == MODS
    for m in MODS:
        x, want = ds.inputs[m], _expected(m)
        assert tuple(x.shape) == tuple(want.shape) and x.dtype == want.dtype
        assert x.dim() == x.ndim == want.dim() and len(x) == N
        assert x.size() == want.size() and x.size(1) == want.size(1) and x.size(-1) == want.size(-1)
        assert x.is_floating_point() == (m != "text")
        assert torch.equal(x[[4, 1, 1]], want[[4, 1, 1]])
        assert torch.equal(x[torch.tensor([2, 0])], want[[2, 0]])
        assert torch.equal(x[2], want[2]) and torch.equal(x[-1], want[-1])  # an int drops the sample axis
        assert torch.equal(x[1:4], want[1:4])
        assert torch.equal(x[torch.tensor(MASK1[:, 0])], want[MASK1[:, 0]])
        assert torch.equal(x[[3, 0], 1], want[[3, 0], 1])
    assert torch.equal(ds.label, torch.from_numpy(LABEL)) and torch.equal(ds.score, torch.from_numpy(SCORE))
    assert ds.presence.dtype == torch.bool and ds.presence.shape == (N, 3) and bool(ds.presence.all())
    assert ds.strings == {"text": TEXT}
    assert ds.ids.tolist() == list(range(N)) and isinstance(ds.meta, dict)


def test_getitem_gives_a_batch_of_those_rows(ds):
    b = ds[[4, 1, 1]]
    assert isinstance(b, Batch) and len(b) == 3 and b.modalities == MODS
    for m in MODS:
        assert torch.equal(b.inputs[m], _expected(m)[[4, 1, 1]])
    assert b.present.shape == (3, 3) and bool(b.present.all())
    assert b.label.tolist() == [1, 1, 1] and torch.equal(b.score, torch.from_numpy(SCORE)[[4, 1, 1]])
    assert b.ids.tolist() == [4, 1, 1] and b.strings == {"text": ["sample 4", "sample 1", "sample 1"]}
    assert len(ds[np.array([0])]) == 1 and ds[torch.tensor([5])].ids.tolist() == [5]


def _check_placeholders(ds, mask):
    """Absent -> zeros (id 0 for tokens), "" for text; present -> the data, through both ways of reading."""
    b = _rows(ds)
    assert torch.equal(ds.presence, torch.from_numpy(mask)) and torch.equal(b.present, torch.from_numpy(mask))
    for j, m in enumerate(MODS):
        absent = ~torch.from_numpy(mask[:, j])
        for x in (b.inputs[m], ds.inputs[m][list(range(N))]):
            assert (x[absent] == 0).all() and torch.equal(x[~absent], _expected(m)[~absent])
    want = [s if mask[i, 1] else "" for i, s in enumerate(TEXT)]
    assert ds.strings["text"] == want and b.strings["text"] == want


def test_with_presence_writes_placeholders_and_ands_masks(ds):
    once = ds.with_presence(MASK1)
    assert isinstance(once, type(ds)) and bool(ds.presence.all())  # the original is untouched
    _check_placeholders(once, MASK1)
    twice = once.with_presence(MASK2)
    _check_placeholders(twice, MASK1 & MASK2)
    assert torch.equal(once.with_presence(np.ones((N, 3), bool)).presence, once.presence)
    assert torch.equal(ds.with_presence(MASK1.astype(int)).presence, torch.from_numpy(MASK1))  # 0/1 works too
    with pytest.raises(ValueError, match="rows"):
        ds.with_presence(MASK1[:4])
    with pytest.raises(ValueError, match="columns"):
        ds.with_presence(MASK1[:, :2])
    with pytest.raises(ValueError, match="no modality left"):
        ds.with_presence(np.array([[0, 0, 0]] + [[1, 1, 1]] * (N - 1), bool))


def test_subset_keeps_rows_mask_and_placeholders(ds):
    sub = ds.with_presence(MASK1).subset([5, 0, 4])
    assert isinstance(sub, ModalDataset) and len(sub) == 3
    assert sub.ids.tolist() == [5, 0, 4] and sub.label.tolist() == [2, 0, 1]
    assert torch.equal(sub.score, torch.from_numpy(SCORE)[[5, 0, 4]])
    assert torch.equal(sub.presence, torch.from_numpy(MASK1[[5, 0, 4]]))
    assert sub.strings == {"text": ["sample 5", "sample 0", ""]}
    b = sub[[2, 0]]
    assert b.ids.tolist() == [4, 5] and (b.inputs["image"][0] == 0).all() and (b.inputs["text"][0] == 0).all()
    assert torch.equal(b.inputs["audio"], _expected("audio")[[4, 5]])
    assert torch.equal(sub.inputs["image"][[1]], _expected("image")[[0]])


def test_select_modalities(ds):
    only = ds.with_presence(MASK1).select_modalities(["audio", "text"])
    assert only.modalities == ("audio", "text") and tuple(only.inputs) == ("audio", "text")
    assert torch.equal(only.presence, torch.from_numpy(MASK1[:, [2, 1]]))
    assert only.strings == {"text": [s if MASK1[i, 1] else "" for i, s in enumerate(TEXT)]}
    b = only[[2, 1]]
    assert b.present.shape == (2, 2) and (b.inputs["text"][0] == 0).all()
    assert torch.equal(b.inputs["audio"], _expected("audio")[[2, 1]])
    no_text = ds.select_modalities(["image"])
    assert no_text.strings == {} and no_text.subset([1, 0]).strings == {} and no_text[[0]].strings == {}
    with pytest.raises(ValueError, match="Unknown modality 'depth'"):
        ds.select_modalities(["image", "depth"])
    with pytest.raises(ValueError, match="no modality left"):
        ds.with_presence(MASK1).select_modalities(["image"])  # samples 1 and 4 have no image


def test_loader_order_follows_the_generator(ds):
    ids = lambda loader: [b.ids.tolist() for b in loader]  # noqa: E731
    assert ids(ds.loader(4)) == [[0, 1, 2, 3], [4, 5]]
    assert ids(ds.loader(4, drop_last=True)) == [[0, 1, 2, 3]]
    order = torch.randperm(N, generator=torch.Generator().manual_seed(3)).tolist()
    batches = list(ds.loader(4, shuffle=True, generator=torch.Generator().manual_seed(3)))
    assert [b.ids.tolist() for b in batches] == [order[:4], order[4:]]
    assert all(isinstance(b, Batch) for b in batches)
    for b in batches:
        for m in MODS:
            assert torch.equal(b.inputs[m], _expected(m)[b.ids])
    assert ids(ds.loader(4, shuffle=True, generator=torch.Generator().manual_seed(3))) == [order[:4], order[4:]]
    assert ids(ds.loader(4, shuffle=True, generator=torch.Generator().manual_seed(4))) != [order[:4], order[4:]]


def test_to_memory_has_equal_values(ds):
    masked = ds.with_presence(MASK1)
    mem = masked.to_memory()
    assert type(mem) is MultimodalDataset and mem.modalities == MODS
    for m in MODS:
        assert torch.equal(mem.inputs[m], _rows(masked).inputs[m]) and mem.inputs[m].dtype == _expected(m).dtype
    assert torch.equal(mem.presence, masked.presence) and torch.equal(mem.label, masked.label)
    assert torch.equal(mem.score, masked.score) and torch.equal(mem.ids, masked.ids)
    assert mem.strings == masked.strings and mem.meta == masked.meta
    assert mem.to_memory() is mem


def test_apply_masks_masks_the_named_splits_only(ds):
    splits = {"train": ds, "val": ds.subset([0, 1]), "test": ds}
    out = apply_masks(splits, {"test": MASK1})
    assert out["train"] is ds and out["val"] is splits["val"] and set(out) == set(splits)
    assert torch.equal(out["test"].presence, torch.from_numpy(MASK1)) and bool(ds.presence.all())
    assert apply_masks(splits, {"test": None})["test"] is ds
    with pytest.raises(ValueError, match="unknown split"):
        apply_masks(splits, {"valid": MASK1})


# ----------------------------------------------------------------------------- batches
def _batch():
    return _memory(None)[[0, 1, 2, 3]]


@pytest.mark.parametrize("rows", [torch.tensor([False, True, False, True]), torch.tensor([3, 1])])
def test_batch_select_takes_every_field(rows):
    b = _batch().with_presence(torch.from_numpy(MASK1[:4]))
    sel = b.select(rows)
    want = [1, 3] if rows.dtype == torch.bool else [3, 1]
    assert isinstance(sel, Batch) and len(sel) == 2 and sel.ids.tolist() == want
    for m in MODS:
        assert torch.equal(sel.inputs[m], b.inputs[m][want])
    assert torch.equal(sel.present, b.present[want]) and sel.label.tolist() == LABEL[want].tolist()
    assert torch.equal(sel.score, b.score[want]) and sel.strings == {"text": [b.strings["text"][i] for i in want]}
    assert sel.modalities == MODS
    with pytest.raises(ValueError, match="one entry per sample"):
        b.select(torch.tensor([True, False]))
    assert len(b.select(torch.zeros(4, dtype=torch.bool))) == 0


def test_batch_with_presence_replaces_the_mask():
    b = _batch().with_presence(torch.from_numpy(MASK1[:4]))  # sample 1 has no image, 2 no text, 3 no audio
    mask = torch.tensor([[1, 0, 1], [1, 1, 1], [1, 1, 0], [0, 1, 1]], dtype=torch.bool)
    out = b.with_presence(mask)
    assert torch.equal(out.present, mask)  # replaced, not ANDed: sample 1's image flag comes back
    assert torch.equal(b.present, torch.from_numpy(MASK1[:4]))  # the original is untouched
    for j, m in enumerate(MODS):
        assert out.inputs[m].dtype == b.inputs[m].dtype
        assert (out.inputs[m][~mask[:, j]] == 0).all() and torch.equal(out.inputs[m][mask[:, j]], b.inputs[m][mask[:, j]])
    assert out.strings["text"] == ["", b.strings["text"][1], b.strings["text"][2], b.strings["text"][3]]
    assert out.ids.tolist() == b.ids.tolist() and torch.equal(out.label, b.label)
    with pytest.raises(ValueError, match="shape"):
        b.with_presence(mask[:, :2])
    if torch.cuda.is_available():
        gpu = b.to("cuda").with_presence(mask.cuda())
        assert all(t.device.type == "cuda" for t in gpu.inputs.values()) and gpu.strings == out.strings


def test_placeholder_helpers_take_any_subset_of_modalities():
    present = torch.tensor([[True, False], [False, True]])
    inputs = {"b": torch.tensor([[1, 2], [3, 4]]), "a": torch.tensor([1.5, 2.5])}
    out = placeholder_inputs(inputs, present, ("a", "b"))
    assert out["b"].tolist() == [[0, 0], [3, 4]] and out["a"].tolist() == [1.5, 0.0]
    assert out["b"].dtype == torch.long and out["a"].dtype == torch.float32
    assert placeholder_strings({"b": ["x", "y"]}, present.numpy(), ("a", "b")) == {"b": ["", "y"]}


def test_view_reports_like_a_tensor(tmp_path):
    view = _prepared(tmp_path).inputs["image"]
    assert isinstance(view, _View) and view.device == torch.device("cpu") and "(6, 2, 3)" in repr(view)
    with pytest.raises(IndexError):
        view[N]
