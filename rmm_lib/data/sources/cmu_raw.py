"""CMU-MOSI / CMU-MOSEI raw text + video frames (TRML's input), from MMSA's ``Raw`` release:
``label.csv`` (columns ``video_id, clip_id, text, label, ..., mode`` with mode in
train/valid/test) and ``Raw/<video_id>/<clip_id>.mp4``. CMU no longer distributes the raw
videos; this works when you already hold a copy. score = ``label`` in [-3, 3]; class = its sign
(negative / neutral / positive)."""
from __future__ import annotations

import logging
import csv
from pathlib import Path

import numpy as np

from ..prepared import PreparedWriter
from ..registry import MMSA_LABELS, info
from .clips import write_clips
from .common import PrepareError, console, parser, paths, require

log = logging.getLogger(__name__)

MODES = {"train": "train", "valid": "val", "test": "test"}
COLUMNS = ("video_id", "clip_id", "text", "label", "mode")


def prepare(name: str, root=None, source=None, stored_frames: int = 8) -> Path:
    if name not in {"mosi_raw", "mosei_raw"}:
        raise ValueError(f"cmu_raw prepares 'mosi_raw' or 'mosei_raw', not {name!r}.")
    spec = info(name)
    src, out = paths(spec, root, source)
    with open(require(src / "label.csv", spec, "label.csv"), newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    missing = [c for c in COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise PrepareError(f"label.csv: expected the columns {COLUMNS}; missing {missing or 'every row'}.")
    items = {s: [] for s in MODES.values()}
    for k, r in enumerate(rows, start=2):
        if r["mode"] not in MODES:
            raise PrepareError(f"label.csv line {k}: mode {r['mode']!r} is not one of {sorted(MODES)}.")
        try:
            score = float(r["label"])
        except ValueError as err:
            raise PrepareError(f"label.csv line {k}: label {r['label']!r} is not a number.") from err
        if not -3 <= score <= 3:
            raise PrepareError(f"label.csv line {k}: label {score} leaves [-3, 3].")
        video = require(src / "Raw" / r["video_id"] / f"{r['clip_id']}.mp4", spec, f"Raw/{r['video_id']}/{r['clip_id']}.mp4")
        items[MODES[r["mode"]]].append({"id": f"{r['video_id']}${r['clip_id']}", "label": int(np.sign(score)) + 1,
                                         "score": score, "text": r["text"], "video": video})
    writer = PreparedWriter(out, spec, MMSA_LABELS, {"label.csv": len(rows)}, {"stored_frames": stored_frames})
    for split, part in items.items():
        write_clips(writer, split, part, 3, audio=False, video=True, stored_frames=stored_frames)
    writer.finish(["text", "video"])
    return out


def main(argv=None, name: str | None = None) -> None:
    p = parser(info(name or "mosi_raw"), __doc__.split("\n")[0])
    p.add_argument("--dataset", choices=("mosi_raw", "mosei_raw"), default=name or "mosi_raw")
    p.add_argument("--stored-frames", type=int, default=8)
    a = p.parse_args(argv)
    with console():
        log.info("prepared %s", prepare(a.dataset, a.root, a.source, a.stored_frames))
