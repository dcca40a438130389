"""The three methods' architectures, drawn for the book with matplotlib patches and arrows.

Our own drawings of what each paper's overview figure shows (TRML Fig. 2, MLA Fig. 1, CMPT Fig.
1a), labelled with the paper's equation numbers so that a reader can go from a box to its equation
and to the code. Boxes are blue for what is trained, grey for what stays frozen, orange for a
loss; the text is at least ``style.MIN_FONT_PT`` points and the figures ``style.MAX_WIDTH_IN`` wide.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .style import MIN_FONT_PT, OKABE_ITO

MAX_WIDTH_IN = 7.5  # a diagram fills the column; its 10-point text still renders at 12 px or more

TRAINED = {"face": "#d6e6f4", "edge": OKABE_ITO["blue"]}
FROZEN = {"face": "#ececec", "edge": "#6b6b6b"}
LOSS = {"face": "#fbe6c2", "edge": OKABE_ITO["orange"]}
DATA = {"face": "white", "edge": "#333333"}
IDLE = {"face": "white", "edge": "#a0a0a0"}
FONT = MIN_FONT_PT + 0.5


def _canvas(width: float, height: float, units=(100.0, None)):
    """A figure ``width`` x ``height`` inches whose axes run 0-100 across and keep squares square."""
    fig, ax = plt.subplots(figsize=(width, height))
    fig.subplots_adjust(0, 0, 1, 1)
    w = units[0]
    h = w * height / width
    ax.set_xlim(0, w), ax.set_ylim(0, h), ax.axis("off")
    return fig, ax


def _box(ax, x, y, w, h, text, kind=TRAINED, fontsize=FONT, dashed=False, weight="normal"):
    """A rounded box with its lower left corner at (x, y); returns its centre and edges."""
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.2,rounding_size=1.2", fc=kind["face"],
                                ec=kind["edge"], lw=1.3, ls="--" if dashed else "-"))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize, weight=weight,
            color="#555555" if kind is IDLE else "black", linespacing=1.25)
    return {"l": (x, y + h / 2), "r": (x + w, y + h / 2), "t": (x + w / 2, y + h), "b": (x + w / 2, y),
            "c": (x + w / 2, y + h / 2)}


def _arrow(ax, a, b, color="#333333", style="-|>", rad=0.0, dashed=False, both=False):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="<|-|>" if both else style, mutation_scale=11, lw=1.3,
                                 color=color, ls="--" if dashed else "-",
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=1, shrinkB=1))


def _note(ax, x, y, text, fontsize=FONT, **kwargs):
    ax.text(x, y, text, fontsize=fontsize, **{"ha": "left", "va": "center", **kwargs})


def _legend(ax, x, y):
    """What the boxes' colours mean, as a row of small boxes."""
    for k, (kind, label) in enumerate(((TRAINED, "trained"), (FROZEN, "frozen here"), (LOSS, "loss"))):
        _box(ax, x + 19 * k, y, 3.2, 2.6, "", kind)
        _note(ax, x + 19 * k + 4.4, y + 1.3, label)


