"""What rmm knows about each real dataset: shapes, classes, where the files come from.

One :class:`DatasetInfo` per name accepted by :func:`rmm_lib.data.load_splits`. The shapes are
those of one *loaded* sample (what a method receives), so :func:`rmm_lib.data.synthetic_splits`
can build random data of exactly the real shapes for smoke runs, and the loader can refuse
prepared files whose shapes differ.
"""
from __future__ import annotations

from dataclasses import dataclass, field

MMSA_LABELS = ("negative", "neutral", "positive")
MELD_EMOTIONS = ("neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger")
MELD_SENTIMENTS = ("negative", "neutral", "positive")
CREMAD_EMOTIONS = ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")
# Arevalo et al. (2017), in the order of the MM-IMDb release.
MMIMDB_GENRES = (
    "Drama", "Comedy", "Romance", "Thriller", "Crime", "Action", "Adventure", "Horror",
    "Documentary", "Mystery", "Sci-Fi", "Fantasy", "Family", "Biography", "War", "History",
    "Animation", "Musical", "Music", "Western", "Sport", "Short", "Film-Noir",
)

FRAME = (3, 224, 224)  # one RGB frame as CLIP's ViT-B/16 and ViT-B/32 take it
CLIP_FRAMES = 3  # CMPT sec. 4.2: 3 frames per clip
TEXT_BYTES = 256  # byte-level text ids kept beside the raw strings (methods tokenize the strings)


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    title: str
    modalities: dict  # {modality: shape of one loaded sample}
    task: str  # "classification" | "multilabel" | "regression+classification"
    n_classes: int
    splits: dict  # paper sizes {"train": n, "val": n, "test": n} (None = not fixed by the release)
    source: str  # where the released files come from
    licence: str
    size: str  # download size, roughly
    files: str  # what to download and where it goes (under <root>/<name>/raw)
    script: str  # data_scripts/<script>
    class_names: tuple = ()
    notes: str = ""
    dtypes: dict = field(default_factory=dict)  # modality -> "float32" | "int64" (default float32)
    unavailable: str = ""  # why the release can no longer be downloaded ("" = it can)

    def raw_dir(self, root) -> str:
        return f"{root}/{self.name}/raw"


def _mmsa(name, title, dims, n, size):
    return DatasetInfo(
        name=name,
        title=title,
        modalities={"text": (50, dims[0]), "audio": (50, dims[1]), "video": (50, dims[2])},
        task="regression+classification",
        n_classes=3,
        splits=n,
        source="MMSA feature release (github.com/thuiar/MMSA, links to Baidu/Google Drive)",
        licence="research use (CMU Multimodal SDK terms); check the MMSA README",
        size=size,
        files=f"aligned_50.pkl (or unaligned_50.pkl) from MMSA's {title.split()[0]}/Processed folder -> <root>/{name}/raw/",
        script="prepare_mmsa.py",
        class_names=MMSA_LABELS,
        notes="`video` holds per-frame facial features (Facet/OpenFace), not pixels; `text` BERT features "
        "(or `text_ids`); score = regression label in [-3, 3]; label = MMSA's 3-class label.",
    )


def _audio_video(name, title, n_classes, splits, source, licence, size, files, script, classes=()):
    return DatasetInfo(
        name=name,
        title=title,
        modalities={"audio": (1024, 128), "video": (CLIP_FRAMES, *FRAME)},
        task="classification",
        n_classes=n_classes,
        splits=splits,
        source=source,
        licence=licence,
        size=size,
        files=files,
        script=script,
        class_names=classes,
        notes="audio: 128-bin log-mel fbank at 16 kHz, 1024 frames (AST's extractor); video: 3 frames per "
        "clip, drawn at random in training and evenly spaced at test (CMPT sec. 4.2).",
    )


