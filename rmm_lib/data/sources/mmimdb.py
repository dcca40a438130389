"""MM-IMDb (Arevalo et al. 2017) as released in ``mmimdb.tar.gz``: ``split.json``
(``{"train", "dev", "test"}`` lists of ids) and ``dataset/<id>.jpeg`` + ``dataset/<id>.json``
(``"plot"``: list of plot outlines, ``"genres"``: list of genre names). 23 genres, multi-hot
float targets (N, 23); 15,552 / 2,608 / 7,799 samples. Genres the paper's 23 leave out
(Adult, News, Reality-TV, Talk-Show, Game-Show) are dropped; any other unknown genre is an error.
Text = the first plot outline (``--plot all`` joins them; the papers do not say)."""
from __future__ import annotations

import logging
import json
from pathlib import Path

import numpy as np

from ..prepared import PreparedWriter
from ..registry import MMIMDB_GENRES, TEXT_BYTES, info
from .common import PrepareError, console, parser, paths, require, text_bytes

log = logging.getLogger(__name__)
from .food101 import _check_image

NAME = "mmimdb"
SPLITS = {"train": "train", "dev": "val", "test": "test"}
EXCLUDED = {"Adult", "News", "Reality-TV", "Talk-Show", "Game-Show"}


def prepare(root=None, source=None, plot: str = "first", check_images: bool = True) -> Path:
    if plot not in {"first", "all"}:
        raise ValueError("plot must be 'first' or 'all'.")
    spec = info(NAME)
    src, out = paths(spec, root, source)
    if (src / "mmimdb").is_dir():
        src = src / "mmimdb"
    try:
        split = json.loads(require(src / "split.json", spec, "split.json").read_text())
    except json.JSONDecodeError as err:
        raise PrepareError(f"split.json is truncated or corrupted ({err}).") from err
    if set(split) != set(SPLITS):
        raise PrepareError(f"split.json: expected the keys {sorted(SPLITS)}, found {sorted(split)}.")
    writer = PreparedWriter(out, spec, MMIMDB_GENRES, {"split.json": {k: len(v) for k, v in split.items()}}, {"plot": plot})
    for raw, name in SPLITS.items():
        texts, labels, images = [], [], []
        for sample in split[raw]:
            meta_path = require(src / "dataset" / f"{sample}.json", spec, f"dataset/{sample}.json")
            image = require(src / "dataset" / f"{sample}.jpeg", spec, f"dataset/{sample}.jpeg")
            try:
                record = json.loads(meta_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError as err:
                raise PrepareError(f"dataset/{sample}.json is truncated or corrupted ({err}).") from err
            if "plot" not in record or "genres" not in record:
                raise PrepareError(f"dataset/{sample}.json lacks 'plot' or 'genres' (keys: {sorted(record)[:8]}).")
            unknown = [g for g in record["genres"] if g not in MMIMDB_GENRES and g not in EXCLUDED]
            if unknown:
                raise PrepareError(f"dataset/{sample}.json: genre(s) {unknown} are not among the 23 MM-IMDb genres.")
            plots = record["plot"] if isinstance(record["plot"], list) else [record["plot"]]
            texts.append(plots[0] if plot == "first" else " ".join(plots))
            labels.append([float(g in record["genres"]) for g in MMIMDB_GENRES])
            if check_images:
                _check_image(image)
            images.append(str(image.resolve()))
        writer.add_split(name, label=np.array(labels, np.float32).reshape(-1, len(MMIMDB_GENRES)), ids=split[raw],
                         strings={"text": texts}, arrays={"text": text_bytes(texts, TEXT_BYTES)}, image_paths={"image": images})
    writer.finish(["image", "text"])
    return out


def main(argv=None) -> None:
    p = parser(info(NAME), __doc__.split("\n")[0])
    p.add_argument("--plot", choices=("first", "all"), default="first")
    p.add_argument("--no-check-images", action="store_true")
    a = p.parse_args(argv)
    with console():
        log.info("prepared %s", prepare(a.root, a.source, a.plot, not a.no_check_images))
