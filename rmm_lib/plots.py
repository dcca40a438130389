"""Plotting helpers used by the notebooks: masks, t-SNE, similarity heatmaps, metric curves, and
the comparison's figures (sweeps in panels, differences along the benchmark's knobs, the verdict
map, intervals beside their limits).

Every figure is drawn for the book's column: at most ``style.MAX_WIDTH_IN`` inches wide, no text
below ``style.MIN_FONT_PT`` points, legends outside the data, the colour-blind-safe
``style.PALETTE`` (``rmm_lib.notebook.setup`` applies the style; the functions here also size their
text explicitly, so a figure keeps its sizes without it).
"""
from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from sklearn.manifold import TSNE

from .style import GREY, MAX_WIDTH_IN, MIN_FONT_PT, PALETTE, VERDICT_COLORS

PRESENCE_CMAP = ListedColormap(["#d9d9d9", PALETTE[0]])  # grey = absent, blue = present
SMALL = MIN_FONT_PT  # the size of secondary text (ticks, legends, annotations)


def place_legend(ax, where: str | None, **kwargs):
    """A legend outside the data: ``"outside"`` right of the axes, ``"below"`` under them,
    ``"inside"`` matplotlib's best place, None none."""
    handles, labels = ax.get_legend_handles_labels()
    if where is None or not handles:
        return None
    kwargs.setdefault("fontsize", SMALL)
    kwargs.setdefault("frameon", False)
    if where == "outside":
        return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, **kwargs)
    if where == "below":
        kwargs.setdefault("ncols", min(3, len(handles)))
        return ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), **kwargs)
    return ax.legend(**kwargs)


