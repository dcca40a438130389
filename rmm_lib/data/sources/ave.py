"""AVE (Audio-Visual Event, github.com/YapengTian/AVE-ECCV18) as released in ``AVE_Dataset``:
``Annotations.txt``, ``trainSet.txt``, ``valSet.txt``, ``testSet.txt`` (a header line, then
rows ``Category&VideoID&Quality&StartTime&EndTime``) and the videos ``AVE/<VideoID>.mp4`` (audio track
included). 28 categories, 3,339 / 402 / 402 clips."""
from __future__ import annotations

import logging
from pathlib import Path

from ..prepared import PreparedWriter
from ..registry import info
from .clips import write_clips
from .common import PrepareError, console, parser, paths, require

log = logging.getLogger(__name__)

NAME = "ave"
FILES = {"train": "trainSet.txt", "val": "valSet.txt", "test": "testSet.txt"}


def read_annotations(path: Path) -> list:
    rows = []
    for k, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip() or line.startswith("Category&"):  # the header line, when the file has one
            continue
        parts = line.split("&")
        if len(parts) != 5:
            raise PrepareError(f"{path.name} line {k}: expected Category&VideoID&Quality&StartTime&EndTime, got {line!r}.")
        rows.append((parts[0], parts[1]))
    return rows


def prepare(root=None, source=None, stored_frames: int = 10) -> Path:
    spec = info(NAME)
    src, out = paths(spec, root, source)
    if (src / "AVE_Dataset").is_dir():
        src = src / "AVE_Dataset"
    classes = []
    for cat, _ in read_annotations(require(src / "Annotations.txt", spec, "Annotations.txt")):
        if cat not in classes:
            classes.append(cat)
    if len(classes) != spec.n_classes:
        raise PrepareError(f"Annotations.txt names {len(classes)} categories; AVE has {spec.n_classes}.")
    writer = PreparedWriter(out, spec, classes, {"annotations": "Annotations.txt"}, {"stored_frames": stored_frames})
    for split, fname in FILES.items():
        items = []
        for cat, vid in read_annotations(require(src / fname, spec, fname)):
            if cat not in classes:
                raise PrepareError(f"{fname}: category {cat!r} is not in Annotations.txt.")
            video = require(src / "AVE" / f"{vid}.mp4", spec, f"AVE/{vid}.mp4")
            items.append({"id": vid, "label": classes.index(cat), "audio": video, "video": video})
        write_clips(writer, split, items, len(classes), audio=True, video=True, stored_frames=stored_frames)
    writer.finish(["audio", "video"])
    return out


def main(argv=None) -> None:
    p = parser(info(NAME), __doc__.split("\n")[0])
    p.add_argument("--stored-frames", type=int, default=10)
    a = p.parse_args(argv)
    with console():
        log.info("prepared %s", prepare(a.root, a.source, a.stored_frames))
