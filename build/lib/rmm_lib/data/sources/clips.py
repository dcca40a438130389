"""Shared by the audio-video and text-video datasets: stream fbank and frames into the prepared
arrays one clip at a time (a 20 GB split never sits in memory)."""
from __future__ import annotations

import numpy as np

from ..media import MAX_FRAMES, MEL_BINS, fbank, read_audio, read_frames
from ..prepared import PreparedWriter
from ..registry import FRAME
from .common import check_labels, text_bytes

STORED_FRAMES = 10  # kept per clip (1 per second of a 10 s clip); the loader draws 3 of them


def split_train_val(items: list, val_fraction: float, seed: int) -> tuple:
    """A seeded, class-stratified validation carve-out of ``items`` (for releases without one)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction}.")
    rng = np.random.default_rng(seed)
    labels = np.array([it["label"] for it in items])
    val = set()
    for c in np.unique(labels):
        idx = np.nonzero(labels == c)[0]
        k = int(round(len(idx) * val_fraction))
        val.update(rng.choice(idx, k, replace=False).tolist())
    return [it for i, it in enumerate(items) if i not in val], [it for i, it in enumerate(items) if i in val]


def write_clips(writer: PreparedWriter, split: str, items: list, n_classes: int, *, audio: bool, video: bool,
                stored_frames: int = STORED_FRAMES, extra=None) -> None:
    """Each item: ``{"id", "label", "audio" (path), "video" (path), "text" (str), "score"}``."""
    n = len(items)
    label = check_labels([it["label"] for it in items], n_classes, f"{split} labels").astype(np.int64)
    arrays, kinds = {}, {}
    fb = writer.open_array(split, "audio", (n, MAX_FRAMES, MEL_BINS), np.float16) if audio else None
    fr = writer.open_array(split, "video", (n, stored_frames, *FRAME), np.uint8) if video else None
    for i, it in enumerate(items):
        if audio:
            fb[i] = fbank(read_audio(it["audio"]))
        if video:
            fr[i] = read_frames(it["video"], stored_frames, FRAME[-1])
    strings = None
    if "text" in items[0] if items else False:
        texts = [it["text"] for it in items]
        strings = {"text": texts}
        arrays["text"] = text_bytes(texts, 256)
    if audio:
        fb.flush()
        arrays["audio"] = None
    if video:
        fr.flush()
        arrays["video"], kinds["video"] = None, "frames"
    score = np.array([it["score"] for it in items], np.float32) if items and "score" in items[0] else None
    writer.add_split(split, label=label, ids=[it["id"] for it in items], score=score, strings=strings,
                     arrays=arrays, kinds=kinds)
    for name, values in (extra or {}).items():
        np.save(writer.split_dir(split) / f"{name}.npy", np.asarray(values))