def plot_presence(masks: dict, modalities: Sequence[str], n_show: int = 40, ncols: int | None = None):
    """One panel per protocol: samples as columns, modalities as rows; blue = present, grey = absent.
    The panel title gives each modality's missing fraction over the whole split."""
    ncols = min(ncols or len(masks), 3)
    nrows = int(np.ceil(len(masks) / ncols))
    width = min(MAX_WIDTH_IN, 2.5 * ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, (0.95 + 0.28 * len(modalities)) * nrows),
                             squeeze=False, layout="constrained")
    for ax, (title, mask) in zip(axes.flat, masks.items()):
        mask = np.asarray(mask, dtype=bool)
        ax.imshow(mask[:n_show].T, cmap=PRESENCE_CMAP, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        ax.set_yticks(range(len(modalities)), modalities, fontsize=SMALL)
        ax.set_xticks([])
        missing = ", ".join(f"{m[0]} {1 - mask[:, j].mean():.0%}" for j, m in enumerate(modalities))
        ax.set_title(f"{title}\nmissing: {missing}", fontsize=SMALL)
    for ax in list(axes.flat)[len(masks):]:
        ax.axis("off")
    return fig


def tsne_embed(features, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """2-D t-SNE (scikit-learn) of ``(N, D)`` features."""
    x = features.detach().cpu().numpy() if torch.is_tensor(features) else np.asarray(features)
    perplexity = min(perplexity, max(2.0, (len(x) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)


def plot_tsne(features, labels, label_names: Sequence[str] | None = None, seed: int = 0, ax=None, title=""):
    """Scatter of a t-SNE embedding coloured by ``labels``."""
    xy = tsne_embed(features, seed)
    labels = np.asarray(labels)
    ax = ax or plt.subplots(figsize=(4.5, 4))[1]
    for k in np.unique(labels):
        name = label_names[k] if label_names is not None else str(k)
        ax.scatter(*xy[labels == k].T, s=8, label=name)
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(title)
    place_legend(ax, "below", markerscale=2, ncols=1)
    return ax


def cosine_similarity_matrix(a, b) -> torch.Tensor:
    """``(N, N)`` cosine similarities between rows of ``a`` and rows of ``b``."""
    a, b = torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32)
    return torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T


def plot_similarity(matrix, row_label: str = "", col_label: str = "", ax=None, title: str = "", annotate: bool = True,
                    vmin=None, vmax=None, colorbar: bool = True):
    """Heatmap of a similarity matrix (values annotated when small). ``vmin``/``vmax`` fix the
    colour scale, e.g. ``-1, 1`` for cosines, so that panels side by side can be compared."""
    m = np.asarray(matrix.detach().cpu() if torch.is_tensor(matrix) else matrix)
    ax = ax or plt.subplots(figsize=(4, 3.6))[1]
    im = ax.imshow(m, cmap="viridis", vmin=vmin, vmax=vmax)
    if annotate and m.shape[0] <= 10:
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=SMALL, color="w")
    ax.set_xlabel(col_label), ax.set_ylabel(row_label), ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046)
    return ax


def plot_metric_curve(rates, curves: dict, metric: str = "accuracy", paper: dict | None = None, ax=None, title="",
                      ylim=None, limits: dict | None = None, legend: str | None = "outside"):
    """Metric against missing rate, one line per method; ``paper`` curves (the papers' reported
    numbers) are drawn dashed and labelled as the paper's. A curve given as ``{"mean", "low",
    "high"}`` lists (over seeds) is drawn with its 95 % band. ``limits`` (``{label: value}``) are
    horizontal dotted lines, e.g. the information limit of all modalities. ``ylim`` fixes the axis
    (accuracies default to 0-1, so that a flat curve looks flat). ``legend``: ``"outside"`` (right
    of the axes), ``"below"``, ``"inside"`` or None."""
    ax = ax or plt.subplots(figsize=(4.5, 3.2))[1]
    x = np.asarray(rates) * 100
    for name, values in curves.items():
        if isinstance(values, dict):
            line, = ax.plot(x, values["mean"], marker="o", label=f"{name} (ours)")
            ax.fill_between(x, values["low"], values["high"], color=line.get_color(), alpha=0.2, lw=0)
        else:
            ax.plot(x, values, marker="o", label=f"{name} (ours)")
    for name, (paper_rates, values) in (paper or {}).items():
        ax.plot(np.asarray(paper_rates) * 100, values, ls="--", marker="x", label=f"{name} (paper)")
    for name, value in (limits or {}).items():
        ax.axhline(value, ls=":", color="0.3", lw=1)
        ax.annotate(name, (x.min(), value), xytext=(2, 3), textcoords="offset points", fontsize=SMALL, color="0.3")
    ax.set_xlabel("missing rate (%)"), ax.set_ylabel(metric), ax.set_title(title)
    if ylim is None and metric == "accuracy" and not paper:
        ylim = (0, 1)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    place_legend(ax, legend)
    return ax


def plot_per_class(values, class_names: Sequence[str], ax=None, title: str = "", ylim=(0, 1),
                   ylabel: str = "accuracy", errors=None):
    """Bar chart of a per-class quantity (e.g. accuracy); ``errors`` ``(2, K)`` below/above each bar
    (an interval over seeds) are drawn as error bars."""
    ax = ax or plt.subplots(figsize=(4, 2.8))[1]
    ax.bar(range(len(values)), values, color=PALETTE[0], yerr=errors, capsize=2 if errors is not None else 0)
    ax.set_xticks(range(len(values)), class_names, rotation=45, ha="right", rotation_mode="anchor", fontsize=SMALL)
    ax.set_ylim(*ylim), ax.set_title(title), ax.set_ylabel(ylabel)
    return ax


def plot_benchmark_samples(dataset, n: int = 4):
    """Each modality of ``n`` samples: the label photo, the spectrogram and the review text."""
    names = dataset.meta.get("class_names")
    width = min(MAX_WIDTH_IN, 1.9 * n)
    fig, axes = plt.subplots(2, n, figsize=(width, 5.4), layout="constrained", height_ratios=(1, 1.25))
    wrap = max(12, int(width / n * 72 / (0.55 * SMALL)))  # characters per title line at this width
    for i in range(n):
        b = dataset[i]
        label = names[int(b.label)] if names else int(b.label)
        score = "" if b.score is None else f"\nscore {float(b.score):+.2f}"
        axes[0, i].imshow(b.inputs["image"][0, 0], cmap="gray_r")
        axes[0, i].set_title(f"{label}{score}", fontsize=SMALL)
        axes[1, i].imshow(b.inputs["audio"][0].T, aspect="auto", origin="lower", cmap="magma")
        axes[1, i].set_xlabel("frame", fontsize=SMALL)
        axes[1, i].set_title("\n".join(textwrap.wrap(b.strings["text"][0], wrap)) or '""', fontsize=SMALL)
        for ax in axes[:, i]:
            ax.set_xticks([]), ax.set_yticks([])
    axes[1, 0].set_ylabel("mel bin", fontsize=SMALL)
    return fig



# ----------------------------------------------------------------------------- added by the MLA chapter
def plot_curves(x, curves: dict, xlabel: str = "", ylabel: str = "", ax=None, title: str = "", styles: dict | None = None,
                ylim=None, legend: str | None = "outside"):
    """One line per entry of ``curves`` (``{label: values}``) against ``x``; ``styles`` maps a label
    to matplotlib keyword arguments (e.g. ``{"ls": "--"}`` for paper curves). ``ylim`` fixes the
    axis (e.g. ``(0, 1)`` for accuracies, so that a flat curve looks flat). A curve given as
    ``{"mean", "low", "high"}`` lists (over seeds) is drawn with its 95 % band. ``legend`` as in
    :func:`plot_metric_curve`."""
    ax = ax or plt.subplots(figsize=(4.5, 3.2))[1]
    for label, values in curves.items():
        mean = values["mean"] if isinstance(values, dict) else values
        line, = ax.plot(x, mean, marker="o", ms=3, label=label, **(styles or {}).get(label, {}))
        if isinstance(values, dict):
            ax.fill_between(x, values["low"], values["high"], color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xlabel(xlabel), ax.set_ylabel(ylabel), ax.set_title(title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    place_legend(ax, legend)
    return ax


def plot_histograms(values: dict, bins: int = 20, ax=None, xlabel: str = "", title: str = "", range_=None,
                    ylabel: str = "samples", legend: str | None = "outside"):
    """Overlaid histograms, one per entry of ``values`` (``{label: 1-D array}``); ``ylabel`` names
    what is counted (samples, training steps, ...)."""
    ax = ax or plt.subplots(figsize=(5, 3.2))[1]
    for label, v in values.items():
        v = np.asarray(v.detach().cpu() if torch.is_tensor(v) else v).ravel()
        ax.hist(v, bins=bins, range=range_, alpha=0.55, label=label)
    ax.set_xlabel(xlabel), ax.set_ylabel(ylabel), ax.set_title(title)
    place_legend(ax, legend)
    return ax


def plot_method_bars(values: dict, paper: dict | None = None, ax=None, ylabel: str = "accuracy (%)", title: str = "",
                     ylim=None):
    """Bars of one number per method (ours, solid) with the paper's number beside it (hatched,
    labelled "paper") where ``paper`` has one."""
    ax = ax or plt.subplots(figsize=(4.5, 3))[1]
    names = list(values)
    x = np.arange(len(names))
    ax.bar(x - 0.2, [values[n] for n in names], 0.4, label="ours", color=PALETTE[0])
    if paper:
        ax.bar(x + 0.2, [paper.get(n, np.nan) for n in names], 0.4, label="paper", color="#d9d9d9",
               hatch="//", edgecolor="#555555")
    ax.set_xticks(x, names, fontsize=SMALL)
    ax.set_ylabel(ylabel), ax.set_title(title)
    if ylim:
        ax.set_ylim(*ylim)
    place_legend(ax, "outside")
    return ax


def plot_modality_gap(features_a, features_b, labels=("a", "b"), ax=None, title: str = "", seed: int = 0):
    """The modality gap as a picture (as in Liang et al. 2022 and MLA's Fig. 3): both modalities'
    L2-normalised features in one 2-D PCA (scikit-learn), their centroids joined by a line."""
    from sklearn.decomposition import PCA

    a = torch.nn.functional.normalize(torch.as_tensor(features_a, dtype=torch.float32), dim=1).numpy()
    b = torch.nn.functional.normalize(torch.as_tensor(features_b, dtype=torch.float32), dim=1).numpy()
    xy = PCA(n_components=2, random_state=seed).fit_transform(np.concatenate([a, b]))
    xa, xb = xy[: len(a)], xy[len(a):]
    ax = ax or plt.subplots(figsize=(4, 3.6))[1]
    ax.scatter(*xa.T, s=5, alpha=0.5, label=labels[0])
    ax.scatter(*xb.T, s=5, alpha=0.5, label=labels[1])
    ca, cb = xa.mean(0), xb.mean(0)
    ax.plot([ca[0], cb[0]], [ca[1], cb[1]], "k-", lw=1.5)
    ax.scatter([ca[0], cb[0]], [ca[1], cb[1]], c="k", s=25, zorder=3)
    gap = float(np.linalg.norm(a.mean(0) - b.mean(0)))
    ax.set_title(f"{title}\ngap = {gap:.2f}" if title else f"gap = {gap:.2f}")
    ax.set_xticks([]), ax.set_yticks([])
    place_legend(ax, "below", markerscale=3)


def plot_token_attention(weights, tokens: Sequence[str], rows: Sequence[str], ax=None, title: str = ""):
    """Attention weights ``(len(rows), len(tokens))`` of a few query tokens (e.g. a proxy token and
    the class token) over a sequence, as a heatmap with the tokens on the x axis."""
    w = np.asarray(weights.detach().cpu() if torch.is_tensor(weights) else weights, dtype=float)
    if w.shape != (len(rows), len(tokens)):
        raise ValueError(f"weights have shape {w.shape}, expected ({len(rows)}, {len(tokens)}).")
    ax = ax or plt.subplots(figsize=(min(MAX_WIDTH_IN, 0.42 * len(tokens) + 1.8), 0.45 * len(rows) + 1.6))[1]
    im = ax.imshow(w, cmap="magma", aspect="auto")
    ax.set_xticks(range(len(tokens)), tokens, rotation=60, ha="right", rotation_mode="anchor", fontsize=SMALL)
    ax.set_yticks(range(len(rows)), rows, fontsize=SMALL)
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, fraction=0.03)
    return ax


# ----------------------------------------------------------------------------- the comparison's figures
def _band(values, scale: float):
    """(mean, low, high) arrays of a curve given as a list or as ``{"mean", "low", "high"}``."""
    if isinstance(values, dict):
        return tuple(scale * np.asarray(values[k], dtype=float) for k in ("mean", "low", "high"))
    mean = scale * np.asarray(values, dtype=float)
    return mean, None, None


def plot_sweep_grid(rates, curves: dict, rows: dict, reference: str | None = None, limits: dict | None = None,
                    scale: float = 100.0, ylabel: str = "test accuracy (%)", ylim=(0, 100),
                    xlabel: str = "test samples without the {column} (%)", columns: dict | None = None):
    """Curves against a missing rate in a grid of panels with one y scale: a column per entry of
    ``curves`` (``{column: {name: curve}}``, e.g. the modality that goes missing), a row per entry of
    ``rows`` (``{row title: [names]}``), so that no panel holds more than a few curves. Each curve
    is a list or ``{"mean", "low", "high"}`` (a 95 % band). ``reference`` (a name) is drawn grey and
    dashed in every row as the yardstick; ``limits`` (``{column: values}``) a dotted black line.
    Each row's legend sits under it. ``columns`` (``{column: title}``) titles the columns; the
    x label may name the column as ``{column}``."""
    names_of = list(curves)
    x = 100 * np.asarray(rates, dtype=float)
    fig = plt.figure(figsize=(MAX_WIDTH_IN, 3.5 * len(rows)), layout="constrained")
    subfigs = np.atleast_1d(fig.subfigures(len(rows), 1))
    axes = []
    for r, (sub, (row_title, names)) in enumerate(zip(subfigs, rows.items())):
        row_axes = sub.subplots(1, len(names_of), sharey=True, squeeze=False)[0]
        axes.append(row_axes)
        for c, (ax, column) in enumerate(zip(row_axes, names_of)):
            if reference is not None and reference not in names:
                mean, _, _ = _band(curves[column][reference], scale)
                ax.plot(x, mean, color=GREY, ls="--", lw=1.5, label=f"{reference} (reference)")
            for k, name in enumerate(names):
                mean, low, high = _band(curves[column][name], scale)
                color = PALETTE[k % len(PALETTE)]
                ax.plot(x, mean, color=color, marker="o", ms=3, lw=1.6, label=name)
                if low is not None:
                    ax.fill_between(x, low, high, color=color, alpha=0.18, lw=0)
            if limits is not None and column in limits:
                ax.plot(x, scale * np.asarray(limits[column], dtype=float), ":", color="k", lw=1.4,
                        label="limit of what the test shows")
            ax.grid(alpha=0.3)
            ax.set_title(f"{row_title}: {(columns or {}).get(column, column)}")
            ax.set_xlabel(xlabel.format(column=column))
            if ylim is not None:
                ax.set_ylim(*ylim)
        row_axes[0].set_ylabel(ylabel)
        handles, labels = row_axes[0].get_legend_handles_labels()
        ncols = 3 if max(map(len, labels)) <= 26 else 2  # long names in three columns overflow the page
        sub.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize=SMALL, frameon=False)
    return fig


def _errorbars(ax, positions, diffs, color, label, scale):
    points = [(p, d) for p, d in zip(positions, diffs) if d is not None]
    if not points:
        return
    pos = [p for p, _ in points]
    mid = np.array([scale * d["mean"] for _, d in points])
    err = np.array([[scale * (d["mean"] - d["low"]) for _, d in points], [scale * (d["high"] - d["mean"]) for _, d in points]])
    ax.errorbar(pos, mid, yerr=err, color=color, marker="o", ms=4.5, capsize=2.5, lw=1.4, label=label)


def plot_knob_differences(knobs: dict, situations: dict, scale: float = 100.0,
                          ylabel: str = "method - chosen baseline (points)", testbed: dict | None = None):
    """Each method's paired difference from a baseline (mean and 95 % interval) at each point of
    each knob: a row of panels per knob (``{knob: [tick labels]}``), a column per situation
    (``situations``: ``{situation: {knob: {method: [difference or None per point]}}}``, a
    difference being ``{"mean", "low", "high"}``), one y scale for all, a line at zero. ``testbed``
    (``{knob: index}``) shades the point that is the default. The legend is above the panels."""
    names = list(situations)
    methods = list(dict.fromkeys(m for s in situations.values() for k in s.values() for m in k))
    fig, axes = plt.subplots(len(knobs), len(names), figsize=(MAX_WIDTH_IN, 2.1 * len(knobs) + 0.9), sharey=True,
                             squeeze=False, layout="constrained")
    for r, (knob, ticks) in enumerate(knobs.items()):
        for c, situation in enumerate(names):
            ax = axes[r, c]
            ax.axhline(0, color="k", lw=0.9)
            if testbed and knob in testbed:
                ax.axvspan(testbed[knob] - 0.45, testbed[knob] + 0.45, color="0.92", lw=0, zorder=0)
            for k, method in enumerate(methods):
                diffs = situations[situation].get(knob, {}).get(method)
                if diffs is None:
                    continue
                offset = 0.11 * (k - (len(methods) - 1) / 2)
                _errorbars(ax, np.arange(len(ticks)) + offset, diffs, PALETTE[k % len(PALETTE)], method, scale)
            ax.set_xticks(range(len(ticks)), ticks, fontsize=SMALL)
            ax.set_xlim(-0.6, len(ticks) - 0.4)
            ax.set_xlabel(knob)
            ax.grid(axis="y", alpha=0.3)
            if r == 0:
                ax.set_title(situation)
        axes[r, 0].set_ylabel(ylabel if r == len(knobs) // 2 else "")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    for ax in axes.flat:  # every method, even one absent from the first panel
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h), labels.append(lab)
    order = [labels.index(m) for m in methods if m in labels]
    fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="outside upper center",
               ncols=min(4, len(order)), fontsize=SMALL, frameon=False)
    return fig


