"""Every dataset a registered table uses, in miniature, in its released layout, prepared by its
``data_scripts/prepare_<name>.py`` exactly as a user runs it (``--root`` plus the options the
README lists), for the end-to-end table tests (tests/test_tables_e2e.py).

``write_<name>(raw)`` writes the release under ``raw`` (= ``<root>/<name>/raw``) and returns the
script's extra arguments; :func:`prepare` runs the script; :class:`PreparedData` prepares each
dataset once per session, on first use. Sizes (train / val / test after preparation) are in
:data:`SIZES`: enough that every split is non-empty and the split-stratified loaders see every
class they are given; media are the smallest the loaders take (frames and images are resized
to 224 by the loaders).

The scripts run in this process by default (``runpy``: the script file, its argument parser,
its ``main``; no second interpreter start, which costs ~3 s per script). Set ``RMM_E2E_SUBPROCESS=1`` to run each
one as ``python data_scripts/prepare_<name>.py ...`` in a fresh interpreter instead.
"""
from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data_fixtures import write_csv, write_jpeg, write_json, write_video, write_wav
from data_fixtures import write_mvsa as write_mvsa_release

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "data_scripts"
STORED_FRAMES = 3  # the loaders draw 3 frames per clip (CMPT 4.2): the fewest a clip may keep

#: (train, val, test) sizes after preparation.
SIZES = {
    "mosi_raw": (8, 4, 4),
    "mosei_raw": (8, 4, 4),
    "meld": (8, 4, 4),  # + one training utterance whose clip is missing (skipped, as MELD's dia125_utt3)
    "food101": (9, 3, 6),  # 3 classes
    "mmimdb": (8, 4, 4),  # every split holds each of the 23 genres at least once, and a negative for each
    "cremad": (12, 6, 6),  # 6 emotions x (2, 1, 1)
    "kinetics_sounds": (9, 3, 6),  # 3 classes
    "ave": (8, 4, 4),  # 4 of the 28 categories
    "iemocap": (8, 4, 4),  # 4 classes, each in every split
    "mvsa": (8, 4, 4),  # 19 posts, 3 dropped by the label rule (positive text, negative image); --ratio 2:1:1
}
DATASET_SCRIPTS = {"mosi_raw": "prepare_cmu_raw.py", "mosei_raw": "prepare_cmu_raw.py"}


def _clip(path, k, audio=False, **kw):
    """A 6-frame 32x24 clip (data_fixtures.write_video: frame j is filled with 20*j)."""
    write_video(path, audio=audio, seed=k, **kw)


# ----------------------------------------------------------------------------- text + video
CMU_HEADER = ["video_id", "clip_id", "text", "label", "label_T", "label_A", "label_V", "annotation", "mode"]
WORDS = ("it was great", "not good at all", "i loved the acting", "the plot was awful", "quite boring really",
         "a wonderful surprise", "terrible sound", "pretty fun overall")


def write_cmu_raw(raw: Path, name: str = "mosi_raw") -> list:
    """MMSA's ``Raw`` release: ``label.csv`` + ``Raw/<video_id>/<clip_id>.mp4`` (mode train/valid/test)."""
    rows = []
    for mode, n in zip(("train", "valid", "test"), SIZES[name]):
        for i in range(n):
            video = f"{mode[:2]}{name[:4]}{i // 2:02d}"  # two clips per video, as the release's segments
            score = round((1 if i % 2 == 0 else -1) * (0.4 + 0.6 * (i % 4)), 1)  # both signs in every split, no zeros
            annotation = "Positive" if score > 0 else "Negative"
            rows.append([video, str(i % 2 + 1), WORDS[i % len(WORDS)], str(score), "", "", "", annotation, mode])
    write_csv(raw / "label.csv", rows, CMU_HEADER)
    for k, r in enumerate(rows):
        _clip(raw / "Raw" / r[0] / f"{r[1]}.mp4", k)
    return ["--dataset", name, "--stored-frames", str(STORED_FRAMES)]


def write_mosi_raw(raw: Path) -> list:
    return write_cmu_raw(raw, "mosi_raw")


def write_mosei_raw(raw: Path) -> list:
    return write_cmu_raw(raw, "mosei_raw")


MELD_HEADER = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID", "Season",
               "Episode", "StartTime", "EndTime"]
MELD_EMOTIONS = (("neutral", "neutral"), ("surprise", "positive"), ("fear", "negative"), ("sadness", "negative"),
                 ("joy", "positive"), ("disgust", "negative"), ("anger", "negative"))


