"""The prepared format every preparation script writes and every real-data loader reads.

Layout, under ``<root>/<name>/prepared/``::

    manifest.json            dataset, format version, modalities, classes, split sizes,
                             sha256 of every prepared file and of the released files it came from
    <split>/label.npy        int64 (N,) class ids, or float32 (N, K) multi-hot targets
    <split>/score.npy        float32 (N,) continuous target (sentiment datasets only)
    <split>/ids.json         the release's sample ids (strings)
    <split>/strings.json     {"text": [...]} raw text, when the dataset has text
    <split>/<modality>.npy   arrays, memory-mapped at load (features, fbank, stored video frames)
    <split>/<modality>.json  image file paths (images are decoded lazily from the release folders)

Arrays are opened with ``mmap_mode="r"``: a split of 20 GB of frames costs no memory until a
batch reads its rows. :class:`PreparedDataset` is a :class:`~rmm_lib.data.types.ModalDataset`,
the interface ``MultimodalDataset`` keeps too (``ds[indices] -> Batch``, ``subset``,
``with_presence``, ``select_modalities``, ``loader``, ``to_memory``).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ..missing import check_presence
from .registry import DatasetInfo
from .types import Batch, ModalDataset, placeholder_inputs, placeholder_strings

FORMAT_VERSION = 1
SPLITS = ("train", "val", "test")
# OpenAI CLIP's pixel statistics: every image/video backbone used by the papers here is CLIP's ViT.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class PreparedDataError(ValueError):
    """The prepared files are missing, stale, truncated or inconsistent."""


def sha256_file(path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- writing
class PreparedWriter:
    """Write one dataset's splits, then :meth:`finish` records the manifest (last, so an
    interrupted preparation leaves no manifest and the loader refuses the half-written files)."""

    def __init__(self, out_dir, info: DatasetInfo, class_names, source_files: dict, options: dict | None = None):
        self.out = Path(out_dir)
        self.info = info
        (self.out / "manifest.json").unlink(missing_ok=True)
        for split in SPLITS:  # files of an earlier preparation must not outlive it
            shutil.rmtree(self.out / split, ignore_errors=True)
        self.manifest = {
            "dataset": info.name,
            "format": FORMAT_VERSION,
            "task": info.task,
            "class_names": list(class_names),
            "modalities": {},
            "splits": {},
            "files": {},
            "source_files": dict(source_files),
            "options": dict(options or {}),
        }

    def split_dir(self, split: str) -> Path:
        path = self.out / split
        path.mkdir(parents=True, exist_ok=True)
        return path

    def open_array(self, split: str, modality: str, shape, dtype) -> np.ndarray:
        """A writable memory-mapped ``.npy`` to stream large arrays (frames, fbank) into."""
        return np.lib.format.open_memmap(self.split_dir(split) / f"{modality}.npy", "w+", np.dtype(dtype), tuple(shape))

    def add_split(self, split, *, label, ids, score=None, strings=None, arrays=None, image_paths=None, kinds=None):
        d = self.split_dir(split)
        label = np.asarray(label)
        np.save(d / "label.npy", label)
        if score is not None:
            np.save(d / "score.npy", np.asarray(score, dtype=np.float32))
        (d / "ids.json").write_text(json.dumps([str(i) for i in ids]))
        if strings:
            (d / "strings.json").write_text(json.dumps(strings))
        for modality, array in (arrays or {}).items():
            if array is not None:  # None: already streamed through open_array
                np.save(d / f"{modality}.npy", array)
            kind = (kinds or {}).get(modality, "array")
            self.manifest["modalities"][modality] = {"kind": kind, "file": f"{modality}.npy"}
        for modality, paths in (image_paths or {}).items():
            # relative to <root>/<name> when the release sits in <root>/<name>/raw, so the whole
            # dataset folder can move (e.g. into Google Drive); absolute otherwise
            (d / f"{modality}.json").write_text(json.dumps([self._portable(p) for p in paths]))
            self.manifest["modalities"][modality] = {"kind": "image_files", "file": f"{modality}.json"}
        self.manifest["splits"][split] = int(label.shape[0])

    def _portable(self, path) -> str:
        path, base = Path(path).resolve(), self.out.parent.resolve()
        return str(path.relative_to(base)) if path.is_relative_to(base) else str(path)

    def finish(self, modality_order) -> Path:
        self.manifest["modality_order"] = list(modality_order)
        for path in sorted(self.out.rglob("*")):
            if path.is_file() and path.name != "manifest.json":
                self.manifest["files"][str(path.relative_to(self.out))] = sha256_file(path)
        target = self.out / "manifest.json"
        target.write_text(json.dumps(self.manifest, indent=1))
        return target


# ----------------------------------------------------------------------------- sources
def _normalize(frames: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(CLIP_MEAN).reshape(3, 1, 1)
    std = torch.tensor(CLIP_STD).reshape(3, 1, 1)
    return (frames.float() / 255.0 - mean) / std


class _ArraySource:
    def __init__(self, array: np.ndarray, dtype):
        self.array, self.dtype = array, dtype
        self.sample_shape = tuple(array.shape[1:])

    def read(self, rows: np.ndarray) -> torch.Tensor:
        out = np.asarray(self.array[np.sort(rows)] if len(rows) else self.array[:0])
        order = np.argsort(np.argsort(rows, kind="stable"), kind="stable")  # memmaps read fastest in file order; restore the caller's order
        return torch.from_numpy(np.ascontiguousarray(out[order])).to(self.dtype)


class _FrameSource:
    """Stored frames (N, S, 3, H, W) uint8 -> k frames per clip: random in training, evenly spaced at test."""

    def __init__(self, array: np.ndarray, k: int, mode: str, seed: int, normalize: bool):
        if mode not in {"random", "uniform"}:
            raise ValueError(f"frames must be 'random' or 'uniform', got {mode!r}")
        self.array, self.k, self.mode, self.normalize = array, k, mode, normalize
        self.rng = np.random.default_rng(seed)
        self.dtype = torch.float32
        self.sample_shape = (k, *array.shape[2:])

    def frame_indices(self, n_rows: int) -> np.ndarray:
        stored = self.array.shape[1]
        if self.mode == "uniform":
            return np.tile(np.linspace(0, stored - 1, self.k).round().astype(int), (n_rows, 1))
        picks = [np.sort(self.rng.choice(stored, self.k, replace=stored < self.k)) for _ in range(n_rows)]
        return np.stack(picks) if picks else np.zeros((0, self.k), dtype=int)

    def read(self, rows: np.ndarray) -> torch.Tensor:
        idx = self.frame_indices(len(rows))
        out = np.stack([self.array[r, f] for r, f in zip(rows, idx)]) if len(rows) else np.zeros((0, *self.sample_shape), np.uint8)
        frames = torch.from_numpy(np.ascontiguousarray(out))
        return _normalize(frames) if self.normalize else frames.float() / 255.0


class _ImageFileSource:
    """Image files decoded on read: RGB, shorter side to ``size`` (bicubic), centre crop (CLIP's transform)."""

    def __init__(self, paths: list, size: int, normalize: bool):
        self.paths, self.size, self.normalize = paths, size, normalize
        self.dtype = torch.float32
        self.sample_shape = (3, size, size)

    def load(self, path) -> torch.Tensor:
        from PIL import Image

        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
                w, h = img.size
                scale = self.size / min(w, h)
                img = img.resize((max(self.size, round(w * scale)), max(self.size, round(h * scale))), Image.BICUBIC)
                w, h = img.size
                left, top = (w - self.size) // 2, (h - self.size) // 2
                img = img.crop((left, top, left + self.size, top + self.size))
                array = np.asarray(img, dtype=np.uint8).copy()
        except FileNotFoundError as err:
            raise PreparedDataError(f"Image {path} is gone; the prepared manifest points at it. Re-run the preparation script.") from err
        except OSError as err:
            raise PreparedDataError(f"Image {path} cannot be decoded ({err}); the file is truncated or corrupted.") from err
        frames = torch.from_numpy(array).permute(2, 0, 1)
        return _normalize(frames) if self.normalize else frames.float() / 255.0

    def read(self, rows: np.ndarray) -> torch.Tensor:
        if not len(rows):
            return torch.zeros((0, *self.sample_shape))
        if len(rows) == 1:
            return self.load(self.paths[rows[0]])[None]
        # JPEG decoding releases the GIL: a few threads keep a GPU fed without worker processes
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            return torch.stack(list(pool.map(self.load, [self.paths[r] for r in rows])))


class _View:
    """``dataset.inputs[m]``: shape/dtype like a tensor, rows read on indexing (like a tensor's:
    an int drops the sample axis, a slice, index list or boolean mask keeps it). Absent rows read
    as placeholders, as ``MultimodalDataset.inputs`` holds them after ``with_presence``."""

    device = torch.device("cpu")

    def __init__(self, source, rows, present=None):
        self.source, self.rows = source, rows
        self.present = None if present is None or bool(present.all()) else present  # None: nothing to hide
        self.dtype = source.dtype
        self.shape = torch.Size((len(rows), *source.sample_shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return len(self.shape)

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"_View(shape={tuple(self.shape)}, dtype={self.dtype}, source={type(self.source).__name__})"

    def _positions(self, index) -> np.ndarray:
        if isinstance(index, slice):
            return np.arange(len(self))[index]
        idx = torch.as_tensor(np.asarray(index) if isinstance(index, list) else index)
        if idx.dtype == torch.bool:
            if idx.shape != (len(self),):
                raise IndexError(f"a row mask has {len(self)} entries; got shape {tuple(idx.shape)}")
            idx = idx.nonzero()
        pos = idx.long().reshape(-1).numpy()
        if pos.size and (pos.max() >= len(self) or pos.min() < -len(self)):
            raise IndexError(f"index out of range for {len(self)} samples")
        return pos % max(len(self), 1)

    def __getitem__(self, index) -> torch.Tensor:
        rest = ()
        if isinstance(index, tuple):  # view[rows, ...]: rows from disk, the rest on the tensor
            index, rest = index[0], index[1:]
        single = isinstance(index, (int, np.integer)) or (
            torch.is_tensor(index) and index.dim() == 0 and index.dtype != torch.bool)
        pos = self._positions([int(index)] if single else index)
        out = self.source.read(self.rows[pos])
        if self.present is not None:
            out = placeholder_inputs({"x": out}, self.present[torch.as_tensor(pos)].reshape(-1, 1), ("x",))["x"]
        if single:
            return out[0][rest] if rest else out[0]
        return out[(slice(None), *rest)] if rest else out


class PreparedDataset(ModalDataset):
    """A file-backed :class:`~rmm_lib.data.types.ModalDataset`: labels, strings and the presence
    mask live in memory; modality rows are read from disk when a batch asks for them. Absent
    modalities get the same placeholders as ``MultimodalDataset.with_presence`` (zeros, id 0, "")."""

    def __init__(self, sources: dict, label, score, strings, names, presence=None, rows=None, meta=None):
        self.sources = dict(sources)
        self.modalities = tuple(self.sources)
        n_all = int(label.shape[0])
        self.rows = np.arange(n_all) if rows is None else np.asarray(rows, dtype=np.int64)
        n = len(self.rows)
        # names: the release ids of every row of the split file (ds.names[ds.ids[i]] is sample i)
        self._label, self._score, self._strings, self.names = label, score, strings, names
        self.label = label[torch.as_tensor(self.rows)]
        self.score = None if score is None else score[torch.as_tensor(self.rows)]
        if presence is None:
            presence = np.ones((n, len(self.modalities)), dtype=bool)
        presence = check_presence(np.asarray(presence), self.modalities)
        if presence.shape[0] != n:
            raise ValueError(f"Presence mask has {presence.shape[0]} rows for {n} samples.")
        self.presence = torch.as_tensor(presence, dtype=torch.bool)
        # only the text of carried modalities: a subset of select_modalities' result must not bring
        # dropped text back (MultimodalDataset behaves so)
        strings = {m: [v[r] for r in self.rows] for m, v in strings.items() if m in self.modalities}
        self.strings = placeholder_strings(strings, self.presence, self.modalities)
        self.ids = torch.as_tensor(self.rows)
        self.meta = dict(meta or {})

    @property
    def inputs(self) -> dict:
        return {m: _View(s, self.rows, self.presence[:, j]) for j, (m, s) in enumerate(self.sources.items())}

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index) -> Batch:
        idx = torch.as_tensor(index, dtype=torch.long).reshape(-1)
        rows = self.rows[idx.numpy()]
        present = self.presence[idx]
        inputs = placeholder_inputs({m: source.read(rows) for m, source in self.sources.items()}, present, self.modalities)
        return Batch(
            inputs=inputs,
            present=present,
            label=self.label[idx],
            score=None if self.score is None else self.score[idx],
            ids=self.ids[idx],
            modalities=self.modalities,
            strings={m: [v[i] for i in idx.tolist()] for m, v in self.strings.items()},
        )

    def _view(self, rows, presence, sources=None) -> "PreparedDataset":
        return PreparedDataset(sources or self.sources, self._label, self._score, self._strings, self.names, presence, rows, self.meta)

    def subset(self, index) -> "PreparedDataset":
        idx = torch.as_tensor(index, dtype=torch.long).reshape(-1).numpy()
        return self._view(self.rows[idx], self.presence.numpy()[idx])

    def with_presence(self, presence) -> "PreparedDataset":
        return self._view(self.rows, self._and_mask(presence).numpy())

    def select_modalities(self, modalities) -> "PreparedDataset":
        cols = self._columns(modalities)
        return self._view(self.rows, self.presence.numpy()[:, cols], {m: self.sources[m] for m in modalities})


# ----------------------------------------------------------------------------- reading
def _missing_message(info: DatasetInfo, prepared: Path) -> str:
    return (
        f"No prepared {info.title} at {prepared}. Download {info.files} and run\n"
        f"    python data_scripts/{info.script} --root {prepared.parent.parent}\n"
        f"(source: {info.source}; licence: {info.licence})."
    )


def _open_npy(path: Path) -> np.ndarray:
    if not path.exists():
        raise PreparedDataError(f"{path} is missing; the preparation did not finish. Re-run the preparation script.")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise PreparedDataError(f"{path} is truncated or corrupted ({err}). Re-run the preparation script.") from err


def _read_json(path: Path):
    if not path.exists():
        raise PreparedDataError(f"{path} is missing; the preparation did not finish. Re-run the preparation script.")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise PreparedDataError(f"{path} is truncated or corrupted ({err}). Re-run the preparation script.") from err


def read_manifest(info: DatasetInfo, prepared: Path, verify: bool = False) -> dict:
    prepared = Path(prepared)
    if not (prepared / "manifest.json").exists():
        raise FileNotFoundError(_missing_message(info, prepared))
    manifest = _read_json(prepared / "manifest.json")
    if manifest.get("dataset") != info.name:
        raise PreparedDataError(f"{prepared} holds {manifest.get('dataset')!r}, not {info.name!r}.")
    if manifest.get("format") != FORMAT_VERSION:
        raise PreparedDataError(
            f"{prepared} was written in format {manifest.get('format')}; this rmm reads format {FORMAT_VERSION}. "
            f"Re-run data_scripts/{info.script}."
        )
    for rel, digest in manifest["files"].items():
        path = prepared / rel
        if not path.exists():
            raise PreparedDataError(f"{path} is listed in the manifest but missing. Re-run data_scripts/{info.script}.")
        if verify and sha256_file(path) != digest:
            raise PreparedDataError(f"{path} changed since preparation (sha256 mismatch). Re-run data_scripts/{info.script}.")
    return manifest


def read_split(info: DatasetInfo, prepared: Path, manifest: dict, split: str, frames: str, seed: int, normalize: bool,
               image_size: int = 224, n_frames: int | None = None) -> PreparedDataset:
    d = Path(prepared) / split
    n = manifest["splits"][split]
    label_array = _open_npy(d / "label.npy")
    n_classes = len(manifest["class_names"])
    label = torch.from_numpy(np.array(label_array))
    if label.shape[0] != n:
        raise PreparedDataError(f"{d / 'label.npy'} has {label.shape[0]} rows; the manifest says {n}.")
    if info.task == "multilabel":
        if label.dim() != 2 or label.shape[1] != n_classes or not ((label == 0) | (label == 1)).all():
            raise PreparedDataError(f"{d / 'label.npy'}: expected 0/1 targets of shape (N, {n_classes}), got {tuple(label.shape)}.")
        label = label.float()
    else:
        label = label.long()
        if label.numel() and (label.min() < 0 or label.max() >= n_classes):
            raise PreparedDataError(f"{d / 'label.npy'}: labels must lie in [0, {n_classes - 1}], found {label.min()}..{label.max()}.")
    score = torch.from_numpy(np.array(_open_npy(d / "score.npy"))).float() if (d / "score.npy").exists() else None
    names = _read_json(d / "ids.json")
    strings = _read_json(d / "strings.json") if (d / "strings.json").exists() else {}
    sources = {}
    for m in manifest["modality_order"]:
        spec = manifest["modalities"][m]
        expected = tuple(info.modalities.get(m, ()))  # () = an extra array (e.g. MMSA text_ids): rows only
        if spec["kind"] == "image_files":
            paths = [str(Path(prepared).parent / p) for p in _read_json(d / spec["file"])]  # absolute paths stay
            if len(paths) != n:
                raise PreparedDataError(f"{d / spec['file']} lists {len(paths)} images for {n} samples.")
            sources[m] = _ImageFileSource(paths, image_size, normalize)
            continue
        array = _open_npy(d / spec["file"])
        if array.shape[0] != n:
            raise PreparedDataError(f"{d / spec['file']} has {array.shape[0]} rows; the manifest says {n}.")
        if spec["kind"] == "frames":
            if array.ndim != 5 or tuple(array.shape[2:]) != expected[1:]:
                raise PreparedDataError(f"{d / spec['file']}: expected stored frames (N, S, {', '.join(map(str, expected[1:]))}), got {array.shape}.")
            sources[m] = _FrameSource(array, n_frames or expected[0], frames if frames != "auto" else ("random" if split == "train" else "uniform"), seed, normalize)
        else:
            if expected and (array.shape[-1] != expected[-1] or array.ndim != len(expected) + 1):
                raise PreparedDataError(f"{d / spec['file']}: expected samples of shape {expected}, got {tuple(array.shape[1:])}.")
            dtype = torch.long if np.issubdtype(array.dtype, np.integer) else torch.float32
            sources[m] = _ArraySource(array, dtype)
    meta = {"dataset": info.name, "split": split, "class_names": manifest["class_names"], "task": info.task,
            "source_files": manifest["source_files"], "prepared": str(prepared), "options": manifest["options"]}
    return PreparedDataset(sources, label, score, strings, names, meta=meta)
