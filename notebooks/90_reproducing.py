# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# **[Open in Colab](https://colab.research.google.com/github/rmm-book/rmm/blob/main/notebooks/90_reproducing.ipynb)** (a GPU runtime; the section *On Colab, step by step* is the recipe)
#
# # Reproducing the papers
#
# Every chapter runs in minutes on a CPU because it trains on the embedded benchmark. This page is
# for the other half of the work, the papers' own tables on the papers' own data. Each table of
# TRML, MLA and CMPT that the book reproduces is registered once, as a `TableSpec` in
# `rmm_lib/tables/<paper>.py`. The spec records the dataset, the backbones, the protocol, the
# hyperparameters and the numbers the paper printed. The chapter notebook and the command line
# both call the same `run` function.
#
# Three commands do everything:
#
# ```bash
# python -m rmm_lib list                                   # every registered table
# python -m rmm_lib smoke <key> --data-root ~/rmm_data     # full-size dry run: does it fit, how fast, how much disk?
# python -m rmm_lib run <key> --data-root ~/rmm_data --out runs/
# ```
#
# `run` loads the table's dataset with `rmm_lib.data.load_splits` (the Datasets page says how to
# prepare each one). It trains and evaluates as the paper did, and writes
# `runs/<key>/result.json` and `runs/<key>/table.md`, with the paper's numbers beside ours.
# This page reads those files when it is built, so each table below fills in after its run.
# `smoke` is a dry run of the same code at the paper's full size with random weights: one training
# and one evaluation step per model, at batch 2, on the first samples of your prepared data (or on
# random data of the real shapes without `--data-root`). It reports each model's parameters, step
# times, peak memory and checkpoint size, keeps no checkpoint, and is never reported as a result.

# %% tags=["hide-input"]
# Setup: install rmm_lib when it is missing (Colab); read the run profile in one place.
import importlib.util
import os
import subprocess
import sys

RMM_SOURCE = "git+https://github.com/rmm-book/rmm"
if importlib.util.find_spec("rmm_lib") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", RMM_SOURCE], check=True)
# os.environ["RMM_PROFILE"] = "paper"  # the papers' settings, on a GPU
from rmm_lib.notebook import setup

PROFILE = setup()  # RMM_PROFILE: "quick" (default, CPU, minutes) or "paper"

# %% [markdown]
# ## What each dataset looks like to a method
#
# Before any download, the shapes are known: `rmm_lib.data.DATASETS` records the shape of one
# loaded sample of every dataset. `synthetic_splits` uses these shapes for dry runs without data,
# and the loader refuses prepared files that do not match them.

# %%
# NBVAL_CHECK_OUTPUT
from rmm_lib.data import DATASETS, synthetic_splits

for name, spec in DATASETS.items():
    shapes = ", ".join(f"{m} {tuple(s)}" for m, s in spec.modalities.items())
    print(f"{name:<16} {spec.n_classes:>3} classes  {shapes}")

# %% [markdown]
# The synthetic splits are ordinary datasets with the real interface. Here is one batch of the
# audio-video shape (CREMA-D), the largest sample of the three papers:

# %%
# NBVAL_CHECK_OUTPUT
batch = synthetic_splits("cremad", n=2, seed=0)["train"][[0, 1]]
print({m: tuple(t.shape) for m, t in batch.inputs.items()}, "labels", batch.label.tolist())

# %% [markdown]
# ## On Colab, step by step
#
# The cells of this section are the recipe; they run on Colab (the book does not execute them).
# Choose a GPU runtime first (*Runtime > Change runtime type*). A free Colab session ends after a
# few idle minutes or some hours, and everything on the machine's own disk (`/content`) goes with
# it, so the recipe keeps the **runs** (checkpoints and results) on Google Drive and the **data**
# wherever they fit (below). The table of the next section gives, for each paper table, its
# estimated time on Colab's T4 and on an A100-class GPU, its GPU memory and its disk.
#
# **1. Clone the repository and install it.** `pip install git+https://...` would install the
# library without `data_scripts/`, which prepares the datasets, so clone:

# %% tags=["skip-execution"]
# NBVAL_SKIP
# !git clone -q https://github.com/rmm-book/rmm /content/rmm
# %cd /content/rmm
# !pip install -q -e ".[data]"

# %% [markdown]
# **2. Choose where the data and the runs live.** Drive survives a disconnect; `/content` is
# faster (a Drive folder of many small files reads slowly) and larger (tens of GB on a standard
# runtime), but is wiped when the session ends.

# %% tags=["skip-execution"]
# NBVAL_SKIP
from google.colab import drive

