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
smoke run) or the wall time of a real GPU run recorded in ``runs/<key>/result.json``.
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
    """The estimate's formula and assumptions in one Markdown paragraph (for the page)."""
    prov = flops_table().get("provenance", {})
    counted = (f"counted once by `{prov['command']}` (torch {prov.get('torch')}, "
               "`torch.utils.flop_counter.FlopCounterMode`, architectures without weights)" if prov else
               "missing: run `python benchmarks/flops.py`")
    return (
        "**GPU time (estimate)** = models x [epochs x (train samples x training FLOPs + val samples x forward "
        "FLOPs) + test samples x forward FLOPs] / an assumed sustained "
        f"{SUSTAINED_FLOPS / 1e12:.0f} TFLOP/s ({ASSUMED_GPU}, bf16 autocast). FLOPs per sample are the "
        f"backbones' at the loaders' input sizes, {counted}; a training step is forward + backward as counted "
        "there: about 3x the forward when every weight trains (TRML, MLA) and 2-2.3x with CMPT's frozen "
        "backbones and LoRA. Every model is charged every backbone. Data loading and element-wise work are "
        "not counted, so small models run slower than the estimate. A measured time replaces it once one exists."
    )
