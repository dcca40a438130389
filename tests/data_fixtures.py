"""Tiny files in exactly the released formats (names, keys, dtypes, folders), written by tests."""
from __future__ import annotations

import csv
import json
import pickle
from fractions import Fraction
from pathlib import Path

import numpy as np


def write_wav(path, seconds=0.4, rate=16000, freq=440.0):
    from scipy.io import wavfile

    t = np.arange(int(seconds * rate)) / rate
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, rate, (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype(np.int16))


def write_video(path, n_frames=6, size=(32, 24), audio=False, fmt=None, codec="mpeg4", seed=0):
    """A short clip (frame k is filled with the value 20*k, so sampled indices are visible)."""
    import av

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format=fmt) as out:
        v = out.add_stream(codec, rate=6)
        v.width, v.height, v.pix_fmt = size[0], size[1], "yuv420p"
        a = out.add_stream("aac", rate=16000) if audio else None
        for k in range(n_frames):
            img = np.full((size[1], size[0], 3), 20 * k, dtype=np.uint8)
            for packet in v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in v.encode():
            out.mux(packet)
        if a is not None:
            t = np.arange(16000) / 16000
            wave = (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
            frame.sample_rate = 16000
            frame.time_base = Fraction(1, 16000)
            frame.pts = 0
            for packet in a.encode(frame):
                out.mux(packet)
            for packet in a.encode():
                out.mux(packet)


def write_jpeg(path, size=(40, 30), value=100):
    from PIL import Image

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, dtype=np.uint8)).save(path, "JPEG")


def mmsa_data(name="mosi", n=(6, 3, 4), length=50, seed=0):
    """The dict MMSA pickles: float32 arrays, text_bert (N, 3, L) ids/mask/segments, numpy str arrays."""
    dims = {"mosi": (768, 5, 20), "mosei": (768, 74, 35)}[name]
    rng = np.random.default_rng(seed)
    data = {}
    for split, k in zip(("train", "valid", "test"), n):
        reg = rng.choice(np.arange(-3, 3.01, 0.2), k).astype(np.float32)
        data[split] = {
            "raw_text": np.array([f"{split} utterance number {i}" for i in range(k)]),
            "audio": rng.normal(size=(k, length, dims[1])).astype(np.float32),
            "vision": rng.normal(size=(k, length, dims[2])).astype(np.float32),
            "id": np.array([f"vid{i}$_${i}" for i in range(k)]),
            "text": rng.normal(size=(k, length, dims[0])).astype(np.float32),
            "text_bert": np.stack([rng.integers(100, 2000, (k, length)), np.ones((k, length)), np.zeros((k, length))], 1).astype(np.float32),
            "audio_lengths": [length] * k,
            "vision_lengths": [length] * k,
            "classification_labels": (np.sign(reg) + 1).astype(np.float32),
            "regression_labels": reg,
        }
    return data


def write_mmsa(path, data):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(data, handle, protocol=4)


def write_csv(path, rows, header=None):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle)
        if header:
            w.writerow(header)
        w.writerows(rows)


def write_json(path, obj):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj))


# MVSA label patterns: (annotator pairs (text, image), the post label the rule gives, None = dropped)
MVSA_SINGLE = (
    ((("positive", "positive"),), "positive"),
    ((("neutral", "positive"),), "positive"),
    ((("positive", "negative"),), None),  # opposite polarities
    ((("negative", "neutral"),), "negative"),
    ((("neutral", "neutral"),), "neutral"),
    ((("negative", "negative"),), "negative"),
)
MVSA_MULTIPLE = (
    ((("positive", "positive"), ("positive", "neutral"), ("negative", "positive")), "positive"),
    ((("neutral", "positive"), ("neutral", "positive"), ("positive", "negative")), "positive"),
    ((("positive", "negative"), ("positive", "negative"), ("neutral", "neutral")), None),  # opposite polarities
    ((("positive", "negative"), ("neutral", "positive"), ("negative", "neutral")), None),  # no text majority
    ((("negative", "neutral"), ("negative", "neutral"), ("negative", "negative")), "negative"),
    ((("neutral", "neutral"), ("neutral", "neutral"), ("neutral", "neutral")), "neutral"),
)


def mvsa_text(post: int) -> bytes:
    """The bytes of post ``post``'s ``<id>.txt``: UTF-8, but every fourth one carries cp1252 bytes
    (a stray e-acute and Windows quotes, as some copies of the release do)."""
    if post % 4 == 0:
        return f"post {post} caf".encode() + b"\xe9 \x93quoted\x94\r\n"
    return f"post {post} \u2764 #mvsa\n".encode("utf-8")


def write_mvsa(root, n=12, variant="single"):
    """A tiny MVSA release under ``root``: ``data/<id>.jpg`` + ``data/<id>.txt`` for posts 1..n and
    ``labelResultAll.txt`` (one ``text,image`` column for MVSA-Single, three for -Multiple), labels
    cycling through :data:`MVSA_SINGLE` / :data:`MVSA_MULTIPLE`. Returns ``{id: expected label or None}``."""
    patterns = {"single": MVSA_SINGLE, "multiple": MVSA_MULTIPLE}[variant]
    root = Path(root)
    (root / "data").mkdir(parents=True, exist_ok=True)
    k = len(patterns[0][0])
    lines, expected = ["ID" + "\ttext,image" * k], {}
    for post in range(1, n + 1):
        votes, label = patterns[(post - 1) % len(patterns)]
        write_jpeg(root / "data" / f"{post}.jpg", value=(20 * post) % 250)
        (root / "data" / f"{post}.txt").write_bytes(mvsa_text(post))
        lines.append(str(post) + "".join(f"\t{t},{i}" for t, i in votes))
        expected[str(post)] = label
    (root / "labelResultAll.txt").write_text("\n".join(lines) + "\n")
    return expected