drive.mount("/content/drive")
DATA = "/content/rmm_data"  # the session's own disk: fast, wiped at a disconnect
RUNS = "/content/drive/MyDrive/rmm_runs"  # Drive: checkpoints and results survive a disconnect
os.environ["RMM_DATA_ROOT"] = DATA
os.makedirs(DATA, exist_ok=True)

# %% [markdown]
# **3. Download the released files.** Each dataset comes from its owner, under its owner's terms;
# rmm downloads none of them. Where each one comes from, how large it is, which files go into
# `<root>/<name>/raw/` and the command that prepares them (every link leads to that dataset's
# section of the Datasets page):

# %% mystnb={"markdown_format": "myst"} tags=["hide-input"]
from IPython.display import Markdown, display

from rmm_lib.reproduce import dataset_anchor

rows = ["| dataset | where from | size | put in `<root>/<name>/raw/` |", "|---|---|---|---|"]
for name, info in DATASETS.items():
    gone = " ⚠" if info.unavailable else ""
    source = info.source if not info.unavailable or "no longer" in info.source else f"{info.source}: {info.unavailable}"
    files = info.files.split(" -> ")[0].replace("*", "\\*")  # file patterns, not emphasis
    rows.append(f"| [{info.title}](../book/datasets.md#{dataset_anchor(name)}){gone} | {source} | {info.size} | "
                f"{files} |".replace("\n", " "))
display(Markdown("\n".join(rows)))

# %% [markdown]
# CREMA-D is the smallest audio-video set that two of the papers use, and its repository is open
# (ODbL), so the recipe runs it. Only its WAV and FLV folders are needed (about 5.6 GB of the
# repository's 25):

# %% tags=["skip-execution"]
# NBVAL_SKIP
# !GIT_LFS_SKIP_SMUDGE=1 git clone -q https://github.com/CheyneyComputerScience/CREMA-D $DATA/cremad/raw
# !cd $DATA/cremad/raw && git lfs pull --include "AudioWAV/*,VideoFlash/*"

# %% [markdown]
# **4. Prepare it** (once; the Datasets page gives every script's options; CMPT's split lists are
# OGM-GE's `train.csv` and `test.csv`, passed with `--split-dir`, or a seeded split is drawn):

# %% tags=["skip-execution"]
# NBVAL_SKIP
# !python data_scripts/prepare_cremad.py --root $DATA

# %% [markdown]
# **5. Dry-run the table, then run it.** The dry run builds the table's models at full size on the
# first four samples and takes a minute; it fails fast where the long run would fail late (a
# missing file, a shape, the GPU's memory). `run` then trains every model of the table; each
# checkpoints after every epoch under `RUNS/<key>/cells/`.

# %% tags=["skip-execution"]
# NBVAL_SKIP
# !python -m rmm_lib smoke cmpt.table4.cremad --data-root $DATA --device cuda
# !python -m rmm_lib run cmpt.table4.cremad --data-root $DATA --out $RUNS

# %% [markdown]
# **6. After a disconnect**, open the notebook again, rerun steps 1 and 2 (and 3-4 when the data
# were on `/content`), then the same command with `--resume`: every model continues from its last
# checkpoint and a finished one is loaded instead of trained again, so the run ends with the numbers
# an uninterrupted run gives.

# %% tags=["skip-execution"]
# NBVAL_SKIP
# !python -m rmm_lib run cmpt.table4.cremad --data-root $DATA --out $RUNS --resume

# %% [markdown]
# **7. Read the result.** `result.json` holds our numbers beside the paper's, the configuration,
# the code hash, the GPU and the wall time; `table.md` is the same comparison as a table. Copy
# `RUNS/<key>/` into the repository's `runs/` folder and this page shows it (and its measured time
# replaces the estimate).

# %% tags=["skip-execution"]
# NBVAL_SKIP
import json
from pathlib import Path

result = json.loads((Path(RUNS) / "cmpt.table4.cremad" / "result.json").read_text())
print(result["environment"]["gpu"], f"{result['wall_s'] / 60:.0f} min", result["provenance"]["code_hash"])
display(Markdown((Path(RUNS) / "cmpt.table4.cremad" / "table.md").read_text()))

# %% [markdown]
# **Food-101 does not fit a free Drive.** UPMC Food-101 is about 18 GB and a free Google Drive
# holds 15 GB; its prepared folder also keeps reading the images from `raw/`, so the images must
# stay. Download it to the session's own disk (`DATA` above) in every session and keep only the runs
# on Drive -- a CMPT table's checkpoints take 0.2-0.7 GB (what trains, and the ViT attention
# projections that peft's LoRA moves), while the tables that fine-tune whole encoders (TRML, MLA on
# Food-101) write 14-28 GB, more than a free Drive holds -- or use a larger Drive (Google One) or
# your own machine. The same holds for the audio-video sets once prepared (Kinetics-Sounds' arrays
# alone are about 28 GB; see the *disk* column below): prepare them on `/content`, and copy the
# `prepared/` folder to Drive only where it fits.