def draw_trml():
    """TRML (after its Fig. 2): foundation-model features, the two generators that make virtual
    features, sum fusion with the virtual feature in place of a missing one, and semantic matching."""
    fig, ax = _canvas(MAX_WIDTH_IN, 4.6)
    # inputs and the foundation model (Eq. 1-3)
    t_in = _box(ax, 1, 36, 12, 7, "text\n$T$", DATA)
    v_in = _box(ax, 1, 14, 12, 7, "video\nframes $V$", DATA)
    t_enc = _box(ax, 18, 36, 17, 7, "text tower\n$f_{\\theta_t}$ (1)", FROZEN)
    v_enc = _box(ax, 18, 14, 17, 7, "image tower\n$f_{\\theta_{\\bar v}}$ (2)", FROZEN)
    gru = _box(ax, 18, 2.5, 17, 7, "temporal\nencoder (3)", TRAINED)
    _arrow(ax, t_in["r"], t_enc["l"]), _arrow(ax, v_in["r"], v_enc["l"])
    _arrow(ax, v_enc["b"], gru["t"])
    # features and generators (Eq. 4-6)
    xt = _box(ax, 40, 36, 8, 7, "$x_t$", DATA)
    xv = _box(ax, 40, 2.5, 8, 7, "$x_v$", DATA)
    _arrow(ax, t_enc["r"], xt["l"]), _arrow(ax, gru["r"], xv["l"])
    t2v = _box(ax, 53, 25, 15, 7, "$f_{\\theta_{t2v}}$ (5, 6)\nMLP-ReLU-MLP", TRAINED)
    v2t = _box(ax, 53, 13, 15, 7, "$f_{\\theta_{v2t}}$ (4, 6)\nMLP-ReLU-MLP", TRAINED)
    _arrow(ax, xt["b"], t2v["l"], rad=0.25), _arrow(ax, xv["t"], v2t["l"], rad=-0.25)
    vxv = _box(ax, 72, 25, 8, 7, "$\\bar x_v$", DATA)
    vxt = _box(ax, 72, 13, 8, 7, "$\\bar x_t$", DATA)
    _arrow(ax, t2v["r"], vxv["l"]), _arrow(ax, v2t["r"], vxt["l"])
    # fusion and head (Eq. 7-9)
    fuse = _box(ax, 84, 33, 15, 12, "sum (7-9):\n$x_t + x_v$, or\nthe virtual\nin place of\nthe missing", TRAINED,
                fontsize=MIN_FONT_PT)
    _arrow(ax, xt["r"], fuse["l"]), _arrow(ax, vxv["r"], (fuse["b"][0] - 3, fuse["b"][1]), rad=0.2)
    _arrow(ax, vxt["r"], (fuse["b"][0] + 3, fuse["b"][1]), rad=0.3)
    head = _box(ax, 84, 47, 15, 6, "head $\\to \\hat y$, $\\mathcal{L}_{task}$", TRAINED, fontsize=MIN_FONT_PT)
    _arrow(ax, fuse["t"], head["b"])
    # semantic matching (Eq. 10-18) and the objective (Eq. 19)
    sml = _box(ax, 53, 0.3, 46, 11, "semantic matching (10-18): cosine of\neach original with its virtual, "
               "softmax\nat $\\tau$ both ways, cross-entropy: $\\mathcal{L}_{sml}$", LOSS, fontsize=MIN_FONT_PT)
    _arrow(ax, vxt["b"], (sml["t"][0] - 18, sml["t"][1]), color=OKABE_ITO["orange"], dashed=True)
    _arrow(ax, xv["r"], (sml["l"][0], sml["l"][1] + 2), color=OKABE_ITO["orange"], dashed=True)
    _note(ax, 1, 49, "$\\mathcal{L} = \\mathcal{L}_{task} + \\alpha\\,\\mathcal{L}_{sml}$ (19)")
    _note(ax, 1, 54.5, "TRML: virtual modalities from a foundation model (numbers: the paper's equations)",
          weight="bold")
    _legend(ax, 34, 48.3)
    return fig


def draw_mla():
    """MLA (after its Fig. 1): (a) training, one modality per step through a shared head whose
    gradient is projected; (b) test, each modality's prediction weighted by its entropy."""
    fig, ax = _canvas(MAX_WIDTH_IN, 4.4)
    _note(ax, 1, 56, "MLA: alternating unimodal adaptation (numbers: the paper's equations)", weight="bold")
    _note(ax, 1, 50.5, "(a) training, iteration $t$: modality $m_t = t \\ \\mathrm{mod}\\ M$ (1)")
    names = ("audio", "image", "text")
    ys = (38, 27, 16)
    encoders = []
    for k, (name, y) in enumerate(zip(names, ys)):
        active = k == 1
        x_in = _box(ax, 1, y, 9, 7, f"$x_{k + 1}$\n{name}", DATA if active else IDLE)
        enc = _box(ax, 14, y, 11, 7, f"$h_{k + 1}$", TRAINED if active else IDLE, dashed=not active)
        _arrow(ax, x_in["r"], enc["l"], color="#333333" if active else "#b0b0b0")
        encoders.append(enc)
    head = _box(ax, 31, 27, 10, 7, "shared\nhead $g$", TRAINED)
    _arrow(ax, encoders[1]["r"], head["l"])
    for enc in (encoders[0], encoders[2]):
        _arrow(ax, enc["r"], head["l"], color="#b0b0b0", dashed=True)
    loss = _box(ax, 31, 40, 10, 6.5, "$\\mathcal{L}_t$ (2)", LOSS)
    _arrow(ax, head["t"], loss["b"])
    proj = _box(ax, 25, 3, 22, 9, "head update\n$\\mathbf{P}_t \\nabla_\\phi \\mathcal{L}_t$ (3, 4)", TRAINED,
                fontsize=MIN_FONT_PT)
    _arrow(ax, proj["t"], head["b"], color=OKABE_ITO["blue"])
    _note(ax, 1, 8.5, "only $h_{m_t}$\nand $g$ learn", fontsize=MIN_FONT_PT)
    ax.plot([51, 51], [2, 52], color="#9a9a9a", lw=1)
    # (b) test-time dynamic fusion
    _note(ax, 53, 50.5, "(b) test: every present modality")
    outs = []
    for k, (name, y) in enumerate(zip(names, ys)):
        f = _box(ax, 53, y, 14, 7, f"$f_{k + 1} = g \\circ h_{k + 1}$", FROZEN, fontsize=MIN_FONT_PT)
        e = _box(ax, 71, y, 11, 7, f"$e_{k + 1}$ (6)\n$\\lambda_{k + 1}$ (7)", FROZEN, fontsize=MIN_FONT_PT)
        _arrow(ax, f["r"], e["l"])
        outs.append(e)
    fused = _box(ax, 86, 24, 13, 13, "weighted\nsum (5)\n$\\hat y = \\Sigma\\, \\lambda_m f_m$", FROZEN,
                 fontsize=MIN_FONT_PT)
    for e in outs:
        _arrow(ax, e["r"], fused["l"])
    _note(ax, 53, 8.5, "entropy $e_m$ of each prediction;\nthe surer, the larger $\\lambda_m$",
          fontsize=MIN_FONT_PT)
    return fig


