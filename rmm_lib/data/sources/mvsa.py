"""MVSA (Niu et al., MMM 2016) as its authors release it: a folder ``data/`` with ``<id>.jpg``
(the tweet's image) and ``<id>.txt`` (its text) per post, and ``labelResultAll.txt``, tab
separated, header ``ID<TAB>text,image``, lines ``<id><TAB><text label>,<image label>``. MVSA-Single
has one annotator column; MVSA-Multiple has three (``ID<TAB>text,image<TAB>text,image<TAB>text,image``).
Labels are positive / neutral / negative.

Variant, label rule and split: MLA (sec. 3.1.1, App. A.1) names "MVSA (Niu et al., 2016)" and
says only that it "concentrates on sentiment classification in multimedia posts through the
utilization of both text and image data"; it gives neither the variant, the rule that turns a
post's text and image labels into one label, nor the split. MLA's baselines follow QMF (Zhang et
al. 2023), which follows prior work (Xu & Mao, CIKM 2017). We do the same, and the defaults are
our reading, recorded in the manifest:

- variant ``single`` (MVSA-Single; ``variant="multiple"`` reads MVSA-Multiple);
- MVSA-Multiple: each modality's label is the majority vote of the three annotators (at least
  two agree on the exact label), posts without a majority for text or image are dropped;
- one label per post: text and image agree -> that label; one is neutral -> the other one;
  one positive and one negative -> the post is dropped;
- a random split, ``ratio=(8, 1, 1)`` train / val / test, seeded (``seed=0``).

Texts are UTF-8 in most copies, but some files carry stray bytes of a legacy encoding. With
``text_errors="fallback"`` (default) each byte that is not valid UTF-8 is read as cp1252 (latin-1
where cp1252 has no character) and the script says how many texts needed it;
``text_errors="error"`` stops at the first such file. A missing file, an unknown label or an
unreadable image stops the preparation (``on_bad="skip"`` drops posts with a missing or
unreadable file instead, and says which). Images stay in the release folder and are decoded
when a batch asks for them."""
from __future__ import annotations

import logging
import codecs
from collections import Counter
from pathlib import Path

import numpy as np

from ..prepared import PreparedWriter
from ..registry import TEXT_BYTES, info
from .common import PrepareError, console, parser, paths, require, text_bytes

log = logging.getLogger(__name__)
from .food101 import _check_image

NAME = "mvsa"
LABEL_FILE = "labelResultAll.txt"
ANNOTATORS = {"single": 1, "multiple": 3}
# folder names the release archives extract to (the files may also sit directly in raw/)
SUBFOLDERS = {"single": ("MVSA_Single", "MVSA-Single", "MVSA-single"),
              "multiple": ("MVSA_Multiple", "MVSA-Multiple", "MVSA-multiple", "MVSA")}
LABEL_RULE = ("majority of 3 annotators per modality (multiple); equal -> that label; one neutral -> the other; "
              "positive+negative -> dropped")


def _legacy_bytes(err: UnicodeDecodeError):
    """Codec error handler: bytes that are not UTF-8 read as cp1252, else latin-1."""
    out = []
    for b in err.object[err.start:err.end]:
        try:
            out.append(bytes([b]).decode("cp1252"))
        except UnicodeDecodeError:
            out.append(chr(b))
    return "".join(out), err.end


codecs.register_error("rmm_mvsa_legacy", _legacy_bytes)


def classes() -> tuple:
    return info(NAME).class_names


def post_label(text: str, image: str):
    """The post's label from its text and image labels, or ``None`` (the post is dropped) when
    one is positive and the other negative."""
    if text == image:
        return text
    if text == "neutral":
        return image
    if image == "neutral":
        return text
    return None


def majority(labels):
    """The label at least two of three annotators gave, else ``None``."""
    label, count = Counter(labels).most_common(1)[0]
    return label if count >= 2 else None


