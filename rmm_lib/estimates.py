"""Estimated GPU time of one paper table: compute only, and always labelled as an estimate.

For a spec, ``time = FLOPs / SUSTAINED_FLOPS`` with

    FLOPs = models x [epochs x (n_train x train FLOPs per sample + n_val x forward FLOPs per sample)
                      + n_test x forward FLOPs per sample]

* **FLOPs per sample** sum the spec's backbones (:func:`encoders`), from the committed
  ``rmm_lib/tables/flops.json``, which ``python benchmarks/flops.py`` counted once with
  ``torch.utils.flop_counter.FlopCounterMode`` on the real architectures built without weights,
  at the input sizes the loaders produce. A training step costs forward + backward as counted
  there: about 3x the forward FLOPs when every weight trains (TRML fine-tunes CLIP, MLA trains
  its encoders) and about 2-2.3x for CMPT's frozen backbones with LoRA (the backward pass still
  runs through the activations; open_clip's LoRA on the fused attention projection also needs its
  weight gradient). Heads, fusion, losses, the GRU and the optimiser are left out: small beside the
  backbones.
* **models**: how many models one run of the spec trains (:data:`MODELS`, counted from the run
  functions in ``rmm_lib/tables/``). Every model is charged every backbone on every sample,
  an upper bound for the baselines that use one modality.
* **epochs**: ``spec.train["epochs"]``; **samples**: the paper split sizes in
  ``rmm_lib.data.DATASETS`` (a validation split the release lacks is carved from train, so
  train counts it; see :data:`SAMPLE_COUNTS` for the datasets without fixed sizes).
* **SUSTAINED_FLOPS**: an assumed 100 TFLOP/s, about 30 % of an A100's dense bf16 peak
  (312 TFLOP/s; the trainer runs bf16 autocast on CUDA). Element-wise work, data loading and
  evaluation of several missing patterns are not counted, so small models (ResNet-18 on CREMA-D,
  MLPs on IEMOCAP features) will be slower than this and large batches of ViTs may be faster.

A measured figure replaces the estimate as soon as one exists: ``spec.gpu_minutes`` (a measured
smoke run), the wall time of a real GPU run recorded in ``runs/<key>/result.json``, or the projected
time of ``results/gpu_cost.json`` (``benchmarks/gpu_cost.py``: measured steps on a GPU).

Two GPUs are estimated (:data:`GPUS`): Colab's T4 (65 TFLOP/s fp16 peak; the trainer uses fp16
there, since a T4 has no native bf16) and an A100-class GPU, both at the same assumed share of
their peak. Beside the time, from the full-size record ``results/full_size.json``
(``benchmarks/full_size.py``: every table's models built at full size on a CPU):

* **GPU memory** (:func:`gpu_memory_gib`): every model a table trains stays on the GPU for its
  evaluation (its weights only: the trainer frees gradients and optimiser state after training), and
  the one in training adds its gradients, its optimiser's states and the activations its step keeps
  for backward at the paper's batch size (measured in float32 on the CPU: an upper bound under
  autocast), plus :data:`CUDA_OVERHEAD_GIB` for the CUDA context and workspaces.
* **disk** (:func:`disk_gib`): the release's download size (``DATASETS[name].size``), the prepared
  arrays (:func:`prepared_gib`: frames as uint8, fbanks as float16, as ``data_scripts/`` writes them;
  images stay in the release folders) and the checkpoints of every model (one ``last.pt`` each, as
  measured).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

FLOPS_FILE = Path(__file__).resolve().parent / "tables" / "flops.json"

#: Assumed sustained throughput of one GPU, FLOP/s (see the module docstring).
SUSTAINED_FLOPS = 100e12
ASSUMED_GPU = "an A100-class GPU at about 30 % of its 312 TFLOP/s dense bf16 peak"

@dataclass(frozen=True)
class GPU:
    """A GPU class the page estimates for: dense tensor-core peak in the precision the trainer uses
    on it, the assumed share of that peak a training run sustains, and its memory."""

    name: str
    peak_tflops: float
    precision: str
    memory_gib: float
    efficiency: float = 0.32

    @property
    def sustained_flops(self) -> float:
        return self.peak_tflops * 1e12 * self.efficiency


#: The page's two GPUs. A100-class keeps the assumed 100 TFLOP/s (:data:`SUSTAINED_FLOPS`); the T4
#: (Colab's free GPU: 65 TFLOP/s fp16 peak, 15 GB) gets the same share of its peak, about 21 TFLOP/s --
#: small batches and data loading usually leave a T4 further below its peak than that.
GPUS = {
    "T4": GPU("T4 (Colab)", 65.0, "fp16 autocast", 15.0, efficiency=SUSTAINED_FLOPS / 312e12),
    "A100": GPU("A100-class", 312.0, "bf16 autocast", 40.0, efficiency=SUSTAINED_FLOPS / 312e12),
}
#: GPU memory the estimate adds for the CUDA context, cuBLAS/cuDNN workspaces and the allocator's slack.
CUDA_OVERHEAD_GIB = 1.0
#: The records the page reads (``results/`` at the repository root).
RESULTS = Path(__file__).resolve().parents[1] / "results"
FULL_SIZE_FILE = RESULTS / "full_size.json"
GPU_COST_FILE = RESULTS / "gpu_cost.json"

#: Models one run of a spec trains, by table (``<paper>.<table>``, the dataset suffix dropped), as
#: its ``run`` function in ``rmm_lib/tables/<paper>.py`` trains them (each spec run on its own).
MODELS = {
    # TRML run_grid: per victim, LB and each method once per setting (A, B); UB once per run.
    "trml.table1": 7,  # LB 2 + UB 1 + Cyclic 2 + TRML 2
    "trml.table2": 7,
    "trml.table3": 7,
    "trml.table4": 7,
    "trml.table5": 13,  # two victims: LB 4 + UB 1 + Cyclic 4 + TRML 4
    "trml.table6": 8,  # four ablation rows x two settings
    "trml.table7": 8,
    # MLA (rmm_lib.recipes.mla.fit: one model per method, mask and option set)
    "mla.table1": 8,  # Sum, Concat, Late Fusion, FiLM, BiGated, OGM-GE, QMF, MLA
    "mla.table2": 21,  # Late Fusion, QMF, MLA x 7 missing rates
    "mla.table3": 2,  # MLA with and without HGM (DF is switched at test time)
    "mla.table4": 2,  # Concat and MLA on CLIP
    "mla.fig2": 8,  # MLA, QMF x 4 training mask rates
    "mla.fig3": 2,  # Concat, MLA
    "mla.released": 4,  # paper / released variant x complete / eta = 0.5
    # CMPT (train_cmpt: one model per training setting)
    "cmpt.table1": 3,  # run_table6: one model per MAP training type
    "cmpt.table6": 3,
    "cmpt.table2": 3,  # baseline, modality dropout, CMPT
    "cmpt.table3": 1,
    "cmpt.table4": 1,
    "cmpt.fig3": 3,  # baseline, modality dropout, CMPT
    # the comparison (rmm_lib.tables.compare): CMPT under each of the 10 protocols + its no-proxy
    # control; the feature methods' heads on frozen features are charged nothing (one forward pass
    # of the towers over the data, below one model's single epoch)
    "compare.grid": 11,
}

#: Sample counts for datasets whose release fixes no split sizes (``DatasetInfo.splits`` None).
#: IEMOCAP: the whole corpus, about 10,000 utterances (10,039 as Busso et al. 2008 count them; not
#: from the three papers), charged as training data: an upper bound for any split of it.
#: MVSA: MVSA-Single, "~5k tweets" (the registry's size note), split 8:1:1 as ``prepare_mvsa`` does.
SAMPLE_COUNTS = {"iemocap": {"train": 10039, "val": 0, "test": 0},
                 "mvsa": {"train": 4000, "val": 500, "test": 500}}

#: CMPT's text length when the spec's ``model`` options give none: ``recipes.cmpt``'s paper default
#: (CMPT Table 5 gives 40 for Food-101 and 256 for MM-IMDb; flops.json holds both).
CMPT_TEXT_TOKENS = 40
CLIP_TEXT_TOKENS = 77  # open_clip pads every text to its context length


@dataclass(frozen=True)
class Estimate:
    key: str
    models: int
    epochs: int
    samples: dict  # {"train", "val", "test"}
    train_flops: float  # per sample, forward + backward, all backbones
    forward_flops: float  # per sample, all backbones
    encoders: tuple  # ((modality, flops key, copies, mode), ...)

    @property
    def total_flops(self) -> float:
        per_model = (self.epochs * (self.samples["train"] * self.train_flops + self.samples["val"] * self.forward_flops)
                     + self.samples["test"] * self.forward_flops)
        return self.models * per_model

    @property
    def minutes(self) -> float:
        return self.total_flops / SUSTAINED_FLOPS / 60

    def minutes_on(self, gpu: str) -> float:
        """Estimated minutes on one of :data:`GPUS` (``"T4"``, ``"A100"``)."""
        return self.total_flops / GPUS[gpu].sustained_flops / 60


@lru_cache(maxsize=None)
def _flops_table(path: str) -> dict:
    return json.loads(Path(path).read_text())


def flops_table(path=None) -> dict:
    """The committed FLOP counts (``benchmarks/flops.py``); ``{}`` when the file is missing."""
    path = Path(path or FLOPS_FILE)
    return _flops_table(str(path)) if path.is_file() else {}


def table_id(key: str) -> str:
    """``"mla.table1_cremad"`` -> ``"mla.table1"``, ``"cmpt.table2.food101"`` -> ``"cmpt.table2"``."""
    paper, _, rest = key.partition(".")
    return f"{paper}.{re.split(r'[._]', rest)[0]}"


def models_trained(spec) -> int | None:
    return MODELS.get(table_id(spec.key))


def sample_counts(spec) -> dict | None:
    """``{"train", "val", "test"}`` sample counts of the spec's dataset (None if unknown)."""
    from .data.registry import DATASETS

    info = DATASETS.get(spec.dataset)
    splits = dict(getattr(info, "splits", None) or {})
    if spec.dataset in SAMPLE_COUNTS and splits.get("train") is None:
        return dict(SAMPLE_COUNTS[spec.dataset])
    if splits.get("train") is None:
        return None
    return {s: int(splits.get(s) or 0) for s in ("train", "val", "test")}


