"""The one entry point to real data: ``load_splits(name, root)``, and random data of the real
shapes (``synthetic_splits``) for smoke runs on machines without the datasets."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .prepared import SPLITS, read_manifest, read_split
from .registry import DATASETS, info
from .types import MultimodalDataset

# Feature datasets fit in memory; frame/image datasets stay on disk.
IN_MEMORY = {"mosi", "mosei", "iemocap"}


def data_root(root=None) -> Path:
    """``root``, else ``RMM_DATA_ROOT``, else the profile's default (``~/rmm_data``)."""
    if root is None:
        from ..profiles import data_root_from_env

        root = data_root_from_env()
    return Path(root).expanduser()


def load_splits(name: str, root=None, *, frames: str = "auto", normalize: bool = True, seed: int = 0,
                verify: bool = False, in_memory: bool | None = None, n_frames: int | None = None, **options) -> dict:
    """``{"train", "val", "test"}`` datasets of ``name`` from ``<root>/<name>/prepared``.

    frames: ``"auto"`` (3 random frames per clip in train, evenly spaced in val/test, CMPT 4.2),
        ``"random"`` or ``"uniform"`` for every split.
    normalize: CLIP pixel normalisation for images and frames (else values in [0, 1]).
    verify: re-hash every prepared file against the manifest (slow on large datasets).
    n_frames: frames per clip (default 3, CMPT 4.2; TRML does not give its count, so it is a knob).
    in_memory: read every row into a ``MultimodalDataset`` (default for feature datasets).
    options: dataset-specific, e.g. ``target="sentiment"`` for MELD, ``text="ids"`` for MMSA.
    """
    if name == "benchmark":
        from .benchmark import make_benchmark

        return make_benchmark(seed=seed, **options)
    spec = info(name)
    if n_frames is not None and (int(n_frames) != n_frames or n_frames < 1):
        raise ValueError(f"n_frames must be a positive integer, got {n_frames!r}.")
    prepared = data_root(root) / name / "prepared"
    manifest = read_manifest(spec, prepared, verify=verify)
    out = {}
    for split in SPLITS:
        if split not in manifest["splits"]:
            raise FileNotFoundError(f"{prepared} has no {split!r} split; re-run data_scripts/{spec.script}.")
        ds = read_split(spec, prepared, manifest, split, frames, seed + SPLITS.index(split), normalize, n_frames=n_frames)
        ds = _apply_options(name, ds, options)
        if in_memory if in_memory is not None else name in IN_MEMORY:
            ds = ds.to_memory()
        out[split] = ds
    return out


def _apply_options(name, ds, options):
    options = dict(options)
    if name == "meld":
        target = options.pop("target", "emotion")
        if target not in {"emotion", "sentiment"}:
            raise ValueError(f"MELD target must be 'emotion' (7 classes) or 'sentiment' (3 classes), got {target!r}.")
        if target == "sentiment":
            from .prepared import PreparedDataset
            from .registry import MELD_SENTIMENTS

            sentiment = np.load(Path(ds.meta["prepared"]) / ds.meta["split"] / "sentiment.npy")
            meta = {**ds.meta, "class_names": list(MELD_SENTIMENTS), "target": "sentiment"}
            ds = PreparedDataset(ds.sources, torch.from_numpy(sentiment).long(), None, ds._strings, ds.names, meta=meta)
    if name in {"mosi", "mosei"}:
        text = options.pop("text", "features")
        if text not in {"features", "ids"}:
            raise ValueError("MMSA text must be 'features' (BERT features) or 'ids' (BERT token ids).")
        if text == "ids":
            from .prepared import PreparedDataset

            sources = dict(ds.sources)
            sources["text"] = sources.pop("text_ids")
            order = {m: sources[m] for m in ("text", "audio", "video")}
            ds = PreparedDataset(order, ds._label, ds._score, ds._strings, ds.names, meta=ds.meta)
        else:
            ds = ds.select_modalities(("text", "audio", "video"))
    if options:
        raise ValueError(f"Unknown option(s) for {name}: {sorted(options)}.")
    return ds


def synthetic_splits(name: str, n: int = 8, seed: int = 0, words: int = 6) -> dict:
    """Random data of ``name``'s real per-sample shapes (``n`` samples per split), for smoke
    runs: labels drawn uniformly over the real classes, text strings of ``words`` random words
    (enough words fill a tokenizer's maximum length, as long captions and plots do)."""
    if name == "benchmark":
        from .benchmark import make_benchmark

        return make_benchmark(n, n, n, seed=seed)
    spec = info(name)
    g = torch.Generator().manual_seed(seed)
    if not isinstance(words, int) or words < 1:
        raise ValueError(f"words must be an integer >= 1 (words per synthetic text), got {words!r}.")
    vocabulary = ("good", "bad", "movie", "food", "music", "okay", "great", "sad")
    out = {}
    for k, split in enumerate(SPLITS):
        inputs, strings = {}, {}
        for m, shape in spec.modalities.items():
            if spec.dtypes.get(m) == "int64":
                inputs[m] = torch.randint(1, 256, (n, *shape), generator=g)
            else:
                inputs[m] = torch.randn((n, *shape), generator=g)
            if m == "text":
                pick = torch.randint(0, len(vocabulary), (n, words), generator=g)
                strings[m] = [" ".join(vocabulary[i] for i in row) for row in pick.tolist()]
        if spec.task == "multilabel":
            label = (torch.rand((n, spec.n_classes), generator=g) < 0.3).float()
        else:
            label = torch.randint(0, spec.n_classes, (n,), generator=g)
        score = (torch.rand(n, generator=g) * 6 - 3) if spec.task.startswith("regression") else None
        names = spec.class_names or tuple(f"class_{i}" for i in range(spec.n_classes))
        meta = {"dataset": name, "split": split, "synthetic": True, "class_names": list(names), "task": spec.task}
        out[split] = MultimodalDataset(inputs, label, score, strings=strings, meta=meta)
    return out


__all__ = ["load_splits", "synthetic_splits", "data_root", "DATASETS"]
