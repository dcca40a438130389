"""MELD (affective-meld.github.io) as released in ``MELD.Raw``: ``train_sent_emo.csv``,
``dev_sent_emo.csv``, ``test_sent_emo.csv`` (columns ``Sr No., Utterance, Speaker, Emotion,
Sentiment, Dialogue_ID, Utterance_ID, ...``) and the clips ``train_splits/``,
``dev_splits_complete/``, ``output_repeated_splits_test/`` named ``dia<D>_utt<U>.mp4``.
Labels: 7 emotions (``label.npy``) and 3 sentiments (``sentiment.npy``). A few released clips
are missing (e.g. train dia125_utt3): ``--missing-video skip`` drops those utterances and says so."""
from __future__ import annotations

import logging
import csv
from pathlib import Path

from ..prepared import PreparedWriter
from ..registry import MELD_EMOTIONS, MELD_SENTIMENTS, info
from .clips import write_clips
from .common import PrepareError, console, parser, paths, require

log = logging.getLogger(__name__)

NAME = "meld"
SPLITS = {"train": ("train_sent_emo.csv", "train_splits"), "val": ("dev_sent_emo.csv", "dev_splits_complete"),
          "test": ("test_sent_emo.csv", "output_repeated_splits_test")}
COLUMNS = ("Utterance", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID")


def read_csv(path: Path) -> list:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")  # some releases carry Windows quotes
    rows = list(csv.DictReader(text.splitlines()))
    missing = [c for c in COLUMNS if rows and c not in rows[0]]
    if not rows or missing:
        raise PrepareError(f"{path.name}: expected the columns {COLUMNS}; missing {missing or 'every row'}.")
    return rows


def prepare(root=None, source=None, missing_video: str = "error", stored_frames: int = 8) -> Path:
    spec = info(NAME)
    src, out = paths(spec, root, source)
    if (src / "MELD.Raw").is_dir():
        src = src / "MELD.Raw"
    writer = PreparedWriter(out, spec, MELD_EMOTIONS, {}, {"missing_video": missing_video, "stored_frames": stored_frames})
    for split, (csv_name, folder) in SPLITS.items():
        rows = read_csv(require(src / csv_name, spec, csv_name))
        require(src / folder, spec, f"the {folder}/ folder")
        items, skipped = [], []
        for k, r in enumerate(rows, start=2):
            emotion, sentiment = r["Emotion"].strip().lower(), r["Sentiment"].strip().lower()
            if emotion not in MELD_EMOTIONS or sentiment not in MELD_SENTIMENTS:
                raise PrepareError(f"{csv_name} line {k}: emotion {emotion!r} / sentiment {sentiment!r} outside {MELD_EMOTIONS} / {MELD_SENTIMENTS}.")
            clip = f"dia{int(r['Dialogue_ID'])}_utt{int(r['Utterance_ID'])}"
            video = src / folder / f"{clip}.mp4"
            if not video.exists():
                if missing_video != "skip":
                    raise FileNotFoundError(f"{folder}/{clip}.mp4 is missing (row {k} of {csv_name}). Re-extract MELD.Raw.tar.gz, "
                                            "or pass --missing-video skip to drop utterances without a clip.")
                skipped.append(clip)
                continue
            items.append({"id": clip, "label": MELD_EMOTIONS.index(emotion), "sentiment": MELD_SENTIMENTS.index(sentiment),
                          "text": r["Utterance"], "video": video})
        if skipped:
            log.warning("%s: skipped %d utterance(s) without a clip: %s", split, len(skipped), skipped[:5])
        writer.manifest["source_files"][csv_name] = len(rows)
        write_clips(writer, split, items, len(MELD_EMOTIONS), audio=False, video=True, stored_frames=stored_frames,
                    extra={"sentiment": [it["sentiment"] for it in items]})
    writer.finish(["text", "video"])
    return out


def main(argv=None) -> None:
    p = parser(info(NAME), __doc__.split("\n")[0])
    p.add_argument("--missing-video", choices=("error", "skip"), default="error")
    p.add_argument("--stored-frames", type=int, default=8)
    a = p.parse_args(argv)
    with console():
        log.info("prepared %s", prepare(a.root, a.source, a.missing_video, a.stored_frames))