def encoders(spec) -> list | None:
    """``[(modality, flops key, copies per sample, training mode)]`` for the spec's dataset and
    paper, as the paper profile builds them (None when a modality has no known backbone)."""
    from .data.registry import DATASETS

    info = DATASETS.get(spec.dataset)
    if info is None:
        return None
    out = []
    for m, shape in info.modalities.items():
        shape = tuple(shape)
        frames = shape[0] if len(shape) == 4 else 1  # (F, 3, H, W): each frame goes through the tower
        is_text = m == "text" and info.dtypes.get(m) == "int64"
        if spec.paper == "trml":  # fine-tuned CLIP ViT-B/32 towers (the GRU is left out)
            item = ("clip-vit-b-32-text@77" if is_text else "clip-vit-b-32-visual@224", "full")
        elif spec.paper == "mla":  # trained from scratch / fine-tuned (rmm_lib.recipes.mla.build_encoders)
            if len(shape) == 1 and not is_text:
                item = (f"mlp128@{shape[0]}", "full")  # IEMOCAP features: the three-layer MLP
            elif m == "audio" and len(shape) == 2:
                item = ("resnet18-fbank@1024x128", "full")
            elif m == "video":
                item = ("resnet18@224", "full")
            elif is_text:
                item = (f"clip-vit-b-32-text@{CLIP_TEXT_TOKENS}", "full")
            else:
                item = ("clip-vit-b-32-visual@224", "full")
        elif spec.paper in ("cmpt", "compare"):  # frozen backbones + LoRA (rmm_lib.recipes.cmpt.paper_token_encoders)
            tokens = (getattr(spec, "model", None) or {}).get("text_max_length", CMPT_TEXT_TOKENS)
            item = {"text": (f"bert-base@{tokens}", "lora"), "audio": ("ast@1024x128", "lora")}.get(
                m, ("clip-vit-b-16-visual@224", "lora"))
        else:
            return None
        out.append((m, item[0], frames, item[1]))
    return out


