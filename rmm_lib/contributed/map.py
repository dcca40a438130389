"""Missing-aware prompts (MAP; Lee, Tsai, Chiu, Lee, CVPR 2023), put on the comparison's footing
through :mod:`rmm_lib.footing` -- the worked example of a method brought from outside the library.

MAP keeps a pretrained multimodal transformer frozen and learns, for each **missing case** -- both
modalities present, text missing, image missing -- its own set of **prompts**: ``length`` learnable
tokens prepended to the input of each of the first ``depth`` layers. A sample reads the prompts of
its own case, so the frozen layers are told which modality is absent. An absent modality is fed as
a dummy input (the empty string for text, a constant image), as MAP's protocol does (FACTS.md);
the footing's placeholders are exactly these. Only the prompts and the classifier learn.

How this file follows Lee et al. where the footing differs (each a parameter of :class:`MAPModel`):

* **two towers, not one.** MAP prompts ViLT, one transformer over both modalities. The footing
  has two frozen towers (MiniLM for the review, the one-block image tower for the photo), so each
  tower gets its own prompts per missing case, and the two towers' outputs are concatenated for
  the classifier (ViLT's pooled output would be one token).
* **input-level prompts** (``MAP Input`` of CMPT's Table 1): the prompts of layer ``i`` are
  prepended to that layer's input and stay in the sequence for the layers after it, so a tower
  with prompts at ``depth`` layers reads ``depth * length`` prompt tokens at its last prompted
  layer. Attention-level prompts (``MAP Attn.``) are not implemented here.
* **length 16** (MAP's) and **depth**: :class:`MAPModel` defaults to the first half of each
  tower's layers (:func:`half_depth`, at least one), as MAP prompts the first 6 of ViLT's 12. The
  arm registered on the footing (:data:`OPTIONS`) prompts the first layer of each tower only
  (MiniLM's first of 6, the image tower's one block): on the CPU budget of the comparison, half
  depth in MiniLM costs 1.7x the step (0.58 s against 0.34 s for a batch of 32, measured here),
  about 3 CPU-hours over the arm's cells. ``depth`` is a registration option to run it with.
* **what is read**: the image tower's class token after its final norm; MiniLM's mean over its
  real tokens (how it was trained to be read; the prompts are excluded), as the footing's other
  token methods read it.
* **classifier**: ViLT's head as MAP trains it (``Linear(w, 2w)``, LayerNorm, GELU,
  ``Linear(2w, classes)``) on the ``w = 768``-wide concatenation.
* **initialisation**: prompts drawn from N(0, 0.02^2), as ViLT's own tokens start.

Its control on the footing (the chapter's *floor*): the trained model with every sample reading
the complete case's prompts (``case_blind``) -- the same prompts and classifier, blind to which
modality is missing. Learned minus floor is what the missing-aware choice of prompts is worth.
"""
from __future__ import annotations

import torch
from torch import nn

from ..footing import Footing, register
from ..hooks import TrainingHooks

#: The missing cases a prompt set stands for, in the order of the case index.
CASES = ("complete", "text missing", "image missing")
#: MAP's defaults: 16 prompt tokens, prompts at the first half of the layers.
LENGTH = 16


