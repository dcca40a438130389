"""Files: cache entries built once under a lock, atomic saves, and what is wrong with a weights file.

The lowest layer: the recipes' caches, the trainer's checkpoints and the encoders' loaders use these.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zipfile
from pathlib import Path

import torch

_ZIP_MAGIC = b"PK\x03\x04"


@contextlib.contextmanager
def building(path: str | Path):
    """Hold ``<path>.lock`` while a cached file is checked and built: when parallel processes (test
    workers, notebooks) need the same file, one builds it and the others wait, then find it built.

        with building(path):
            if not path.is_file():
                save_atomically(make(), path)
    """
    from filelock import FileLock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        yield path


def save_atomically(obj, path: str | Path) -> Path:
    """``torch.save(obj, path)`` through a temporary file of this process, so that no reader ever
    sees half a file and two writers never share a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    tmp.replace(path)
    return path


def fingerprint_tensors(tensors: dict) -> str:
    """sha256 over named tensors (names, dtypes, shapes and values), in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(tensors.items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")  # 0-dim too
    return digest.hexdigest()


def checkpoint_problem(path) -> str | None:
    """Why the file ``path`` is not a checkpoint as open_clip and transformers read it, or None.

    The format follows the suffix, as the loaders do: ``.safetensors`` (a JSON header), ``.npy`` /
    ``.npz`` (NumPy big_vision weights), anything else ``torch.save`` output (a zip archive holding
    ``data.pkl``, or a legacy pickle). Only the file's first bytes (and a zip's index) are read.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        return "it is empty (0 bytes), probably an interrupted download"
    suffix = path.suffix.lower()
    with path.open("rb") as f:
        head = f.read(64)
        if suffix == ".safetensors":
            length = int.from_bytes(head[:8], "little") if len(head) >= 8 else 0
            if not 2 <= length <= min(size - 8, 100_000_000) or head[8:9] != b"{":
                return _content_hint(head) or "it has no safetensors header"
            f.seek(8)
            try:
                header = json.loads(f.read(length))
            except (UnicodeDecodeError, ValueError):
                header = None
            return None if isinstance(header, dict) else "its safetensors header is damaged"
    if suffix == ".npy":
        return None if head.startswith(b"\x93NUMPY") else _content_hint(head) or "it is not a NumPy .npy file"
    if suffix == ".npz":
        return None if zipfile.is_zipfile(path) else _content_hint(head) or "it is not a NumPy .npz archive"
    if head.startswith(_ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return "it is a damaged (truncated?) zip archive"
        if not any(n.endswith("data.pkl") for n in names):
            return "it is a zip archive but not one written by torch.save (no data.pkl inside)"
        return None
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return None  # torch.save's legacy (pickle) format
    if len(head) > 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < size:
        return "it looks like a safetensors file; name it *.safetensors so it is read as one"
    return _content_hint(head) or "it is neither a torch.save file (zip or pickle) nor safetensors"


def _content_hint(head: bytes) -> str | None:
    """Name what a non-checkpoint file is, from its first bytes, when it is recognisable text."""
    if head.startswith(b"version https://git-lfs"):
        return "it is a Git LFS pointer, not the weights (run `git lfs pull` where you cloned it)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if all(c.isprintable() or c in "\n\r\t" for c in text):
        first = text.strip().splitlines()[0][:40] if text.strip() else ""
        if first.lower().startswith(("<!doctype", "<html")):
            return "it is an HTML page (a login or error page saved instead of the weights)"
        return f"it is a text file (it begins {first!r})"
    return None
