"""Checks shared by the preparation scripts: clear errors naming what to download and where."""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path

import numpy as np

from ..real import data_root
from ..registry import DatasetInfo


log = logging.getLogger(__name__)


@contextlib.contextmanager
def console():
    """While a preparation script runs: its reports (``logging``, INFO and up, from ``rmm_lib``) on
    standard output. Called from Python, ``prepare`` only logs: warnings reach stderr, the rest is
    shown once logging is configured."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("rmm_lib")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class PrepareError(ValueError):
    """A released file is not what the preparation script expects."""


def require(path, info: DatasetInfo, what: str) -> Path:
    """``path`` if it exists, else a FileNotFoundError saying what to download and where it goes."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{info.title}: {what} not found at {path}.\n"
            f"Download: {info.files}\nSource: {info.source}\nLicence: {info.licence}"
        )
    return path


def check_labels(values, n_classes: int, where: str) -> np.ndarray:
    values = np.asarray(values)
    if values.size and (values.min() < 0 or values.max() >= n_classes):
        raise PrepareError(f"{where}: labels must lie in [0, {n_classes - 1}], found {values.min()}..{values.max()}.")
    return values


def check_finite(array: np.ndarray, where: str, policy: str = "error") -> np.ndarray:
    """Refuse NaN/inf (default) or, with ``policy='zero'``, replace them and say how many."""
    bad = ~np.isfinite(array)
    if bad.any():
        rows = np.unique(np.nonzero(bad.reshape(bad.shape[0], -1))[0])
        if policy != "zero":
            raise PrepareError(
                f"{where} has NaN/inf in {len(rows)} sample(s) (first {rows[:5].tolist()}). "
                "Pass --nonfinite zero to replace them with 0 (recorded in the manifest)."
            )
        log.warning("%s: replaced NaN/inf with 0 in %d sample(s)", where, len(rows))
        array = np.where(bad, 0, array).astype(array.dtype)
    return array


def text_bytes(strings, length: int) -> np.ndarray:
    """UTF-8 bytes + 1 (0 = padding), truncated to ``length``: a lossless, tokenizer-free id row
    kept beside the raw strings (methods tokenize the strings with their own tokenizer)."""
    out = np.zeros((len(strings), length), dtype=np.int64)
    for i, s in enumerate(strings):
        b = np.frombuffer(s.encode("utf-8")[:length], dtype=np.uint8)
        out[i, : len(b)] = b.astype(np.int64) + 1
    return out


def strings_from_text_bytes(ids) -> list:
    """The inverse of :func:`text_bytes` for rows of ids (a tensor or an array): the strings again
    (truncated where the loader truncated them; a multi-byte character cut at the end is dropped)."""
    rows = np.asarray(ids.cpu() if hasattr(ids, "cpu") else ids, dtype=np.int64)
    if rows.ndim != 2 or rows.min(initial=0) < 0 or rows.max(initial=0) > 256:
        raise ValueError(f"Expected (N, L) UTF-8 byte ids in [0, 256] (text_bytes), got shape {rows.shape}.")
    return [bytes((row[row > 0] - 1).astype(np.uint8).tolist()).decode("utf-8", "ignore") for row in rows]


def parser(info: DatasetInfo, doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--root", default=None, help="data root (default: $RMM_DATA_ROOT or ~/rmm_data)")
    p.add_argument("--source", default=None, help=f"released files (default: <root>/{info.name}/raw)")
    return p


def paths(info: DatasetInfo, root=None, source=None) -> tuple:
    root = data_root(root)
    src = Path(source) if source else root / info.name / "raw"
    return src, root / info.name / "prepared"