def gaps(spec, flops: dict | None = None) -> list:
    """What the estimate of ``spec`` lacks, in words (empty when it can be computed)."""
    from .data.registry import DATASETS

    table = (flops if flops is not None else flops_table()).get("backbones", {})
    out = []
    if spec.dataset not in DATASETS:
        return [f"no loader for `{spec.dataset}`"]
    if models_trained(spec) is None:
        out.append(f"no model count for `{table_id(spec.key)}` in rmm_lib.estimates.MODELS")
    if sample_counts(spec) is None:
        out.append(f"no sample counts for `{spec.dataset}`")
    if not (spec.train or {}).get("epochs"):
        out.append("no epochs in the spec")
    parts = encoders(spec)
    if parts is None:
        out.append(f"no backbone known for paper `{spec.paper}`")
    else:
        for _, key, _, mode in parts:
            if f"backward_{mode}" not in table.get(key, {}):
                out.append(f"no FLOPs for `{key}` ({mode}): run `python benchmarks/flops.py`")
    return out


def estimate(spec, flops: dict | None = None) -> Estimate | None:
    """The spec's :class:`Estimate`, or None where a piece is unknown (:func:`gaps` says which)."""
    flops = flops if flops is not None else flops_table()
    if gaps(spec, flops):
        return None
    table = flops["backbones"]
    parts = encoders(spec)
    forward = sum(n * table[k]["forward"] for _, k, n, _ in parts)
    train = sum(n * (table[k]["forward"] + table[k][f"backward_{mode}"]) for _, k, n, mode in parts)
    return Estimate(spec.key, models_trained(spec), int(spec.train["epochs"]), sample_counts(spec), float(train),
                    float(forward), tuple(parts))


