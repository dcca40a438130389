"""On-disk cache of frozen-encoder features: each sample is encoded once.

A cache entry is keyed by the encoder's name, a fingerprint of its weights and a fingerprint of
the data it reads (the prepared files' sha256 from the manifest, or the tensor bytes of an
in-memory dataset) and the modality. Change the weights (a different checkpoint, LoRA merged in)
or re-prepare the data and the key changes, so stale features are never served: the old entry
is simply not found (``FeatureCache.prune`` deletes entries not used since a given time).

Entry layout: ``<cache>/<key hash>/key.json`` (the key in words), ``features.npy`` (one row per
sample of the split file, memory-mapped) and ``done.npy`` (which rows hold features).

Several processes (torchrun): each rank encodes its share of the missing rows into a file of its
own (``part-<rank>.npz``), rank 0 alone merges them into the entry, and every rank then reads it;
no two processes ever write one file.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from ..distributed import barrier, is_main_process, rank, world_size
from ..files import building, fingerprint_tensors


def fingerprint_module(module: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer (names, dtypes, shapes and values)."""
    return fingerprint_tensors(module.state_dict())


def fingerprint_dataset(ds, modality: str) -> str:
    """Fingerprint of what ``ds`` yields for ``modality`` (before any presence mask)."""
    digest = hashlib.sha256(modality.encode())
    meta = getattr(ds, "meta", {})
    if "prepared" in meta and hasattr(ds, "sources"):
        manifest = json.loads((Path(meta["prepared"]) / "manifest.json").read_text())
        split = meta["split"]
        for rel, sha in sorted(manifest["files"].items()):
            if rel.startswith(f"{split}/{modality}."):
                digest.update(f"{rel}:{sha}".encode())
        source = ds.sources[modality]
        digest.update(repr((type(source).__name__, getattr(source, "mode", None), getattr(source, "normalize", None),
                            getattr(source, "size", None), getattr(source, "k", None))).encode())
        if getattr(source, "mode", None) == "random":
            raise ValueError("Frames drawn at random differ at every read; cache features with load_splits(..., frames='uniform').")
        return digest.hexdigest()
    tensor = ds.inputs[modality]
    digest.update(f"{tensor.dtype}|{tuple(tensor.shape)}".encode())
    digest.update(tensor.contiguous().view(torch.uint8).numpy().tobytes())
    digest.update(ds.ids.numpy().tobytes())
    return digest.hexdigest()


