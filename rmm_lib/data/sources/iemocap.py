"""IEMOCAP features you provide. IEMOCAP is licensed by USC SAIL: request it from its owners
(https://sail.usc.edu/iemocap/); rmm never downloads or redistributes it. MLA (appendix A.3.2)
trains on extracted features: wav2vec audio (512-d), MANet visual (1024-d), BERT text (1024-d).
Put your features in ``<root>/iemocap/raw/``: ``train.npz``, ``val.npz``, ``test.npz`` (keys
``audio`` (N, 512), ``image`` (N, 1024), ``text`` (N, 1024) float, ``label`` (N,) int, optional
``ids``) and ``classes.txt`` (one class name per line, in label order). The files are read with
``allow_pickle=False``: no code in them can run."""
from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np

from ..prepared import PreparedWriter, sha256_file
from ..registry import info
from .common import PrepareError, check_finite, check_labels, console, parser, paths, require

log = logging.getLogger(__name__)

NAME = "iemocap"
SPLITS = ("train", "val", "test")


def prepare(root=None, source=None) -> Path:
    spec = info(NAME)
    src, out = paths(spec, root, source)
    classes = [c.strip() for c in require(src / "classes.txt", spec, "classes.txt").read_text().splitlines() if c.strip()]
    if len(classes) < 2:
        raise PrepareError("classes.txt must list at least two class names, one per line.")
    files = {s: require(src / f"{s}.npz", spec, f"{s}.npz") for s in SPLITS}
    writer = PreparedWriter(out, spec, classes, {f.name: sha256_file(f) for f in files.values()})
    for split, path in files.items():
        try:
            data = dict(np.load(path, allow_pickle=False))
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise PrepareError(f"{path.name} is truncated, corrupted or holds pickled objects ({err}).") from err
        missing = [k for k in (*spec.modalities, "label") if k not in data]
        if missing:
            raise PrepareError(f"{path.name} lacks the keys {missing}; expected audio, image, text, label (ids optional).")
        n = len(data["label"])
        arrays = {}
        for m, shape in spec.modalities.items():
            a = np.asarray(data[m])
            if a.shape != (n, *shape):
                raise PrepareError(f"{path.name}[{m!r}] has shape {a.shape}; expected ({n}, {shape[0]}) (MLA A.3.2).")
            arrays[m] = check_finite(a.astype(np.float32), f"{path.name}[{m!r}]")
        label = check_labels(np.asarray(data["label"]).astype(np.int64), len(classes), f"{path.name}['label']")
        ids = [str(i) for i in data["ids"]] if "ids" in data else [f"{split}_{i}" for i in range(n)]
        writer.add_split(split, label=label, ids=ids, arrays=arrays)
    writer.finish(list(spec.modalities))
    return out


def main(argv=None) -> None:
    p = parser(info(NAME), __doc__.split("\n")[0])
    a = p.parse_args(argv)
    with console():
        log.info("prepared %s", prepare(a.root, a.source))