def format_minutes(minutes: float) -> str:
    """``"< 1 min"``, ``"40 min"``, ``"6.5 h"``, ``"3.1 days"``."""
    if minutes < 1:
        return "< 1 min"
    if minutes < 90:
        return f"{minutes:.0f} min"
    if minutes < 72 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} days"


def describe() -> str:
    """The estimates' formulas and assumptions in one Markdown paragraph (for the page)."""
    prov = flops_table().get("provenance", {})
    counted = (f"counted once by `{prov['command']}` (torch {prov.get('torch')}, "
               "`torch.utils.flop_counter.FlopCounterMode`, architectures without weights)" if prov else
               "missing: run `python benchmarks/flops.py`")
    t4, a100 = GPUS["T4"], GPUS["A100"]
    full = load_record(FULL_SIZE_FILE).get("provenance") or {}
    measured = (f"`{full['command']}` built every table's models at full size on a CPU ({full.get('cpu', '?')}, "
                f"code `{full.get('code_hash')}`) and measured them" if full else
                "the full-size record is missing: run `python benchmarks/full_size.py`")
    return (
        "**GPU time (estimate)** = models x [epochs x (train samples x training FLOPs + val samples x forward "
        "FLOPs) + test samples x forward FLOPs] / the GPU's assumed sustained rate: "
        f"{a100.sustained_flops / 1e12:.0f} TFLOP/s for an **A100-class** GPU ({a100.efficiency:.0%} of its "
        f"{a100.peak_tflops:.0f} TFLOP/s dense {a100.precision.split()[0]} peak, {a100.precision}) and "
        f"{t4.sustained_flops / 1e12:.0f} TFLOP/s for Colab's **T4** (the same share of its {t4.peak_tflops:.0f} "
        f"TFLOP/s {t4.precision.split()[0]} peak; a T4 has no native bf16, so the trainer runs fp16 there). "
        f"FLOPs per sample are the backbones' at the loaders' input sizes, {counted}; a training step is forward "
        "+ backward as counted there: about 3x the forward when every weight trains (TRML, MLA) and 2-2.3x with "
        "CMPT's frozen backbones and LoRA. Every model is charged every backbone. Data loading and element-wise "
        "work are not counted, so small models and small batches run slower than the estimate, a T4 most of all. "
        "**GPU memory (estimate)** = every model the table trains, kept for its evaluation (float32 weights) + the "
        "largest training step (gradients, optimiser states, and the activations it keeps for backward at the "
        f"paper's batch size, in float32: an upper bound under autocast) + {CUDA_OVERHEAD_GIB:.0f} GB for CUDA; "
        f"{measured}. **Disk**: the download the loader needs, the arrays `data_scripts/` writes (frames, "
        "fbanks) and one checkpoint per model (what trains, its optimiser state and the best epoch's copy; "
        "measured at full size). A measured time replaces an estimate once one exists."
    )


# ----------------------------------------------------------------------------- memory and disk
#: Optimiser states per trainable weight (float32 each): Adam/AdamW two moments, SGD one momentum.
OPTIMIZER_STATES = {"adam": 2, "adamw": 2, "sgd": 1}
#: Frames the preparation stores per clip (``data_scripts``' defaults; the loader draws 3 of them).
STORED_FRAMES = {"mosi_raw": 8, "mosei_raw": 8, "meld": 8}
DEFAULT_STORED_FRAMES = 10
#: What a table needs to download where the release holds more: CREMA-D's repository (~25 GB) also
#: carries MP3 and MP4 copies; the loader reads AudioWAV (0.6 GB) and VideoFlash (~5 GB) only.
DOWNLOAD_GB = {"cremad": 5.6}


@lru_cache(maxsize=None)
def _record(path: str, mtime: float) -> dict:
    return json.loads(Path(path).read_text())