class FeatureCache:
    """``FeatureCache(dir).features(ds, "image", encoder, "ViT-B-16/openai")`` -> (N, ...) tensor."""

    def __init__(self, root):
        self.root = Path(root).expanduser()
        self.root.mkdir(parents=True, exist_ok=True)
        self.encoded = 0  # samples encoded by this object (tests and progress reports read it)

    def key(self, encoder_name: str, weights: str, data: str, modality: str) -> dict:
        return {"encoder": encoder_name, "weights": weights, "data": data, "modality": modality}

    def entry(self, key: dict) -> Path:
        return self.root / hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]

    @torch.no_grad()
    def features(self, ds, modality: str, encoder: torch.nn.Module, encoder_name: str, batch_size: int = 64,
                 device="cpu", weights_fingerprint: str | None = None) -> torch.Tensor:
        """Features of every sample of ``ds`` (rows whose ``modality`` is absent come back as zeros
        and are not cached: their inputs are placeholders, not data)."""
        key = self.key(encoder_name, weights_fingerprint or fingerprint_module(encoder), fingerprint_dataset(ds, modality), modality)
        path = self.entry(key)
        if world_size() > 1:
            return self._features_sharded(ds, modality, encoder, key, path, batch_size, device)
        with building(path):  # another process encoding the same entry finishes first
            return self._features_one_process(ds, modality, encoder, key, path, batch_size, device)

    def _features_one_process(self, ds, modality: str, encoder: torch.nn.Module, key: dict, path: Path,
                              batch_size: int, device) -> torch.Tensor:
        path.mkdir(exist_ok=True)
        (path / "key.json").write_text(json.dumps(key, indent=1))
        rows = ds.ids.numpy().astype(np.int64)
        # file-backed splits: one cache row per row of the split file; in-memory: per sample id
        n_rows = int(ds._label.shape[0]) if hasattr(ds, "_label") else int(rows.max(initial=-1)) + 1
        done = np.load(path / "done.npy") if (path / "done.npy").exists() else np.zeros(n_rows, dtype=bool)
        present = ds.presence[:, ds.modalities.index(modality)].numpy()
        todo = np.nonzero(present & ~done[rows])[0]
        features = np.load(path / "features.npy", mmap_mode="r+") if (path / "features.npy").exists() else None
        was_training = encoder.training
        encoder.eval()
        try:
            for start in range(0, len(todo), batch_size):
                idx = todo[start : start + batch_size]
                out = encoder(ds[idx].inputs[modality].to(device)).float().cpu().numpy()
                if features is None:
                    features = np.lib.format.open_memmap(path / "features.npy", "w+", np.float32, (n_rows, *out.shape[1:]))
                features[rows[idx]] = out
                done[rows[idx]] = True
                self.encoded += len(idx)
        finally:
            encoder.train(was_training)
        if features is not None:
            features.flush()
        np.save(path / "done.npy", done)
        if features is None:
            raise ValueError(f"No sample of this dataset has {modality!r}; nothing to encode.")
        out = torch.from_numpy(np.array(features[rows]))
        return out * torch.as_tensor(present).reshape(-1, *([1] * (out.dim() - 1)))

    def _features_sharded(self, ds, modality: str, encoder: torch.nn.Module, key: dict, path: Path,
                          batch_size: int, device) -> torch.Tensor:
        """:meth:`features` under several processes: the missing rows are split over the ranks,
        each writes its own part file, rank 0 merges them; every rank returns the same tensor."""
        if is_main_process():
            path.mkdir(exist_ok=True)
            (path / "key.json").write_text(json.dumps(key, indent=1))
        barrier()  # the entry exists, and no rank is still reading an earlier state of it
        rows = ds.ids.numpy().astype(np.int64)
        n_rows = int(ds._label.shape[0]) if hasattr(ds, "_label") else int(rows.max(initial=-1)) + 1
        done = np.load(path / "done.npy") if (path / "done.npy").exists() else np.zeros(n_rows, dtype=bool)
        present = ds.presence[:, ds.modalities.index(modality)].numpy()
        mine = np.nonzero(present & ~done[rows])[0][rank()::world_size()]
        if len(mine):
            out = np.concatenate([_encode(ds, mine[s : s + batch_size], modality, encoder, device)
                                  for s in range(0, len(mine), batch_size)])
            np.savez(path / f"part-{rank()}.npz", rows=rows[mine], features=out)
            self.encoded += len(mine)
        barrier()  # every part is written
        if is_main_process():
            _merge_parts(path, n_rows, done)
        barrier()  # the entry is complete
        if not (path / "features.npy").exists():
            raise ValueError(f"No sample of this dataset has {modality!r}; nothing to encode.")
        out = torch.from_numpy(np.array(np.load(path / "features.npy", mmap_mode="r")[rows]))
        return out * torch.as_tensor(present).reshape(-1, *([1] * (out.dim() - 1)))

    def prune(self, older_than_s: float) -> int:
        """Delete entries not written for ``older_than_s`` seconds; returns how many."""
        cutoff, removed = time.time() - older_than_s, 0
        for entry in self.root.iterdir():
            if entry.is_dir() and (entry / "key.json").exists() and (entry / "key.json").stat().st_mtime < cutoff:
                shutil.rmtree(entry)
                removed += 1
        return removed


def _encode(ds, idx, modality: str, encoder: torch.nn.Module, device) -> np.ndarray:
    """The encoder's (eval-mode) features of the samples ``idx`` of ``ds``."""
    was_training = encoder.training
    encoder.eval()
    try:
        return encoder(ds[idx].inputs[modality].to(device)).float().cpu().numpy()
    finally:
        encoder.train(was_training)


def _merge_parts(path: Path, n_rows: int, done: np.ndarray) -> None:
    """Rank 0: write every rank's ``part-<rank>.npz`` into the entry's ``features.npy`` and
    ``done.npy``, then delete the parts."""
    parts = sorted(path.glob("part-*.npz"))
    features = np.load(path / "features.npy", mmap_mode="r+") if (path / "features.npy").exists() else None
    for part in parts:
        with np.load(part) as data:
            part_rows, values = data["rows"], data["features"]
        if features is None:
            features = np.lib.format.open_memmap(path / "features.npy", "w+", np.float32, (n_rows, *values.shape[1:]))
        features[part_rows] = values
        done[part_rows] = True
    if features is not None:
        features.flush()
    np.save(path / "done.npy", done)
    for part in parts:
        part.unlink()
