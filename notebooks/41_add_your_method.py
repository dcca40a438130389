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
# **[Open in Colab](https://colab.research.google.com/github/rmm-book/rmm/blob/main/notebooks/41_add_your_method.ipynb)** (runs on a CPU in a minute or two, most of it pretraining the footing's image tower once; see the setup cell)
#
# # Add your method
#
# The comparison ({doc}`40_comparison`) puts TRML, MLA and CMPT on one footing: the testbed's
# image + text pair, the CMPT chapter's frozen towers, one trainer with early stopping on
# validation, the missing-modality protocols of all three papers, five seeds with paired
# intervals, and the limit of what the test samples show beside every number. This page puts a
# method of your own on the same footing with `rmm_lib.footing`:
#
# 1. write the model: an `nn.Module` whose `forward(batch)` returns `{"logits": ...}`;
# 2. register it under a name, with the protocols and seeds to run;
# 3. call `footing.compare(name)`. It trains the cells the record lacks, with the code that trains
#    the comparison's own methods, writes them with their provenance, and returns the chapter's
#    rows for your method.
#
# Here a toy method runs one protocol with two seeds: seconds, once the footing's towers are
# cached. The same calls with every protocol and five seeds are how the comparison's
# missing-aware-prompts arm was run (the end of this page).

# %% tags=["hide-input"]
# Setup: install rmm_lib when it is missing (Colab); read the run profile in one place.
import importlib.util
import os
import subprocess
import sys

RMM_SOURCE = "git+https://github.com/rmm-book/rmm"
if importlib.util.find_spec("rmm_lib") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", RMM_SOURCE], check=True)
from rmm_lib.notebook import setup

PROFILE = setup()  # RMM_PROFILE: "quick" (default, CPU); this page runs the comparison's quick footing either way

# %% [markdown]
# ## 1. The model
#
# The toy method fuses by **averaging the embeddings of the modalities a sample has**: each
# modality's encoder reads its features, an absent modality is left out of the mean instead of
# being read as zeros, and a linear head predicts. The footing hands the factory everything it
# needs (`footing.Footing`): the training split as the method reads it, the number of outputs and
# the comparison's per-modality encoders (`Footing.encoders()`, the MLP every feature method
# reads through). A method that enters the towers registers with `reads="tokens"` and builds on
# `Footing.towers()` instead.
#
# The model follows the trainer's hooks (`rmm_lib.hooks.TrainingHooks`). A plain `nn.Module`
# gets the defaults: the task loss on `forward`'s logits, one optimiser step per batch. A method
# with a loss of its own subclasses `TrainingHooks` and overrides `training_step`.

# %%
import torch
from torch import nn

from rmm_lib import footing


class MeanOfPresent(nn.Module):
    """Average the embeddings of the present modalities, then a linear head."""

    def __init__(self, f: footing.Footing):
        super().__init__()
        self.encoders = f.encoders()  # one MLP per modality, 64 wide
        self.head = nn.Linear(64, f.n_outputs)

    def forward(self, batch):
        z = torch.stack([self.encoders[m](batch.inputs[m]) for m in batch.modalities], 1)  # (B, M, 64)
        w = batch.present.unsqueeze(-1).to(z.dtype)  # 1 where the modality is present
        return {"logits": self.head((z * w).sum(1) / w.sum(1).clamp_min(1))}


# %% [markdown]
# ## 2. Register it
#
# The name is how its cells and rows are known. `protocols` picks among the three papers'
# protocols (`footing.PROTOCOLS`); here one: MLA's Table 2, each modality of each sample missing
# with probability 50 % in training, validation and test alike. `seeds` are the model seeds. The
# trainer is the footing's unless `train=` says otherwise, and a bad protocol, an option the
# factory does not take or a model that breaks the hooks' contract is refused with the reason.

# %%
METHOD = footing.register("mean-of-present", MeanOfPresent, protocols=("rate:0.5",), seeds=(0, 1),
                          label="mean of present", replace=True)

# %% [markdown]
# Two registrations the footing refuses, and why: a model that defines a hook without the
# `TrainingHooks` mix-in (the trainer would never call it), and a protocol that does not exist.

# %%
# NBVAL_CHECK_OUTPUT
class Forgetful(nn.Module):
    def training_step(self, batch, step):  # a hook, but the class does not subclass TrainingHooks
        ...


for attempt in (lambda: footing.register("forgetful", Forgetful),
                lambda: footing.register("typo", MeanOfPresent, protocols=("rate:0.05",))):
    try:
        attempt()
    except (TypeError, ValueError) as err:
        print(f"{type(err).__name__}: {err}\n")