def load_record(path) -> dict:
    """A committed record (``results/*.json``), ``{}`` when it is missing."""
    path = Path(path)
    return _record(str(path), path.stat().st_mtime) if path.is_file() else {}


def record_cells(record: dict, key: str) -> list:
    """The models (cells) table ``key`` uses in a full-size record: those it trained, then those it
    reused from another table of its group."""
    entry = (record.get("tables") or {}).get(key) or {}
    names = list(entry.get("trained", [])) + list(entry.get("reused", {}))
    cells = record.get("cells") or {}
    return [cells[n] for n in names if n in cells]


def gpu_memory_gib(spec, record: dict | None = None) -> float | None:
    """Estimated peak GPU memory of one run of ``spec`` at its batch size, in GiB (None without a
    full-size record of it): every model of the table kept (float32 weights) + the largest training
    step (its gradients, optimiser states and saved activations) + :data:`CUDA_OVERHEAD_GIB`."""
    cells = record_cells(load_record(FULL_SIZE_FILE) if record is None else record, spec.key)
    if not cells:
        return None
    train = spec.train or {}
    batch = int(train.get("batch_size", 64))
    optimizer = train.get("optimizer", "adam")
    states = OPTIMIZER_STATES.get(optimizer, 2) if optimizer != "sgd" or train.get("momentum", 0.9) else 0
    kept = sum(c["parameters"] for c in cells) * 4
    step = max(c["trainable"] * 4 * (1 + states) + c["saved_activations_mib_per_sample"] * 2**20 * batch
               for c in cells)
    return (kept + step) / 2**30 + CUDA_OVERHEAD_GIB


def download_gib(name: str) -> float | None:
    """The release's download size in GB (``DATASETS[name].size``; :data:`DOWNLOAD_GB` where the
    loader needs less than the release), None where the registry gives none."""
    from .data.registry import DATASETS

    if name in DOWNLOAD_GB:
        return DOWNLOAD_GB[name]
    found = re.search(r"([\d.]+)\s*GB", getattr(DATASETS.get(name), "size", "") or "")
    return float(found.group(1)) if found else None


def prepared_bytes_per_sample(name: str) -> int:
    """Bytes ``data_scripts/`` writes per sample: stored frames (uint8), fbanks (float16), text ids
    (int64), features (float32); images are read from the release folders (nothing written)."""
    from .data.registry import DATASETS

    info = DATASETS[name]
    total = 0
    for m, shape in info.modalities.items():
        size = 1
        for d in shape:
            size *= int(d)
        if m == "image":
            continue
        if m == "video" and len(shape) == 4:
            total += STORED_FRAMES.get(name, DEFAULT_STORED_FRAMES) * size // int(shape[0])
        elif m == "audio" and len(shape) == 2:
            total += 2 * size
        elif info.dtypes.get(m) == "int64":
            total += 8 * size
        else:
            total += 4 * size
    return total


def prepared_gib(spec) -> float | None:
    counts = sample_counts(spec)
    return None if counts is None else sum(counts.values()) * prepared_bytes_per_sample(spec.dataset) / 2**30


def checkpoints_gib(spec, record: dict | None = None) -> float | None:
    """The checkpoints one run of ``spec`` writes (one ``last.pt`` per model, full-size record)."""
    cells = record_cells(load_record(FULL_SIZE_FILE) if record is None else record, spec.key)
    return sum(c["checkpoint_mib"] for c in cells) / 1024 if cells else None


def disk_gib(spec, record: dict | None = None) -> dict:
    """``{"download", "prepared", "checkpoints", "total"}`` in GB (None where unknown)."""
    parts = {"download": download_gib(spec.dataset), "prepared": prepared_gib(spec),
             "checkpoints": checkpoints_gib(spec, record)}
    known = [v for v in parts.values() if v is not None]
    return {**parts, "total": sum(known) if parts["download"] is not None else None}


def measured_gpu(spec, record: dict | None = None) -> dict | None:
    """``{"minutes", "gpu"}``: the projected time of ``spec`` from GPU steps measured by
    ``benchmarks/gpu_cost.py`` (``results/gpu_cost.json``), None when no GPU has measured it."""
    record = load_record(GPU_COST_FILE) if record is None else record
    gpu = (record.get("provenance") or {}).get("gpu")
    if not gpu:
        return None
    for family in (record.get("families") or {}).values():
        projected = (family.get("tables") or {}).get(spec.key)
        if projected:
            return {"minutes": projected["minutes"], "gpu": gpu}
    return None
