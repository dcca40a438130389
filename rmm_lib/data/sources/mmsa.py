"""CMU-MOSI / CMU-MOSEI from MMSA's feature pickles (``aligned_50.pkl``, ``unaligned_50.pkl``).

**Pickle risk.** A pickle can run arbitrary code when it is loaded. These files come from a
third party (MMSA's Baidu/Google Drive links), so this module (1) checks the file's sha256
*before* unpickling -- against ``--sha256`` (the checksum you recorded or were given), or it
stops unless you pass ``--trust-unverified`` -- and (2) unpickles with an allow-list that only
rebuilds numpy arrays, dtypes and plain containers; any other class in the file is refused.

Structure (FACTS.md): ``{"train", "valid", "test"}`` each with ``raw_text``, ``audio``,
``vision``, ``id``, ``text`` (BERT features), ``text_bert`` (N x 3 x L: ids, mask, segment),
``audio_lengths``, ``vision_lengths``, ``classification_labels``, ``regression_labels``.
"""
from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np

from ..prepared import PreparedWriter, sha256_file
from ..registry import info
from .common import PrepareError, check_finite, check_labels, console, parser, paths, require

log = logging.getLogger(__name__)

SPLITS = {"train": "train", "valid": "val", "test": "test"}
KEYS = ("raw_text", "audio", "vision", "id", "text", "text_bert", "audio_lengths", "vision_lengths",
        "classification_labels", "regression_labels")
DIMS = {"mosi": {"text": 768, "audio": 5, "vision": 20}, "mosei": {"text": 768, "audio": 74, "vision": 35}}
FILES = {"aligned": "aligned_50.pkl", "unaligned": "unaligned_50.pkl"}

# What an MMSA pickle may rebuild: numpy arrays, scalars and dtypes. Nothing else is importable.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict"),
}


class UnsafePickleError(PrepareError):
    pass


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"The pickle asks to import {module}.{name}, which an MMSA feature file never needs; "
            "refusing to load it (it may be tampered with or not an MMSA file)."
        )


def load_pickle(path, sha256: str | None, trust_unverified: bool = False) -> tuple:
    """Verify ``path``'s checksum, then unpickle it with the numpy-only allow-list.
    Returns ``(data, sha256 of the file)``."""
    path = Path(path)
    digest = sha256_file(path)
    if sha256:
        if digest != sha256.lower():
            raise PrepareError(
                f"{path}: sha256 is {digest}, expected {sha256.lower()}. The download is incomplete or a "
                "different file; download it again. Nothing was unpickled."
            )
    elif not trust_unverified:
        raise PrepareError(
            f"{path} is a pickle (loading one can run code) and no --sha256 was given to check it against. "
            f"Its sha256 is {digest}. Compare it with the checksum you trust and pass --sha256 {digest}, "
            "or pass --trust-unverified to load it anyway (numpy-only allow-list still applies)."
        )
    with open(path, "rb") as handle:
        try:
            data = _ArraysOnlyUnpickler(handle).load()
        except UnsafePickleError:
            raise
        except (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError) as err:
            raise PrepareError(f"{path} is truncated or corrupted ({type(err).__name__}: {err}). Download it again.") from err
    return data, digest


def _check(name: str, data, dims: dict, where: str) -> None:
    if not isinstance(data, dict) or set(data) != set(SPLITS):
        got = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise PrepareError(f"{where}: expected the splits {sorted(SPLITS)}, found {got}.")
    for split, part in data.items():
        missing = [k for k in KEYS if k not in part]
        if missing:
            raise PrepareError(f"{where}[{split!r}] lacks the keys {missing}; is this an MMSA {name} pickle?")
        n = len(part["regression_labels"])
        for key, dim_key in (("text", "text"), ("audio", "audio"), ("vision", "vision")):
            a = np.asarray(part[key])
            if a.ndim != 3 or a.shape[0] != n or a.shape[2] != dims[dim_key]:
                raise PrepareError(
                    f"{where}[{split!r}][{key!r}] has shape {a.shape}; expected ({n}, L, {dims[dim_key]}) for {name}."
                )
        tb = np.asarray(part["text_bert"])
        if tb.ndim != 3 or tb.shape[:2] != (n, 3):
            raise PrepareError(f"{where}[{split!r}]['text_bert'] has shape {tb.shape}; expected ({n}, 3, L).")
        for key in ("raw_text", "id", "classification_labels"):
            if len(part[key]) != n:
                raise PrepareError(f"{where}[{split!r}][{key!r}] has {len(part[key])} entries for {n} samples.")


def prepare(name: str, root=None, source=None, sha256: str | None = None, aligned: bool = True,
            trust_unverified: bool = False, nonfinite: str = "error") -> Path:
    """Turn ``aligned_50.pkl`` (or ``unaligned_50.pkl``) into ``<root>/<name>/prepared``."""
    if name not in DIMS:
        raise ValueError(f"MMSA provides 'mosi' or 'mosei', not {name!r}.")
    spec = info(name)
    src, out = paths(spec, root, source)
    file = src if src.suffix == ".pkl" else src / FILES["aligned" if aligned else "unaligned"]
    require(file, spec, file.name)
    data, digest = load_pickle(file, sha256, trust_unverified)
    _check(name, data, DIMS[name], file.name)
    writer = PreparedWriter(out, spec, spec.class_names, {file.name: digest}, {"file": file.name, "nonfinite": nonfinite})
    for raw_split, split in SPLITS.items():
        part = data[raw_split]
        where = f"{file.name}[{raw_split!r}]"
        score = check_finite(np.asarray(part["regression_labels"], dtype=np.float32).reshape(-1), f"{where}['regression_labels']")
        if np.abs(score).max(initial=0) > 3:
            raise PrepareError(f"{where}['regression_labels'] leaves [-3, 3] (max |y| = {np.abs(score).max():.2f}).")
        label = check_labels(np.asarray(part["classification_labels"]).reshape(-1).astype(np.int64), 3,
                             f"{where}['classification_labels']")
        arrays = {
            "text": check_finite(np.asarray(part["text"], dtype=np.float32), f"{where}['text']", nonfinite),
            "audio": check_finite(np.asarray(part["audio"], dtype=np.float32), f"{where}['audio']", nonfinite),
            "video": check_finite(np.asarray(part["vision"], dtype=np.float32), f"{where}['vision']", nonfinite),
            "text_ids": np.asarray(part["text_bert"])[:, 0, :].astype(np.int64),
        }
        writer.add_split(split, label=label, score=score, ids=[str(i) for i in part["id"]],
                         strings={"text": [str(t) for t in part["raw_text"]]}, arrays=arrays)
    writer.finish(["text", "audio", "video", "text_ids"])
    return out


def main(argv=None, name: str | None = None) -> None:
    spec = info(name or "mosi")
    p = parser(spec, "Prepare CMU-MOSI / CMU-MOSEI from MMSA's feature pickles (checksum first, numpy-only unpickling).")
    if name is None:
        p.add_argument("--dataset", choices=sorted(DIMS), required=True)
    p.add_argument("--sha256", default=None, help="expected sha256 of the pickle (checked before unpickling)")
    p.add_argument("--unaligned", action="store_true", help="use unaligned_50.pkl instead of aligned_50.pkl")
    p.add_argument("--trust-unverified", action="store_true", help="unpickle without a checksum to compare with")
    p.add_argument("--nonfinite", choices=("error", "zero"), default="error")
    args = p.parse_args(argv)
    with console():
        log.info("prepared %s", prepare(name or args.dataset, args.root, args.source, args.sha256, not args.unaligned,
                                        args.trust_unverified, args.nonfinite))