def half_depth(layers: int) -> int:
    """MAP's default depth on a tower of ``layers`` layers: its first half, at least one."""
    return max(1, layers // 2)


def missing_case(present: torch.Tensor) -> torch.Tensor:
    """``(B,)`` index into :data:`CASES` from a ``(B, 2)`` presence mask ordered (image, text)."""
    if present.dim() != 2 or present.shape[1] != 2:
        raise ValueError(f"MAP reads a (B, 2) presence mask of (image, text); got {tuple(present.shape)}.")
    if not present.any(1).all():
        raise ValueError("A sample has neither modality; MAP defines prompts for complete, text-missing "
                         "and image-missing samples only.")
    image, text = present[:, 0], present[:, 1]
    return torch.where(image & text, 0, torch.where(image, 1, 2))


class MAPModel(TrainingHooks, nn.Module):
    """Missing-aware input-level prompts in the footing's two frozen towers, and ViLT's classifier.

    Parameters
    ----------
    towers: ``{"image": ImageTokens, "text": TextTokens}`` (:meth:`rmm_lib.footing.Footing.towers`),
        kept frozen.
    out_dim: number of classes.
    length: prompt tokens per layer and missing case (MAP: 16).
    depth: ``{"image": n, "text": n}`` layers prompted from the first (default :func:`half_depth`).
    """

    #: the towers skip no modality, but a prompt set of a case absent from a batch gets no gradient
    unused_parameters = True

    def __init__(self, towers: dict, out_dim: int, length: int = LENGTH, depth: dict | None = None):
        super().__init__()
        if set(towers) != {"image", "text"}:
            raise ValueError(f"MAP on the footing needs the image and text towers; got {sorted(towers)}.")
        self.image, self.text = towers["image"].requires_grad_(False), towers["text"].requires_grad_(False)
        layers = {"image": len(self.image.visual.transformer.resblocks), "text": len(self.text.model.encoder.layer)}
        depth = {m: half_depth(n) for m, n in layers.items()} | dict(depth or {})
        for m, d in depth.items():
            if m not in layers or not 1 <= d <= layers[m]:
                raise ValueError(f"depth[{m!r}] must be between 1 and the tower's {layers.get(m)} layers; got {d}.")
        if length < 1:
            raise ValueError(f"The prompt length must be >= 1, got {length}.")
        self.length, self.depth = length, depth
        width = {"image": self.image.dim, "text": self.text.dim}
        # prompts[m]: (case, layer, token, width)
        self.prompts = nn.ParameterDict({m: nn.Parameter(torch.randn(len(CASES), depth[m], length, width[m]) * 0.02)
                                         for m in ("image", "text")})
        w = width["image"] + width["text"]
        #: Diagnostic control (off): every sample reads the complete case's prompts, as a model
        #: blind to which modality is missing would -- what the missing-aware choice is worth.
        self.case_blind = False
        self.head = nn.Sequential(nn.Linear(w, 2 * w), nn.LayerNorm(2 * w), nn.GELU(), nn.Linear(2 * w, out_dim))

    def _image(self, images: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        v = self.image.visual
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        x = v.conv1(images.to(v.class_embedding.dtype)).flatten(2).transpose(1, 2)
        x = torch.cat([v.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1), x], dim=1) + v.positional_embedding
        x = v.ln_pre(x)
        n = prompts.shape[2]  # prompt tokens per layer
        batch_first = getattr(v.transformer, "batch_first", True)
        for i, block in enumerate(v.transformer.resblocks):
            if i < self.depth["image"]:
                x = torch.cat([prompts[:, i], x], dim=1)
            x = block(x) if batch_first else block(x.transpose(0, 1)).transpose(0, 1)
        return v.ln_post(x[:, self.depth["image"] * n])  # the class token, after the prompts

    def _text(self, strings, prompts: torch.Tensor) -> torch.Tensor:
        t = self.text
        enc = t.tokenizer(list(strings), padding=True, truncation=True, max_length=t.max_length, return_tensors="pt")
        ids, mask = enc["input_ids"].to(prompts.device), enc["attention_mask"].to(prompts.device)
        x = t.model.embeddings(input_ids=ids)  # real tokens at their pretrained positions
        keep, n = mask.to(x.dtype), prompts.shape[2]
        for i, layer in enumerate(t.model.encoder.layer):
            if i < self.depth["text"]:
                x = torch.cat([prompts[:, i], x], dim=1)
                keep = torch.cat([keep.new_ones(x.shape[0], n), keep], dim=1)
            additive = (1.0 - keep)[:, None, None, :] * torch.finfo(x.dtype).min
            x = layer(x, attention_mask=additive)
            x = x[0] if isinstance(x, tuple) else x
        real = mask[:, :, None].to(x.dtype)
        words = x[:, self.depth["text"] * n:]
        return (words * real).sum(1) / real.sum(1).clamp_min(1)

    def forward(self, batch) -> dict:
        if tuple(batch.modalities) != ("image", "text"):
            raise ValueError(f"MAP on the footing reads (image, text); the batch has {batch.modalities}.")
        case = missing_case(batch.present)
        if self.case_blind:
            case = torch.zeros_like(case)
        image = self._image(batch.inputs["image"], self.prompts["image"][case])
        text = self._text(batch.strings["text"], self.prompts["text"][case])
        fused = torch.cat([image, text], dim=1)
        return {"logits": self.head(fused), "features": {"fused": fused, "image": image, "text": text}}


def build_map(footing: Footing, length: int = LENGTH, depth: dict | None = None) -> MAPModel:
    """MAP's model for one cell of the footing: fresh frozen towers, prompts, classifier."""
    return MAPModel(footing.towers(), footing.n_outputs, length, depth)


#: MAP's options on the footing (recorded in its section's configuration): MAP's prompt length,
#: the first layer of each tower (the budget's choice; the module docstring says why).
OPTIONS = {"length": LENGTH, "depth": {"image": 1, "text": 1}}
#: The protocols MAP runs (CMPT's token-method budget: every protocol but the outer shared rates),
#: and CMPT's regime points (complete training, three seeds each).
PROTOCOLS = ("complete", "map:image", "map:both", "map:text", "rate:0.5", "trml:image", "trml:text")
REGIMES = ("n_train=100", "n_train=300", "redundancy=0", "image_noise=1")

METHOD = register(
    "map", build_map, reads="tokens", options=OPTIONS, protocols=PROTOCOLS, regimes=REGIMES, regime_seeds=(0, 1, 2),
    regime_protocols=("complete",), controls={"floor": {"case_blind": True}},
    sample=("n_train=100/map|complete/seed=0",),  # the cheapest cell (about 40 s): what CI recomputes
    # its loss trace moves up to 5.9 % under other kernels (benchmarks/kernel_drift.py --grids
    # compare-map, the towers pretrained under each path's kernels): twice that, rounded up
    trace_tolerance=0.12,
    label="MAP (prompts)",
    description="Missing-aware input-level prompts (Lee et al. 2023) in the footing's frozen towers: 16 "
                "prompts per missing case at the first layer of each tower, ViLT's classifier.")

__all__ = ["MAPModel", "CASES", "LENGTH", "half_depth", "missing_case", "build_map", "OPTIONS", "METHOD"]
