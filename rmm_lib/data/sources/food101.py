"""UPMC Food-101 (Wang et al. 2015) as released: ``images/{train,test}/<class>/<image>.jpg`` and
``texts/{train,test}_titles.csv`` (no header; rows ``<image>,<text>,<class>``). 101 classes,
67,988 / 22,716 pairs. The release has no validation split: ``--val-size`` pairs (5,000,
seeded, our choice) move from training to validation. Images stay in the release folders and
are decoded when a batch asks for them."""
from __future__ import annotations

import logging
import csv
from pathlib import Path

import numpy as np

from ..prepared import PreparedWriter
from ..registry import TEXT_BYTES, info
from .common import PrepareError, console, parser, paths, require, text_bytes

log = logging.getLogger(__name__)

NAME = "food101"


def _check_image(path: Path) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise PrepareError(f"{path}: not a readable image ({err}); the file is truncated or corrupted.") from err


def read_titles(path: Path, classes: list) -> list:
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        rows = [r for r in csv.reader(handle) if r]
    out = []
    for k, r in enumerate(rows, start=1):
        if len(r) != 3:
            raise PrepareError(f"{path.name} line {k}: expected <image>,<text>,<class>, got {len(r)} fields.")
        if r[2] not in classes:
            raise PrepareError(f"{path.name} line {k}: class {r[2]!r} has no folder under images/train.")
        out.append(r)
    return out


def prepare(root=None, source=None, val_size: int = 5000, seed: int = 0, check_images: bool = True) -> Path:
    spec = info(NAME)
    src, out = paths(spec, root, source)
    classes = sorted(p.name for p in require(src / "images" / "train", spec, "images/train").iterdir() if p.is_dir())
    if not classes:
        raise FileNotFoundError(f"{src / 'images' / 'train'} has no class folders. Download: {spec.files}")
    data = {}
    for split in ("train", "test"):
        rows = read_titles(require(src / "texts" / f"{split}_titles.csv", spec, f"texts/{split}_titles.csv"), classes)
        images = [src / "images" / split / cls / img for img, _, cls in rows]
        for img in images:
            require(img, spec, str(img.relative_to(src)))
            if check_images:
                _check_image(img)
        data[split] = (rows, images)
    rows, images = data["train"]
    if not 0 < val_size < len(rows):
        raise ValueError(f"val_size must lie in (0, {len(rows)}), got {val_size}.")
    perm = np.random.default_rng(seed).permutation(len(rows))
    parts = {"train": np.sort(perm[val_size:]), "val": np.sort(perm[:val_size]), "test": None}
    writer = PreparedWriter(out, spec, classes, {"train_titles.csv": len(rows), "test_titles.csv": len(data["test"][0])},
                            {"val_size": val_size, "seed": seed})
    for split, idx in parts.items():
        r, im = data["test"] if split == "test" else data["train"]
        idx = np.arange(len(r)) if idx is None else idx
        texts = [r[i][1] for i in idx]
        writer.add_split(split, label=np.array([classes.index(r[i][2]) for i in idx], np.int64), ids=[r[i][0] for i in idx],
                         strings={"text": texts}, arrays={"text": text_bytes(texts, TEXT_BYTES)},
                         image_paths={"image": [str(im[i].resolve()) for i in idx]})
    writer.finish(["image", "text"])
    return out


def main(argv=None) -> None:
    p = parser(info(NAME), __doc__.split("\n")[0])
    p.add_argument("--val-size", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-check-images", action="store_true", help="skip opening every image (faster)")
    a = p.parse_args(argv)
    with console():
        log.info("prepared %s", prepare(a.root, a.source, a.val_size, a.seed, not a.no_check_images))
