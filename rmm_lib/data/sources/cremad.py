"""CREMA-D as released (github.com/CheyneyComputerScience/CREMA-D): ``AudioWAV/<clip>.wav`` and
``VideoFlash/<clip>.flv``, clip names ``<actor>_<sentence>_<EMOTION>_<level>`` (e.g.
``1001_DFA_ANG_XX``). The release has no split: pass the train/test lists you use
(``--split-dir`` holding ``train.csv`` / ``test.csv`` with rows ``<clip>,<EMOTION>``, the layout
of OGM-GE's lists: 6,698 / 744 clips in CMPT), or a seeded stratified 90/10 split is drawn.
Validation is carved from training (``--val-fraction``, our choice: the papers name none)."""
from __future__ import annotations

import logging
import csv
from pathlib import Path

import numpy as np

from ..prepared import PreparedWriter
from ..registry import CREMAD_EMOTIONS, info
from .clips import split_train_val, write_clips
from .common import PrepareError, console, parser, paths, require

log = logging.getLogger(__name__)

NAME = "cremad"


def _read_list(path: Path) -> list:
    with open(path, newline="") as handle:
        return [row for row in csv.reader(handle) if row]


def prepare(root=None, source=None, split_dir=None, val_fraction: float = 0.1, seed: int = 0,
            stored_frames: int = 10) -> Path:
    spec = info(NAME)
    src, out = paths(spec, root, source)
    require(src / "AudioWAV", spec, "the AudioWAV folder")
    require(src / "VideoFlash", spec, "the VideoFlash folder")
    clips = sorted(p.stem for p in (src / "AudioWAV").glob("*.wav"))
    if not clips:
        raise FileNotFoundError(f"{src / 'AudioWAV'} holds no .wav file. Download: {spec.files}")
    items = []
    for clip in clips:
        parts = clip.split("_")
        if len(parts) != 4 or parts[2] not in CREMAD_EMOTIONS:
            raise PrepareError(f"AudioWAV/{clip}.wav: expected <actor>_<sentence>_<EMOTION>_<level> with EMOTION in {CREMAD_EMOTIONS}.")
        video = require(src / "VideoFlash" / f"{clip}.flv", spec, f"VideoFlash/{clip}.flv")
        items.append({"id": clip, "label": CREMAD_EMOTIONS.index(parts[2]), "audio": src / "AudioWAV" / f"{clip}.wav", "video": video})
    by_id = {it["id"]: it for it in items}
    if split_dir:
        splits = {}
        for split in ("train", "test"):
            rows = _read_list(require(Path(split_dir) / f"{split}.csv", spec, f"{split}.csv (split list)"))
            unknown = [r[0] for r in rows if r[0] not in by_id]
            if unknown:
                raise PrepareError(f"{split}.csv names {len(unknown)} clip(s) absent from AudioWAV (first: {unknown[:3]}).")
            splits[split] = [by_id[r[0]] for r in rows]
    else:
        rest, test = split_train_val(items, 0.1, seed + 1)
        splits = {"train": rest, "test": test}
    train, val = split_train_val(splits["train"], val_fraction, seed)
    writer = PreparedWriter(out, spec, CREMAD_EMOTIONS, {"clips": len(items)},
                            {"split_dir": str(split_dir) if split_dir else None, "val_fraction": val_fraction, "seed": seed,
                             "stored_frames": stored_frames})
    for split, part in (("train", train), ("val", val), ("test", splits["test"])):
        write_clips(writer, split, part, len(CREMAD_EMOTIONS), audio=True, video=True, stored_frames=stored_frames)
    writer.finish(["audio", "video"])
    return out


def main(argv=None) -> None:
    p = parser(info(NAME), __doc__.split("\n")[0])
    p.add_argument("--split-dir", default=None)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--stored-frames", type=int, default=10)
    a = p.parse_args(argv)
    with console():
        log.info("prepared %s", prepare(a.root, a.source, a.split_dir, a.val_fraction, a.seed, a.stored_frames))
