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
# **[Open in Colab](https://colab.research.google.com/github/rmm-book/rmm/blob/main/notebooks/90_reproducing.ipynb)** (a GPU runtime runs the `paper` profile; see the setup cell)
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
# python -m rmm_lib list                          # every registered table
# python -m rmm_lib smoke all --steps 20          # synthetic data of the real shapes: does it fit, how fast?
# python -m rmm_lib run <key> --data-root ~/rmm_data --out runs/
# ```
#
# `run` loads the table's dataset with `rmm_lib.data.load_splits` (see the Datasets page for how
# to prepare it). It trains and evaluates as the paper did, and writes
# `runs/<key>/result.json` and `runs/<key>/table.md`, with the paper's numbers beside ours.
# This page reads those files when it is built, so each table below fills in after its run. A
# smoke run uses random-init backbones and synthetic inputs of the real shapes. It measures
# steps per second and peak memory, and it is never reported as a result.

# %%
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
# loaded sample of every dataset. `synthetic_splits` uses these shapes for the smoke runs, and
# the loader refuses prepared files that do not match them.

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
# ## The tables
#
# (The cell below renders its Markdown output as MyST, so the book draws the tables.) One table
# per paper, one row per registered spec: the command that runs it, its dataset (the Datasets
# page says how to prepare it), the time on one GPU, and how many numbers the paper prints and we
# have. The GPU time is an **estimate** from FLOPs, not a measurement: it assumes an A100-class
# GPU sustaining 100 TFLOP/s and one run (one seed) per model at the paper's epochs, and it leaves
# out data preparation, downloads and data loading, so small models take longer than estimated;
# the paragraph above the tables gives the formula. A measured time replaces it when the spec records `gpu_minutes` or
# a GPU run has written `runs/<key>/result.json`. A "—" under *ours* means the table has not run
# here yet. The paper's numbers, table by table, are folded under each paper's table, and ours
# appear beside them after a run.

# %% mystnb={"markdown_format": "myst"}
from pathlib import Path

from IPython.display import Markdown, display

from rmm_lib.reproduce import reproduction_page
from rmm_lib.tables import load_all

RUNS = Path("..") / "runs" if Path("../rmm_lib").is_dir() else Path("runs")  # the repository's runs/ folder
specs = load_all()
if specs:
    display(Markdown(reproduction_page(specs, RUNS)))
else:
    display(Markdown("*No table is registered yet: the method chapters register theirs in `rmm_lib/tables/`.*"))

# %% [markdown]
# ## Running on Colab
#
# Open any chapter with its Colab badge and choose a GPU runtime. Then set the profile before
# the setup cell runs, by uncommenting `os.environ["RMM_PROFILE"] = "paper"`. In the paper
# profile the setup cell names the GPU and mounts Google Drive. It reads data from
# `MyDrive/rmm_data` unless `RMM_DATA_ROOT` says otherwise, and it lists the datasets that are
# prepared there. It downloads nothing. Prepare each dataset once, on Colab or on your own
# machine, and copy its whole `<name>/` folder into `MyDrive/rmm_data/`. Food-101 and MM-IMDb
# images are read from `raw/` and their paths are stored relative to that folder, so they move
# with it.