def write_meld(raw: Path) -> list:
    """``MELD.Raw``: three csvs and three clip folders; one training clip is missing (the release
    lacks a few), so the script runs with ``--missing-video skip`` as its README says."""
    from rmm_lib.data.sources.meld import SPLITS

    src = raw / "MELD.Raw"
    for split, (csv_name, folder) in SPLITS.items():
        n = SIZES["meld"][("train", "val", "test").index(split)] + (split == "train")
        rows = []
        for i in range(n):
            emotion, sentiment = MELD_EMOTIONS[i % len(MELD_EMOTIONS)]
            rows.append([i + 1, f"{split} line {i}: {WORDS[i % len(WORDS)]}", ("Ross", "Rachel")[i % 2], emotion, sentiment,
                         i // 3, i % 3, 3, 7, "00:14:38,127", "00:14:40,378"])
            if not (split == "train" and i == n - 1):
                _clip(src / folder / f"dia{i // 3}_utt{i % 3}.mp4", i)
        write_csv(src / csv_name, rows, MELD_HEADER)
    return ["--missing-video", "skip", "--stored-frames", str(STORED_FRAMES)]


# ----------------------------------------------------------------------------- image + text
FOOD_CLASSES = ("apple_pie", "ramen", "sushi")


def write_food101(raw: Path) -> list:
    """UPMC Food-101: ``images/{train,test}/<class>/<class>_<n>.jpg`` + ``texts/{split}_titles.csv``
    (no header; ``<image>,<text>,<class>``); ``--val-size`` moves 3 training pairs to validation."""
    for split, per_class in (("train", 4), ("test", 2)):
        rows = []
        for c, cls in enumerate(FOOD_CLASSES):
            for i in range(per_class):
                name = f"{cls}_{i + (0 if split == 'train' else 100)}.jpg"
                write_jpeg(raw / "images" / split / cls / name, value=40 * c + 10 * i + 20)
                rows.append([name, f"best {cls.replace('_', ' ')} recipe {i} | easy homemade", cls])
        write_csv(raw / "texts" / f"{split}_titles.csv", rows)
    return ["--val-size", "3"]


def write_mmimdb(raw: Path) -> list:
    """MM-IMDb (``mmimdb.tar.gz`` extracted to ``mmimdb/``): ``split.json`` (train/dev/test ids) and
    ``dataset/<id>.{json,jpeg}``; genre j goes to sample j mod n of each split, so every split has
    each genre once (and negatives for it); one sample also carries a genre the 23 leave out."""
    from rmm_lib.data.registry import MMIMDB_GENRES

    src = raw / "mmimdb"
    ids, k = {}, 0
    for split, n in zip(("train", "dev", "test"), SIZES["mmimdb"]):
        ids[split] = [f"{1000 + k + i:07d}" for i in range(n)]
        for i, sample in enumerate(ids[split]):
            genres = [g for j, g in enumerate(MMIMDB_GENRES) if j % n == i] + (["Adult"] if i == 0 else [])
            write_json(src / "dataset" / f"{sample}.json", {
                "title": f"Movie {sample}", "year": 1990 + i, "genres": genres,
                "plot": [f"{split} plot {i}: {WORDS[i % len(WORDS)]}", "a second outline"], "rating": 6.5})
            write_jpeg(src / "dataset" / f"{sample}.jpeg", size=(30, 44), value=25 * i + 10)
        k += n
    write_json(src / "split.json", ids)
    return []


def write_mvsa(raw: Path) -> list:
    """MVSA-Single extracted (``MVSA_Single/data/<id>.{jpg,txt}`` + ``labelResultAll.txt``, written by
    data_fixtures.write_mvsa): 19 posts, 16 kept by the label rule, split 2:1:1."""
    write_mvsa_release(raw / "MVSA_Single", n=19, variant="single")
    return ["--ratio", "2:1:1", "--seed", "0"]


# ----------------------------------------------------------------------------- audio + video
CREMAD_ACTORS, CREMAD_SENTENCES = (1001, 1002, 1003, 1004), ("DFA", "IEO", "ITH", "TIE")


def write_cremad(raw: Path) -> list:
    """CREMA-D: ``AudioWAV/<clip>.wav`` + ``VideoFlash/<clip>.flv``; split lists (``--split-dir``,
    OGM-GE's ``<clip>,<EMOTION>`` rows) hold 3 clips per emotion for training, 1 for testing;
    ``--val-fraction 0.34`` carves 1 per emotion from training."""
    from rmm_lib.data.registry import CREMAD_EMOTIONS

    lists = {"train": [], "test": []}
    for e, emotion in enumerate(CREMAD_EMOTIONS):
        for a, actor in enumerate(CREMAD_ACTORS):
            clip = f"{actor}_{CREMAD_SENTENCES[(a + e) % 4]}_{emotion}_{('XX', 'LO', 'MD', 'HI')[a]}"
            write_wav(raw / "AudioWAV" / f"{clip}.wav", seconds=0.3, freq=180 + 40 * e + 10 * a)
            _clip(raw / "VideoFlash" / f"{clip}.flv", a, fmt="flv", codec="flv")
            lists["train" if a < 3 else "test"].append([clip, emotion])
    for split, rows in lists.items():
        write_csv(raw.parent / "lists" / f"{split}.csv", rows)
    return ["--split-dir", str(raw.parent / "lists"), "--val-fraction", "0.34", "--stored-frames", str(STORED_FRAMES)]


KS_CLASSES = ("playing drums", "dog barking", "playing bagpipes")


def write_kinetics_sounds(raw: Path) -> list:
    """Kinetics-Sounds (no official archive; the OGM-GE-style layout): ``{train,test}.csv`` rows
    ``<clip>,<class name>`` + ``videos/<clip>.mp4`` with audio; ``--val-fraction 0.25`` carves 1
    clip per class from training."""
    for split, per_class in (("train", 4), ("test", 2)):
        rows = [[f"{split[:2]}{c}x{i}_{10 * i:06d}_{10 * i + 10:06d}", cls] for c, cls in enumerate(KS_CLASSES)
                for i in range(per_class)]
        write_csv(raw / f"{split}.csv", rows)
        for k, (clip, _) in enumerate(rows):
            _clip(raw / "videos" / f"{clip}.mp4", k, audio=True)
    return ["--val-fraction", "0.25", "--stored-frames", str(STORED_FRAMES)]


AVE_CATEGORIES = (
    "Church bell", "Male speech, man speaking", "Bark", "Fixed-wing aircraft, airplane", "Race car, auto racing",
    "Female speech, woman speaking", "Helicopter", "Violin, fiddle", "Flute", "Ukulele", "Frying (food)", "Truck",
    "Shofar", "Motorcycle", "Acoustic guitar", "Train horn", "Clock", "Banjo", "Goat", "Baby cry, infant cry", "Bus",
    "Chainsaw", "Cat", "Horse", "Toilet flush", "Rodents, rats", "Accordion", "Mandolin")


def write_ave(raw: Path) -> list:
    """AVE (``AVE_Dataset.zip`` extracted): ``Annotations.txt`` naming all 28 categories,
    ``{train,val,test}Set.txt`` (``Category&VideoID&Quality&StartTime&EndTime``) and ``AVE/<id>.mp4``."""
    from rmm_lib.data.sources.ave import FILES

    src = raw / "AVE_Dataset"
    header = "Category&VideoID&Quality&StartTime&EndTime"
    lines = {s: [f"{AVE_CATEGORIES[i % 4]}&{s[:2]}Vid{i:03d}xYz&good&0&10" for i in range(n)]
             for s, n in zip(("train", "val", "test"), SIZES["ave"])}
    every = sum(lines.values(), [])
    src.mkdir(parents=True, exist_ok=True)
    extra = [f"{c}&ann{j:03d}&good&0&10" for j, c in enumerate(AVE_CATEGORIES)]
    (src / "Annotations.txt").write_text("\n".join([header] + every + extra) + "\n")
    for s, fname in FILES.items():
        (src / fname).write_text("\n".join([header] + lines[s]) + "\n")
        for k, line in enumerate(lines[s]):
            _clip(src / "AVE" / f"{line.split('&')[1]}.mp4", k, audio=True)
    return ["--stored-frames", str(STORED_FRAMES)]


# ----------------------------------------------------------------------------- features
def write_iemocap(raw: Path) -> list:
    """User-provided IEMOCAP features (MLA A.3.2): ``{train,val,test}.npz`` (audio 512, image 1024,
    text 1024, label, ids) + ``classes.txt``; every class in every split."""
    classes = ("ang", "hap", "neu", "sad")
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "classes.txt").write_text("\n".join(classes) + "\n")
    rng = np.random.default_rng(0)
    for split, n in zip(("train", "val", "test"), SIZES["iemocap"]):
        label = np.arange(n) % len(classes)
        np.savez(raw / f"{split}.npz", audio=rng.normal(size=(n, 512)).astype(np.float32),
                 image=rng.normal(size=(n, 1024)).astype(np.float32), text=rng.normal(size=(n, 1024)).astype(np.float32),
                 label=label, ids=np.array([f"Ses0{1 + i % 5}F_impro0{i % 3 + 1}_F{i:03d}" for i in range(n)]))
    return []


WRITERS = {
    "mosi_raw": write_mosi_raw, "mosei_raw": write_mosei_raw, "meld": write_meld, "food101": write_food101,
    "mmimdb": write_mmimdb, "mvsa": write_mvsa, "cremad": write_cremad, "kinetics_sounds": write_kinetics_sounds,
    "ave": write_ave, "iemocap": write_iemocap,
}


# ----------------------------------------------------------------------------- preparation
def script(name: str) -> Path:
    return SCRIPTS / DATASET_SCRIPTS.get(name, f"prepare_{name}.py")


def run_script(path: Path, argv: list, subprocess_run: bool | None = None) -> str:
    """Run ``python <path> <argv>``: in a fresh interpreter (``RMM_E2E_SUBPROCESS=1``) or in this one
    (runpy, as ``python`` runs a script: ``__main__``, ``sys.argv``); returns what it printed."""
    if subprocess_run is None:
        subprocess_run = os.environ.get("RMM_E2E_SUBPROCESS", "0") == "1"
    if subprocess_run:
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        done = subprocess.run([sys.executable, str(path), *argv], capture_output=True, text=True, env=env, cwd=REPO)
        if done.returncode:
            raise RuntimeError(f"{path.name} {' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout
    import contextlib
    import io

    out, saved = io.StringIO(), sys.argv
    sys.argv = [str(path), *argv]
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(str(path), run_name="__main__")
    except SystemExit as err:
        if err.code not in (0, None):
            raise RuntimeError(f"{path.name} {' '.join(argv)} exited with {err.code}:\n{out.getvalue()}") from err
    finally:
        sys.argv = saved
    return out.getvalue()


def prepare(name: str, root, subprocess_run: bool | None = None) -> Path:
    """Write ``name``'s tiny release under ``<root>/<name>/raw`` and prepare it with its script;
    returns ``<root>/<name>/prepared``."""
    root = Path(root)
    raw = root / name / "raw"
    argv = WRITERS[name](raw)
    out = run_script(script(name), ["--root", str(root), *argv], subprocess_run)
    prepared = root / name / "prepared"
    if "prepared" not in out or not (prepared / "manifest.json").exists():
        raise RuntimeError(f"{script(name).name} printed {out!r} and left no {prepared / 'manifest.json'}")
    return prepared


def missing_parts(name: str) -> str | None:
    """Why ``name`` cannot be prepared in this checkout (its loader or script is absent), else None."""
    import importlib.util

    module = "cmu_raw" if name in DATASET_SCRIPTS else name
    if importlib.util.find_spec(f"rmm_lib.data.sources.{module}") is None:
        return f"rmm_lib/data/sources/{module}.py does not exist yet"
    if not script(name).exists():
        return f"data_scripts/{script(name).name} does not exist yet"
    return None


class PreparedData:
    """One data root for the session: each dataset is written and prepared on first use."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.done: dict = {}
        self.seconds: dict = {}

    def __call__(self, name: str) -> Path:
        if name not in self.done:
            import time

            if name not in WRITERS:
                pytest.fail(f"no fixture of dataset {name!r}: add write_{name}(raw) to tests/e2e_fixtures.py (WRITERS)")
            why = missing_parts(name)
            if why:  # a removed loader or script must fail its tables' tests, never turn them into skips
                pytest.fail(f"{name}: {why}")
            start = time.perf_counter()
            try:
                self.done[name] = prepare(name, self.root)
            except Exception as err:
                self.done[name] = err
            self.seconds[name] = time.perf_counter() - start
        if isinstance(self.done[name], Exception):
            raise self.done[name]
        return self.root


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    """``prepared(name)`` -> the data root holding ``name`` prepared (each dataset once per session)."""
    return PreparedData(tmp_path_factory.mktemp("rmm_data"))


@pytest.fixture(scope="session")
def prepared_root(prepared):
    """The data root with every dataset prepared (those whose loader exists)."""
    for name in WRITERS:
        if missing_parts(name) is None:
            prepared(name)
    return prepared.root


__all__ = ["SIZES", "WRITERS", "prepare", "prepared", "prepared_root", "PreparedData", "run_script", "missing_parts"]