def read_labels(path: Path, variant: str) -> list:
    """``[(id, [(text, image) per annotator], line)]`` from ``labelResultAll.txt``."""
    if variant not in ANNOTATORS:
        raise ValueError(f"variant must be 'single' or 'multiple', got {variant!r}.")
    k = ANNOTATORS[variant]
    try:
        lines = path.read_bytes().decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        raise PrepareError(f"{path.name} is not text ({err}); the file is corrupted.") from err
    numbered = [(n, line.split()) for n, line in enumerate(lines, start=1) if line.strip()]
    if not numbered:
        raise PrepareError(f"{path.name} is empty.")
    (_, header), rows = numbered[0], numbered[1:]
    if not header or header[0].lower() != "id" or any(h.lower() != "text,image" for h in header[1:]):
        raise PrepareError(f"{path.name} line 1: expected the header 'ID<TAB>text,image' (x{k}), got {' '.join(header)!r}.")
    if len(header) - 1 != k:
        other = next((v for v, n in ANNOTATORS.items() if n == len(header) - 1), None)
        hint = f" This looks like MVSA-{other.capitalize()}: pass variant={other!r} (--variant {other})." if other else ""
        raise PrepareError(f"{path.name}: {len(header) - 1} annotator column(s); MVSA-{variant.capitalize()} has {k}.{hint}")
    out, seen = [], {}
    allowed = classes()
    for n, fields in rows:
        if len(fields) != 1 + k:
            raise PrepareError(f"{path.name} line {n}: expected <id> and {k} 'text,image' field(s), got {len(fields)} field(s).")
        sample, votes = fields[0], []
        if not sample.isdigit():
            raise PrepareError(f"{path.name} line {n}: the post id {sample!r} is not a number.")
        if sample in seen:
            raise PrepareError(f"{path.name} line {n}: post {sample} is listed twice (first on line {seen[sample]}).")
        seen[sample] = n
        for field in fields[1:]:
            pair = [p.strip().lower() for p in field.split(",")]
            if len(pair) != 2:
                raise PrepareError(f"{path.name} line {n}: expected 'text,image', got {field!r}.")
            unknown = [p for p in pair if p not in allowed]
            if unknown:
                raise PrepareError(f"{path.name} line {n}: unknown label {unknown[0]!r} (expected one of {', '.join(allowed)}).")
            votes.append(tuple(pair))
        out.append((sample, votes, n))
    if not out:
        raise PrepareError(f"{path.name} lists no posts.")
    return out


def resolve(votes: list):
    """``(label, reason)``: the post's label, or ``None`` and why it is dropped."""
    if len(votes) == 1:
        text, image = votes[0]
    else:
        text, image = majority([v[0] for v in votes]), majority([v[1] for v in votes])
        if text is None or image is None:
            return None, "no_majority"
    label = post_label(text, image)
    return (label, None) if label is not None else (None, "conflicting_polarity")


def read_text(path: Path, errors: str = "fallback") -> tuple:
    """``(text, used_fallback)``: the tweet's text, stripped."""
    raw = path.read_bytes()
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    try:
        return raw.decode("utf-8").strip(), False
    except UnicodeDecodeError as err:
        if errors != "fallback":
            raise PrepareError(f"{path}: not valid UTF-8 (byte {err.start}: {raw[err.start:err.start + 1]!r}). "
                               "Pass text_errors='fallback' (--text-errors fallback) to read such bytes as cp1252.") from err
        return raw.decode("utf-8", errors="rmm_mvsa_legacy").strip(), True


def check_ratio(ratio) -> tuple:
    try:
        ratio = tuple(float(r) for r in ratio)
    except (TypeError, ValueError):
        ratio = ()
    if len(ratio) != 3 or min(ratio) <= 0:
        raise ValueError(f"ratio must be three positive numbers (train, val, test), got {ratio or 'something else'}.")
    return ratio


def split_sizes(n: int, ratio) -> dict:
    ratio = check_ratio(ratio)
    total = sum(ratio)
    n_val, n_test = int(n * ratio[1] / total + 0.5), int(n * ratio[2] / total + 0.5)
    sizes = {"train": n - n_val - n_test, "val": n_val, "test": n_test}
    if min(sizes.values()) < 1:
        raise PrepareError(f"{n} usable post(s) cannot fill train/val/test at ratio {ratio}: sizes {sizes}.")
    return sizes


def split_indices(n: int, ratio=(8, 1, 1), seed: int = 0) -> dict:
    """Disjoint, sorted row indices per split: a seeded random permutation cut at ``ratio``."""
    sizes = split_sizes(n, ratio)
    perm = np.random.default_rng(seed).permutation(n)
    n_train, n_val = sizes["train"], sizes["val"]
    return {"train": np.sort(perm[:n_train]), "val": np.sort(perm[n_train:n_train + n_val]), "test": np.sort(perm[n_train + n_val:])}


def _source_dir(src: Path, variant: str) -> Path:
    if (src / LABEL_FILE).exists():
        return src
    for sub in SUBFOLDERS[variant]:
        if (src / sub / LABEL_FILE).exists():
            return src / sub
    return src


