"""Kinetics-Sounds: the 31 Kinetics-400 classes of Arandjelovic & Zisserman (2017). There is no
official archive: you fetch the clips yourself. Expected layout (the one OGM-GE/MLA-style lists
use): ``train.csv`` and ``test.csv`` with rows ``<clip>,<class name>`` and ``videos/<clip>.mp4``
(audio track included). 14,739 / 2,594 clips in CMPT; validation is carved from training."""
from __future__ import annotations

import logging
import csv
from pathlib import Path

from ..prepared import PreparedWriter
from ..registry import info
from .clips import split_train_val, write_clips
from .common import PrepareError, console, parser, paths, require

log = logging.getLogger(__name__)

NAME = "kinetics_sounds"


def _rows(path: Path) -> list:
    with open(path, newline="") as handle:
        rows = [r for r in csv.reader(handle) if r]
    for k, r in enumerate(rows, start=1):
        if len(r) != 2:
            raise PrepareError(f"{path.name} line {k}: expected <clip>,<class name>, got {r}.")
    return rows


def prepare(root=None, source=None, val_fraction: float = 0.1, seed: int = 0, stored_frames: int = 10) -> Path:
    spec = info(NAME)
    src, out = paths(spec, root, source)
    lists = {s: _rows(require(src / f"{s}.csv", spec, f"{s}.csv")) for s in ("train", "test")}
    classes = sorted({c for _, c in lists["train"]})
    if len(classes) > spec.n_classes:
        raise PrepareError(f"train.csv names {len(classes)} classes; Kinetics-Sounds has {spec.n_classes}.")
    items = {}
    for split, rows in lists.items():
        items[split] = []
        for clip, cls in rows:
            if cls not in classes:
                raise PrepareError(f"{split}.csv: class {cls!r} of clip {clip} never occurs in train.csv.")
            video = require(src / "videos" / f"{clip}.mp4", spec, f"videos/{clip}.mp4")
            items[split].append({"id": clip, "label": classes.index(cls), "audio": video, "video": video})
    train, val = split_train_val(items["train"], val_fraction, seed)
    writer = PreparedWriter(out, spec, classes, {"train.csv": len(train) + len(val), "test.csv": len(items["test"])},
                            {"val_fraction": val_fraction, "seed": seed, "stored_frames": stored_frames})
    for split, part in (("train", train), ("val", val), ("test", items["test"])):
        write_clips(writer, split, part, len(classes), audio=True, video=True, stored_frames=stored_frames)
    writer.finish(["audio", "video"])
    return out


def main(argv=None) -> None:
    p = parser(info(NAME), __doc__.split("\n")[0])
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stored-frames", type=int, default=10)
    a = p.parse_args(argv)
    with console():
        log.info("prepared %s", prepare(a.root, a.source, a.val_fraction, a.seed, a.stored_frames))