DATASETS: dict = {
    "mosi": _mmsa("mosi", "CMU-MOSI", (768, 5, 20), {"train": 1284, "val": 229, "test": 686}, "~0.3 GB"),
    "mosei": _mmsa("mosei", "CMU-MOSEI", (768, 74, 35), {"train": 16326, "val": 1871, "test": 4659}, "~3.6 GB"),
    "mosi_raw": DatasetInfo(
        name="mosi_raw",
        title="CMU-MOSI (raw text + video frames)",
        modalities={"text": (TEXT_BYTES,), "video": (CLIP_FRAMES, *FRAME)},
        task="regression+classification",
        n_classes=3,
        splits={"train": 1284, "val": 229, "test": 686},
        source="CMU Multimodal SDK raw videos (no longer distributed by CMU; use a copy you already hold)",
        licence="research use (CMU Multimodal SDK terms)",
        size="~8 GB of videos",
        files="Raw/<video_id>/<clip_id>.mp4 (segmented clips) + label.csv from MMSA's Raw folder "
        "-> <root>/mosi_raw/raw/",
        script="prepare_cmu_raw.py",
        class_names=MMSA_LABELS,
        dtypes={"text": "int64"},
        notes="TRML input: raw utterance text + sampled frames. text tensor = UTF-8 bytes + 1 (0 = padding); "
        "methods tokenize `strings['text']` with their own tokenizer.",
        unavailable="CMU no longer distributes the raw MOSI videos; only a copy you already hold works",
    ),
    "mosei_raw": DatasetInfo(
        name="mosei_raw",
        title="CMU-MOSEI (raw text + video frames)",
        modalities={"text": (TEXT_BYTES,), "video": (CLIP_FRAMES, *FRAME)},
        task="regression+classification",
        n_classes=3,
        splits={"train": 16326, "val": 1871, "test": 4659},
        source="CMU Multimodal SDK raw videos (MMSA's Raw folder)",
        licence="research use (CMU Multimodal SDK terms)",
        size="~60 GB of videos",
        files="Raw/<video_id>/<clip_id>.mp4 + label.csv from MMSA's Raw folder -> <root>/mosei_raw/raw/",
        script="prepare_cmu_raw.py",
        class_names=MMSA_LABELS,
        dtypes={"text": "int64"},
        unavailable="CMU no longer distributes the raw MOSEI videos; only a copy you already hold works",
    ),
    "meld": DatasetInfo(
        name="meld",
        title="MELD",
        modalities={"text": (TEXT_BYTES,), "video": (CLIP_FRAMES, *FRAME)},
        task="classification",
        n_classes=7,
        splits={"train": 9989, "val": 1109, "test": 2610},
        source="https://affective-meld.github.io (MELD.Raw.tar.gz)",
        licence="GPL-3.0 (MELD repository); clips from the TV series Friends, research use",
        size="~10 GB",
        files="MELD.Raw.tar.gz extracted: {train,dev,test}_sent_emo.csv, train_splits/, dev_splits_complete/, "
        "output_repeated_splits_test/ -> <root>/meld/raw/",
        script="prepare_meld.py",
        class_names=MELD_EMOTIONS,
        dtypes={"text": "int64"},
        notes="label = 7 emotions (default) or 3 sentiments (`target='sentiment'`).",
    ),
    "food101": DatasetInfo(
        name="food101",
        title="UPMC Food-101",
        modalities={"image": FRAME, "text": (TEXT_BYTES,)},
        task="classification",
        n_classes=101,
        splits={"train": 62988, "val": 5000, "test": 22716},
        source="UPMC Food-101 (Wang et al. 2015), visiir.isir.upmc.fr / Kaggle mirror 'upmcfood101'",
        licence="research use only (images crawled from the web)",
        size="~18 GB",
        files="images/{train,test}/<class>/<class>_<n>.jpg and texts/{train,test}_titles.csv -> <root>/food101/raw/",
        script="prepare_food101.py",
        dtypes={"text": "int64"},
        notes="the release has train/test only; 5,000 training pairs become validation (seeded, our choice). "
        "Images are read lazily from the release folders.",
    ),
    "mmimdb": DatasetInfo(
        name="mmimdb",
        title="MM-IMDb",
        modalities={"image": FRAME, "text": (TEXT_BYTES,)},
        task="multilabel",
        n_classes=23,
        splits={"train": 15552, "val": 2608, "test": 7799},
        source="https://archive.org/details/mmimdb (Arevalo et al. 2017)",
        licence="research use; plots and posters from IMDb",
        size="~8 GB",
        files="mmimdb.tar.gz extracted: split.json and dataset/<id>.jpeg + dataset/<id>.json -> <root>/mmimdb/raw/",
        script="prepare_mmimdb.py",
        class_names=MMIMDB_GENRES,
        dtypes={"text": "int64"},
        notes="label = float (N, 23) multi-hot genres.",
    ),
    "mvsa": DatasetInfo(
        name="mvsa",
        title="MVSA",
        modalities={"image": FRAME, "text": (TEXT_BYTES,)},
        task="classification",
        n_classes=3,
        splits={"train": None, "val": None, "test": None},
        source="MVSA-Single / MVSA-Multiple (Niu et al. 2016), "
        "mcrlab.net/research/mvsa-sentiment-analysis-on-multi-view-social-data (OneDrive / BaiduYun links)",
        licence="research use; tweets and images collected from Twitter (ask the MCRLab authors for terms)",
        size="MVSA-Single ~5k tweets, MVSA-Multiple ~20k tweets (small JPEGs)",
        files="the extracted MVSA_Single archive: data/<id>.jpg, data/<id>.txt and labelResultAll.txt -> <root>/mvsa/raw/",
        script="prepare_mvsa.py",
        class_names=("negative", "neutral", "positive"),
        dtypes={"text": "int64"},
        notes="MVSA-Single by default (`--variant multiple`: majority vote of 3 annotators per modality); "
        "post label: text and image agree -> that label, one neutral -> the other, positive vs negative -> "
        "dropped (prior work; MLA does not say); random 8:1:1 split, seeded (our choice, `--ratio`, `--seed`). "
        "Images are read lazily from the release folder.",
    ),
    "cremad": _audio_video(
        "cremad", "CREMA-D", 6, {"train": 6698, "val": None, "test": 744},
        "https://github.com/CheyneyComputerScience/CREMA-D (git lfs)", "Open Database License (ODbL 1.0)",
        "~25 GB (AudioWAV 0.6 GB, VideoFlash ~5 GB)",
        "AudioWAV/<clip>.wav and VideoFlash/<clip>.flv -> <root>/cremad/raw/", "prepare_cremad.py", CREMAD_EMOTIONS,
    ),
    "kinetics_sounds": _audio_video(
        "kinetics_sounds", "Kinetics-Sounds", 31, {"train": 14739, "val": None, "test": 2594},
        "Kinetics-400 clips of the 31 Kinetics-Sounds classes (Arandjelovic & Zisserman 2017); fetch them "
        "yourself (YouTube); no official archive", "Kinetics annotations CC BY 4.0; videos belong to their uploaders",
        "~20 GB", "{train,test}.csv (clip,label) and videos/<clip>.mp4 -> <root>/kinetics_sounds/raw/",
        "prepare_kinetics_sounds.py",
    ),
    "ave": _audio_video(
        "ave", "AVE (Audio-Visual Event)", 28, {"train": 3339, "val": 402, "test": 402},
        "https://github.com/YapengTian/AVE-ECCV18 (AVE_Dataset.zip, Google Drive)", "research use (videos from YouTube)",
        "~6.5 GB", "AVE_Dataset extracted: Annotations.txt, trainSet.txt, valSet.txt, testSet.txt, AVE/<id>.mp4 "
        "-> <root>/ave/raw/", "prepare_ave.py",
    ),
    "iemocap": DatasetInfo(
        name="iemocap",
        title="IEMOCAP (user-provided features)",
        modalities={"audio": (512,), "image": (1024,), "text": (1024,)},
        task="classification",
        n_classes=4,
        splits={"train": None, "val": None, "test": None},
        source="USC SAIL (https://sail.usc.edu/iemocap/): licensed, request access from its owners; rmm "
        "cannot download or redistribute it",
        licence="IEMOCAP release agreement (non-commercial research; no redistribution)",
        size="features ~0.1 GB (raw corpus ~12 GB)",
        files="features you extracted (MLA A.3.2: wav2vec audio 512-d, MANet visual 1024-d, BERT text 1024-d): "
        "{train,val,test}.npz with audio/image/text/label + classes.txt -> <root>/iemocap/raw/",
        script="prepare_iemocap.py",
        notes="class count comes from your classes.txt (4 in synthetic runs).",
    ),
}


def info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name`` or a clear error listing the known names."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}. Known: {', '.join(sorted(DATASETS))} (or 'benchmark').")
    return DATASETS[name]