def draw_cmpt():
    """CMPT (after its Fig. 1a): per modality, a proxy token and the class token in front of the
    tokens of a frozen, LoRA-adapted encoder; the proxy aligned to the other modality's class
    token; a gate that sums two tokens and a linear head."""
    fig, ax = _canvas(MAX_WIDTH_IN, 4.5)
    _note(ax, 1, 57, "CMPT: cross-modal proxy tokens (numbers: the paper's equations)", weight="bold")
    rows = {1: ("image", 38), 2: ("text", 8)}
    outs = {}
    for m, (name, y) in rows.items():
        x_in = _box(ax, 1, y, 9, 8, f"$x_{{m_{m}}}$\n{name}", DATA)
        emb = _box(ax, 14, y, 12, 8, "embedding\n(1)", FROZEN)
        _arrow(ax, x_in["r"], emb["l"])
        # the token row of Eq. 2: proxy, class, then the modality's tokens
        tokens = [("P", TRAINED), ("C", FROZEN)] + [("", DATA)] * 4
        for k, (label, kind) in enumerate(tokens):
            _box(ax, 30 + 3.6 * k, y + 2, 2.6, 4, label, kind, fontsize=MIN_FONT_PT)
        _note(ax, 29.5, y + 10.2, "[proxy, CLS, tokens] (2)", fontsize=MIN_FONT_PT)
        _arrow(ax, emb["r"], (29.6, y + 4))
        enc = _box(ax, 53, y, 15, 8, f"encoder $f_{{m_{m}}}$\n+ LoRA $\\Delta$ (3)", FROZEN)
        _arrow(ax, (51.8, y + 4), enc["l"])
        upper, lower = (y + 4.5, y - 1) if m == 2 else (y - 1, y + 4.5)  # the proxies face the alignment
        p = _box(ax, 72, upper, 10, 4.5, f"$\\hat{{T}}_{{P,{m}}}$", TRAINED, fontsize=MIN_FONT_PT)
        c = _box(ax, 72, lower, 10, 4.5, f"$\\hat{{T}}_{{C,{m}}}$", FROZEN, fontsize=MIN_FONT_PT)
        _arrow(ax, enc["r"], p["l"]), _arrow(ax, enc["r"], c["l"])
        outs[m] = (p, c)
    # alignment (Eq. 4): each proxy towards the other modality's class token
    (p1, c1), (p2, c2) = outs[1], outs[2]
    align = _box(ax, 57, 21, 27, 10, "alignment (4): each proxy\n$\\approx$ the other modality's\nCLS token (MSE)",
                 LOSS, fontsize=MIN_FONT_PT)
    _arrow(ax, p1["b"], (p1["b"][0], align["t"][1]), color=OKABE_ITO["orange"], dashed=True)
    _arrow(ax, p2["t"], (p2["t"][0], align["b"][1]), color=OKABE_ITO["orange"], dashed=True)
    gate = _box(ax, 86, 26, 13, 14, "gate (5):\nsum two\nof the four\ntokens", TRAINED, fontsize=MIN_FONT_PT)
    for p, c in outs.values():
        _arrow(ax, p["r"], gate["l"]), _arrow(ax, c["r"], gate["l"])
    head = _box(ax, 86, 45, 13, 7, "head $h$\n$\\to \\hat y$ (6)", TRAINED, fontsize=MIN_FONT_PT)
    _arrow(ax, gate["t"], head["b"])
    _note(ax, 1, 29, "$\\mathcal{L}_{total} = \\mathcal{L}_{task} + \\lambda\\,\\mathcal{L}_{align}$ (7)")
    _note(ax, 1, 23, "a missing modality: its CLS is\nreplaced by the other's proxy", fontsize=MIN_FONT_PT)
    _legend(ax, 1, 51)
    return fig