# %% [markdown]
# ## The tables
#
# (The cell below renders its Markdown output as MyST, so the book draws the tables.) One table
# per paper, one row per registered spec: its dataset (linked to its section of the Datasets
# page), the time on one GPU, the GPU memory and the disk it needs, and how many numbers the paper
# prints and we have. **The times are estimates** from FLOPs, for two GPUs: Colab's T4 and an
# A100-class GPU, each assumed to sustain the same share of its peak; they count one run (one seed)
# per model at the paper's epochs and leave out data preparation, downloads and data loading, so
# small models take longer than estimated, on a T4 most of all. The **GPU memory** is an estimate
# too, from the models measured at full size (below); the **disk** is the data (download and
# prepared arrays) and the checkpoints one run writes. A measured time replaces an estimate when a
# GPU run has written `runs/<key>/result.json` or `results/gpu_cost.json` holds the table; the
# paragraph above the tables gives the formulas. Tables whose data can no longer be obtained are
# marked ⚠ and come last. A "—" under *ours* means the table has not run here yet. The paper's
# numbers, table by table, are folded under each paper's table, and ours appear beside them after a
# run.

# %% mystnb={"markdown_format": "myst"} tags=["hide-input"]
from pathlib import Path

from rmm_lib.reproduce import gpu_record_note, reproduction_page
from rmm_lib.tables import load_all

RUNS_HERE = Path("..") / "runs" if Path("../rmm_lib").is_dir() else Path("runs")  # the repository's runs/ folder
specs = load_all()
display(Markdown(gpu_record_note()))
if specs:
    display(Markdown(reproduction_page(specs, RUNS_HERE, anchors=True)))
else:
    display(Markdown("*No table is registered yet: the method chapters register them in `rmm_lib/tables/`.*"))

# %% [markdown]
# ## Every table's models at full size
#
# Before anyone spends GPU hours, `python benchmarks/full_size.py` builds each table's models at
# the papers' full size (ViT-B/16 at 224 pixels, BERT-base, AST over 1024 frames, ResNet-18 on
# spectrograms, CLIP ViT-B/32 with its 77-token context, the proxy tokens and adapters inside them)
# with random weights, and runs one training and one evaluation step of each on the dataset's
# release-format fixture (the tiny copy the end-to-end tests prepare). It is where shape errors,
# key mismatches and out-of-memory surface, and it measures what the table above reads: each
# model's parameters, the activations its step keeps (for the GPU-memory estimate) and its
# checkpoint (for the disk). Tables that share models (CMPT's Table 1 is Table 6's diagonal) share
# the run. The weights themselves are checked apart: `tests/test_published_weights.py` saves a random
# model of every downloaded backbone in the format its source publishes and loads it through the
# paper profile's code, key for key and output for output.

# %% mystnb={"markdown_format": "myst"} tags=["hide-input"]
from rmm_lib.reproduce import full_size_section

display(Markdown(f"<details><summary>The full-size record, table by table</summary>\n\n{full_size_section(specs)}\n\n"
                 "</details>"))

# %% [markdown]
# ## Throughput where it counts
#
# Two costs the papers argue about, measured on the same full-size models (`python
# benchmarks/throughput.py`). These figures are from a CPU, not a GPU: the ratios, not the
# seconds, are what carries over, and even the ratios shift on a GPU, where small matrix products
# cost relatively more.

# %% mystnb={"markdown_format": "myst"} tags=["hide-input"]
from rmm_lib.reproduce import throughput_section

display(Markdown(throughput_section()))

# %% [markdown]
# What this says. **MLA costs what Concat costs per batch**: its two optimiser steps each
# back-propagate through one encoder, so a batch does the same work, and the two medians lie within
# each other's spread on both datasets (on a GPU, where a small step is dominated by fixed costs, the
# second optimiser step may show). **CMPT saves memory more clearly than time**: it trains about a
# thousandth of the weights, so it needs no gradients or optimiser states for the towers (2.2 vs 4.5 GB
# on Food-101, 4.9 vs 7.1 GB on CREMA-D), but its step is only 1.4-1.5 times faster by the median,
# with step times that overlap, because the gradient still flows back through every layer of both
# towers to reach the proxy tokens and the adapters inside them. CMPT's abstract promises "minimal
# computational overhead" from frozen encoders with low-rank adapters: on these figures that holds
# for memory and for the weights to store, less so for the time of a step. The MLA paper does not
# report its cost; here alternating costs nothing extra per batch.