def verdict_of(diff: dict | None) -> str | None:
    """``"gain"``, ``"loss"`` or ``"tie"`` for a paired difference (``real``: its interval excludes
    zero); None for a point that was not run."""
    if diff is None:
        return None
    if not diff["real"]:
        return "tie"
    return "gain" if diff["mean"] > 0 else "loss"


def plot_verdict_map(columns: Sequence, situations: dict, scale: float = 100.0, testbed: Sequence = ()):
    """A map of verdicts: per situation (``{situation: {method: [difference or None per column]}}``)
    a panel with a row per method and a cell per column (``columns``: ``[(group, label)]``, e.g. a
    knob and its value; columns of one group are adjacent). A cell is blue for a real gain, grey
    for no measurable difference, orange for a real loss, and white where the point was not run;
    it prints the mean difference and the verdict in words, so that colour is never the only cue.
    ``testbed``: the column indices marked with an asterisk."""
    names = list(situations)
    methods = list(dict.fromkeys(m for s in situations.values() for m in s))
    codes = {"loss": 0, "tie": 1, "gain": 2}
    cmap = ListedColormap([VERDICT_COLORS["loss"], VERDICT_COLORS["tie"], VERDICT_COLORS["gain"]])
    height = 0.52 * len(methods) + 1.25
    fig, axes = plt.subplots(len(names), 1, figsize=(MAX_WIDTH_IN, height * len(names) + 0.5), squeeze=False,
                             layout="constrained")
    groups = list(dict.fromkeys(g for g, _ in columns))
    for ax, situation in zip(axes[:, 0], names):
        grid = np.full((len(methods), len(columns)), np.nan)
        for i, method in enumerate(methods):
            for j, diff in enumerate(situations[situation].get(method, [None] * len(columns))):
                verdict = verdict_of(diff)
                if verdict is None:
                    continue
                grid[i, j] = codes[verdict]
                ax.text(j, i, f"{scale * diff['mean']:+.1f}\n{verdict}", ha="center", va="center", fontsize=SMALL,
                        linespacing=1.1)
        ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-0.5, vmax=2.5, aspect="auto")
        ax.set_yticks(range(len(methods)), methods, fontsize=SMALL)
        ax.set_xticks(range(len(columns)), [f"{label}{' *' if j in testbed else ''}" for j, (_, label) in
                                            enumerate(columns)], fontsize=SMALL)
        ax.tick_params(length=0)
        for j in range(1, len(columns)):  # white gaps between cells, a black line between knobs
            new_group = columns[j][0] != columns[j - 1][0]
            ax.axvline(j - 0.5, color="k" if new_group else "w", lw=1.6 if new_group else 1)
        for i in range(1, len(methods)):
            ax.axhline(i - 0.5, color="w", lw=1)
        for g in groups:
            idx = [j for j, (group, _) in enumerate(columns) if group == g]
            ax.annotate(g, ((min(idx) + max(idx)) / 2, 1.0), xycoords=("data", "axes fraction"), xytext=(0, 4),
                        textcoords="offset points", ha="center", va="bottom", fontsize=SMALL)
        ax.set_title(situation, pad=20)
        for side in ("top", "right", "left", "bottom"):
            ax.spines[side].set_visible(False)
    return fig