def prepare(root=None, source=None, variant: str = "single", ratio=(8, 1, 1), seed: int = 0, text_errors: str = "fallback",
            on_bad: str = "error", check_images: bool = True) -> Path:
    if variant not in ANNOTATORS:
        raise ValueError(f"variant must be 'single' or 'multiple', got {variant!r}.")
    if text_errors not in {"fallback", "error"}:
        raise ValueError(f"text_errors must be 'fallback' or 'error', got {text_errors!r}.")
    if on_bad not in {"error", "skip"}:
        raise ValueError(f"on_bad must be 'error' or 'skip', got {on_bad!r}.")
    ratio = check_ratio(ratio)  # refuse a bad ratio before reading anything
    spec = info(NAME)
    src, out = paths(spec, root, source)
    src = _source_dir(src, variant)
    rows = read_labels(require(src / LABEL_FILE, spec, LABEL_FILE), variant)
    require(src / "data", spec, "the data/ folder")
    allowed = classes()
    kept, dropped, bad, fallback = [], Counter(), [], []
    for sample, votes, line in rows:
        label, reason = resolve(votes)
        if label is None:
            dropped[reason] += 1
            continue
        image, text_file = src / "data" / f"{sample}.jpg", src / "data" / f"{sample}.txt"
        try:
            require(image, spec, f"data/{sample}.jpg (post on line {line} of {LABEL_FILE})")
            require(text_file, spec, f"data/{sample}.txt (post on line {line} of {LABEL_FILE})")
            if check_images:
                _check_image(image)
        except (FileNotFoundError, PrepareError) as err:
            if on_bad != "skip":
                raise type(err)(f"{err}\nPass on_bad='skip' (--on-bad skip) to drop posts with a missing or unreadable file.") from err
            bad.append(sample)
            continue
        text, legacy = read_text(text_file, text_errors)
        if legacy:
            fallback.append(sample)
        kept.append((sample, allowed.index(label), text, str(image.resolve())))
    log.info(f"MVSA-{variant.capitalize()}: {len(rows)} posts, kept {len(kept)}; dropped {dropped['conflicting_polarity']} "
             f"with positive/negative text and image" + (f", {dropped['no_majority']} without a majority" if variant == "multiple" else ""))
    if bad:
        log.warning("skipped %d post(s) with a missing or unreadable file: %s", len(bad), bad[:5])
    if fallback:
        log.warning("%d text(s) were not valid UTF-8; their stray bytes were read as cp1252: %s", len(fallback), fallback[:5])
    parts = split_indices(len(kept), ratio, seed)
    counts = {"posts": len(rows), "kept": len(kept), "conflicting_polarity": dropped["conflicting_polarity"],
              "no_majority": dropped["no_majority"], "bad_files": len(bad), "text_legacy_bytes": len(fallback)}
    options = {"variant": variant, "ratio": list(ratio), "seed": seed, "label_rule": LABEL_RULE, "text_errors": text_errors,
               "on_bad": on_bad}
    writer = PreparedWriter(out, spec, allowed, {LABEL_FILE: counts}, options)
    for split, idx in parts.items():
        items = [kept[i] for i in idx]
        texts = [it[2] for it in items]
        writer.add_split(split, label=np.array([it[1] for it in items], np.int64), ids=[it[0] for it in items],
                         strings={"text": texts}, arrays={"text": text_bytes(texts, TEXT_BYTES)},
                         image_paths={"image": [it[3] for it in items]})
    writer.finish(["image", "text"])
    return out


def _ratio(value: str) -> tuple:
    try:
        parts = tuple(float(p) for p in value.split(":"))
    except ValueError:
        parts = ()
    if len(parts) != 3:
        raise SystemExit(f"--ratio must look like 8:1:1 (train:val:test), got {value!r}.")
    return parts


def main(argv=None) -> None:
    p = parser(info(NAME), __doc__.split("\n")[0])
    p.add_argument("--variant", choices=tuple(ANNOTATORS), default="single", help="MVSA-Single (default) or MVSA-Multiple")
    p.add_argument("--ratio", default="8:1:1", help="train:val:test proportions of the random split (default 8:1:1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random split")
    p.add_argument("--text-errors", choices=("fallback", "error"), default="fallback",
                   help="bytes that are not UTF-8: read as cp1252 (default) or stop")
    p.add_argument("--on-bad", choices=("error", "skip"), default="error",
                   help="a post with a missing or unreadable file: stop (default) or drop it")
    p.add_argument("--no-check-images", action="store_true", help="skip opening every image (faster)")
    a = p.parse_args(argv)
    with console():
        log.info("prepared %s", prepare(a.root, a.source, a.variant, _ratio(a.ratio), a.seed, a.text_errors, a.on_bad, not a.no_check_images))