# %% [markdown]
# ## 3. Run it and read its rows
#
# `footing.compare` computes the cells the method's section of the record lacks and returns its
# rows. Its cells go to its own section of the comparison's record (`record["methods"][NAME]` in
# `results/compare.json`), so adding a method never makes the comparison's own record stale. On
# this page the record is written to a temporary folder (`root=`), so reading the book changes no
# committed file; leave `root` out to keep your method's cells beside the comparison's.

# %%
import logging
import tempfile
from pathlib import Path

ROOT = Path(tempfile.mkdtemp(prefix="rmm-add-your-method-"))
log = logging.getLogger("add_your_method").info  # per-cell timings go to the log, not the page
rows = footing.compare("mean-of-present", root=ROOT, log=log)

# %% [markdown]
# The record now holds the method's cells, each with its provenance: the code's hash, the package
# versions, the machine, the seconds it took and the command that recomputes it.

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
import json

section = json.loads((ROOT / "compare.json").read_text())["methods"]["mean-of-present"]
for cell, stored in section["cells"].items():
    print(f"{cell}: metrics under {sorted(stored['result']['test'])}; recompute with `{stored['command']}`")
print("configuration:", sorted(section["config"]), "; the method's part:", sorted(section["config"]["method"]))

# %% [markdown]
# The rows are those of the comparison chapter, for every situation the method ran (here one):
#
# * its **score** (mean and 95 % interval over the seeds), the **limit** of what the test samples
#   show under that protocol's masks, and what the method leaves to it;
# * its **paired difference** from the baseline a practitioner would pick: the one of LB image,
#   LB text, Concat, Late fusion and modality dropout with the best mean *validation* score in the
#   same situation, and the room the limit left above that baseline;
# * under complete training (not run here), MultiBench's relative and effective robustness over
#   both sweeps, and with `regimes=` its row of the regime map.
#
# With two seeds an interval is wide: the toy's difference from the chosen baseline will rarely
# exclude zero. The comparison's five seeds are the footing's default.

# %% tags=["hide-input"]
rows.show()

# %% [markdown]
# The numbers behind the rows are kept beside them for your own tables: `rows.differences` holds,
# per situation, the paired difference with its interval, the number of seeds paired, whether it
# is real, and which baseline was chosen.

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
d = rows.differences["rate:0.5@same"]
print("situation rate:0.5@same:", sorted(d), f"over {d['n']} seeds")

# %% [markdown]
# ## The worked example: missing-aware prompts
#
# The comparison's arm for missing-aware prompts (MAP, Lee et al. 2023) went through exactly these
# calls. `rmm_lib/contributed/map.py` holds its model (learnable prompts per missing case,
# prepended inside the footing's frozen towers; the file says how it follows the paper on two
# towers) and its registration:
#
# ```python
# footing.register("map", build_map, reads="tokens", options={"length": 16, "depth": {"image": 1, "text": 1}},
#                  protocols=("complete", "map:image", "map:both", "map:text", "rate:0.5", "trml:image", "trml:text"),
#                  regimes=("n_train=100", "n_train=300", "redundancy=0", "image_noise=1"),
#                  regime_seeds=(0, 1, 2), regime_protocols=("complete",))
# ```
#
# and one command computed its 47 cells into `results/compare.json`:
#
# ```bash
# python -m rmm_lib compare --method map
# ```
#
# A method in a module of your own runs the same way: `python -m rmm_lib compare --method NAME
# --module your_module` imports the module (which registers the method) first. The committed
# record is read below; its rows are MAP's row of {doc}`40_comparison`.

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
import rmm_lib.contributed  # noqa: F401  (registers "map")

map_rows = footing.rows("map", footing.runs("map", log=log))
for title, table in map_rows.tables.items():
    if "- the baseline" in title:
        from rmm_lib.reporting import show_table

        show_table(table, title=title, best=None)

# %% [markdown]
# Read as the chapter reads it: MAP beats the baseline chosen on validation where TRML's settings
# remove most images from training and test (+5.4 [+2.0, +8.9] and +4.7 [+2.1, +7.3] points), ties
# in six situations, and loses two: MAP with the text missing, and the image-missing sweep after
# complete training, where no training sample ever used its missing-case prompts. The last column
# is the room the limit left above that baseline, 3.9 to 10.5 points: nowhere did the baseline
# already sit at what the test samples allow. {doc}`40_comparison` puts these rows beside every
# other method, with MAP's control and its regime-map row.