def plot_intervals(panels: dict, limits: dict | None = None, xlabel: str = "", xlim=None, ax=None,
                   limit_label: str = "limit of what the row sees", better: str = "higher"):
    """Means with their 95 % intervals, one row per label, in one panel (``panels``:
    ``{label: {"mean", "low", "high"}}``) or in several side by side with one x scale
    (``{panel title: {label: ...}}``). ``limits`` (the same keys, one number each) are drawn as open
    diamonds: the best any row could reach from what it sees. ``better`` ("higher" or "lower") is
    written under the axis. Returns the figure."""
    nested = all(isinstance(v, dict) and "mean" not in v for v in panels.values())
    panels = panels if nested else {"": panels}
    limits = (limits if nested else {"": limits}) if limits else {}
    if ax is None:
        fig, axes = plt.subplots(1, len(panels), figsize=(MAX_WIDTH_IN, 0.42 * max(map(len, panels.values())) + 1.7),
                                 sharex=True, sharey=True, squeeze=False, layout="constrained")
        axes = axes[0]
    else:
        fig, axes = ax.figure, [ax]
    for ax_, (title, rows) in zip(axes, panels.items()):
        labels = list(rows)
        y = np.arange(len(labels))[::-1]
        mean = np.array([rows[k]["mean"] for k in labels])
        low = np.array([rows[k]["low"] for k in labels])
        high = np.array([rows[k]["high"] for k in labels])
        ax_.errorbar(mean, y, xerr=[mean - low, high - mean], fmt="o", color=PALETTE[0], ms=5, capsize=3,
                     label="ours: mean and 95 % interval")
        lim = limits.get(title) or {}
        shown = [(yy, lim[k]) for yy, k in zip(y, labels) if lim.get(k) is not None]
        if shown:
            ax_.plot([v for _, v in shown], [yy for yy, _ in shown], "D", mfc="none", mec="k", ms=6, label=limit_label)
        ax_.set_yticks(y, labels, fontsize=SMALL)
        ax_.set_title(title)
        ax_.grid(axis="x", alpha=0.3)
        ax_.set_xlabel(f"{xlabel} ({better} is better)" if xlabel else "")
        ax_.set_ylim(-0.6, len(labels) - 0.4)
    if xlim is not None:
        axes[0].set_xlim(*xlim)
    handles, labels = axes[0].get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: not labels[i].startswith("ours"))  # ours first
    fig.legend([handles[i] for i in order], [labels[i] for i in order], loc="outside lower center", ncols=2,
               fontsize=SMALL, frameon=False)
    return fig
