"""Plotting helpers used by the notebooks: masks, t-SNE, similarity heatmaps, metric curves."""
from __future__ import annotations

import textwrap
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from sklearn.manifold import TSNE

PRESENCE_CMAP = ListedColormap(["#d9d9d9", "#2b6cb0"])  # grey = absent, blue = present


def plot_presence(masks: dict, modalities: Sequence[str], n_show: int = 40, ncols: int | None = None):
    """One panel per protocol: samples as columns, modalities as rows; blue = present, grey = absent.
    The panel title gives each modality's missing fraction over the whole split."""
    ncols = ncols or len(masks)
    nrows = int(np.ceil(len(masks) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 1.0 + 0.45 * len(modalities) * nrows),
                             squeeze=False)
    for ax, (title, mask) in zip(axes.flat, masks.items()):
        mask = np.asarray(mask, dtype=bool)
        ax.imshow(mask[:n_show].T, cmap=PRESENCE_CMAP, vmin=0, vmax=1, aspect="auto", interpolation="nearest")
        ax.set_yticks(range(len(modalities)), modalities)
        ax.set_xticks([])
        missing = ", ".join(f"{m[0]} {1 - mask[:, j].mean():.0%}" for j, m in enumerate(modalities))
        ax.set_title(f"{title}\nmissing: {missing}", fontsize=9)
    for ax in list(axes.flat)[len(masks):]:
        ax.axis("off")
    fig.tight_layout()
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
    ax.legend(fontsize=7, markerscale=2, frameon=False)
    return ax


def cosine_similarity_matrix(a, b) -> torch.Tensor:
    """``(N, N)`` cosine similarities between rows of ``a`` and rows of ``b``."""
    a, b = torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32)
    return torch.nn.functional.normalize(a, dim=1) @ torch.nn.functional.normalize(b, dim=1).T


def plot_similarity(matrix, row_label: str = "", col_label: str = "", ax=None, title: str = "", annotate: bool = True):
    """Heatmap of a similarity matrix (values annotated when small)."""
    m = np.asarray(matrix.detach().cpu() if torch.is_tensor(matrix) else matrix)
    ax = ax or plt.subplots(figsize=(4, 3.6))[1]
    im = ax.imshow(m, cmap="viridis")
    if annotate and m.shape[0] <= 10:
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6, color="w")
    ax.set_xlabel(col_label), ax.set_ylabel(row_label), ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, fraction=0.046)
    return ax


def plot_metric_curve(rates, curves: dict, metric: str = "accuracy", paper: dict | None = None, ax=None, title="",
                      ylim=None, limits: dict | None = None):
    """Metric against missing rate, one line per method; ``paper`` curves (the papers' reported
    numbers) are drawn dashed and labelled as the paper's. A curve given as ``{"mean", "low",
    "high"}`` lists (over seeds) is drawn with its 95 % band. ``limits`` (``{label: value}``) are
    horizontal dotted lines, e.g. the information limit of all modalities. ``ylim`` fixes the axis
    (accuracies default to 0-1, so that a flat curve looks flat)."""
    ax = ax or plt.subplots(figsize=(5, 3.4))[1]
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
        ax.annotate(name, (x.min(), value), xytext=(2, 3), textcoords="offset points", fontsize=7, color="0.3")
    ax.set_xlabel("missing rate (%)"), ax.set_ylabel(metric), ax.set_title(title)
    if ylim is None and metric == "accuracy" and not paper:
        ylim = (0, 1)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    return ax


def plot_per_class(values, class_names: Sequence[str], ax=None, title: str = "", ylim=(0, 1),
                   ylabel: str = "accuracy", errors=None):
    """Bar chart of a per-class quantity (e.g. accuracy); ``errors`` ``(2, K)`` below/above each bar
    (an interval over seeds) are drawn as error bars."""
    ax = ax or plt.subplots(figsize=(4, 2.8))[1]
    ax.bar(range(len(values)), values, color="#2b6cb0", yerr=errors, capsize=2 if errors is not None else 0)
    ax.set_xticks(range(len(values)), class_names, rotation=45, fontsize=8)
    ax.set_ylim(*ylim), ax.set_title(title, fontsize=10), ax.set_ylabel(ylabel, fontsize=8)
    return ax


def plot_benchmark_samples(dataset, n: int = 4):
    """Each modality of ``n`` samples: the label photo, the spectrogram and the review text."""
    names = dataset.meta.get("class_names")
    fig, axes = plt.subplots(2, n, figsize=(2.6 * n, 4.6))
    for i in range(n):
        b = dataset[i]
        label = names[int(b.label)] if names else int(b.label)
        score = "" if b.score is None else f", score {float(b.score):+.2f}"
        axes[0, i].imshow(b.inputs["image"][0, 0], cmap="gray_r")
        axes[0, i].set_title(f"{label}{score}", fontsize=9)
        axes[1, i].imshow(b.inputs["audio"][0].T, aspect="auto", origin="lower", cmap="magma")
        axes[1, i].set_xlabel("frame", fontsize=8)
        axes[1, i].set_title("\n".join(textwrap.wrap(b.strings["text"][0], 24)) or '""', fontsize=8)
        for ax in axes[:, i]:
            ax.set_xticks([]), ax.set_yticks([])
    axes[1, 0].set_ylabel("mel bin", fontsize=8)
    fig.tight_layout()
    return fig



# ----------------------------------------------------------------------------- added by the MLA chapter
def plot_curves(x, curves: dict, xlabel: str = "", ylabel: str = "", ax=None, title: str = "", styles: dict | None = None,
                ylim=None):
    """One line per entry of ``curves`` (``{label: values}``) against ``x``; ``styles`` maps a label
    to matplotlib keyword arguments (e.g. ``{"ls": "--"}`` for paper curves). ``ylim`` fixes the
    axis (e.g. ``(0, 1)`` for accuracies, so that a flat curve looks flat). A curve given as
    ``{"mean", "low", "high"}`` lists (over seeds) is drawn with its 95 % band."""
    ax = ax or plt.subplots(figsize=(5, 3.4))[1]
    for label, values in curves.items():
        mean = values["mean"] if isinstance(values, dict) else values
        line, = ax.plot(x, mean, marker="o", ms=3, label=label, **(styles or {}).get(label, {}))
        if isinstance(values, dict):
            ax.fill_between(x, values["low"], values["high"], color=line.get_color(), alpha=0.2, lw=0)
    ax.set_xlabel(xlabel), ax.set_ylabel(ylabel), ax.set_title(title)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    return ax


def plot_histograms(values: dict, bins: int = 20, ax=None, xlabel: str = "", title: str = "", range_=None,
                    ylabel: str = "samples"):
    """Overlaid histograms, one per entry of ``values`` (``{label: 1-D array}``); ``ylabel`` names
    what is counted (samples, training steps, ...)."""
    ax = ax or plt.subplots(figsize=(5, 3.2))[1]
    for label, v in values.items():
        v = np.asarray(v.detach().cpu() if torch.is_tensor(v) else v).ravel()
        ax.hist(v, bins=bins, range=range_, alpha=0.55, label=label)
    ax.set_xlabel(xlabel), ax.set_ylabel(ylabel), ax.set_title(title)
    ax.legend(fontsize=8, frameon=False)
    return ax


def plot_method_bars(values: dict, paper: dict | None = None, ax=None, ylabel: str = "accuracy (%)", title: str = "",
                     ylim=None):
    """Bars of one number per method (ours, solid) with the paper's number beside it (hatched,
    labelled "paper") where ``paper`` has one."""
    ax = ax or plt.subplots(figsize=(4.5, 3))[1]
    names = list(values)
    x = np.arange(len(names))
    ax.bar(x - 0.2, [values[n] for n in names], 0.4, label="ours", color="#2b6cb0")
    if paper:
        ax.bar(x + 0.2, [paper.get(n, np.nan) for n in names], 0.4, label="paper", color="#d9d9d9",
               hatch="//", edgecolor="#555555")
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylabel(ylabel), ax.set_title(title, fontsize=10)
    if ylim:
        ax.set_ylim(*ylim)
    ax.legend(fontsize=7, frameon=False)
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
    ax.set_title(f"{title}\ngap = {gap:.2f}" if title else f"gap = {gap:.2f}", fontsize=10)
    ax.set_xticks([]), ax.set_yticks([])
    ax.legend(fontsize=8, frameon=False, markerscale=3)


def plot_token_attention(weights, tokens: Sequence[str], rows: Sequence[str], ax=None, title: str = ""):
    """Attention weights ``(len(rows), len(tokens))`` of a few query tokens (e.g. a proxy token and
    the class token) over a sequence, as a heatmap with the tokens on the x axis."""
    w = np.asarray(weights.detach().cpu() if torch.is_tensor(weights) else weights, dtype=float)
    if w.shape != (len(rows), len(tokens)):
        raise ValueError(f"weights have shape {w.shape}, expected ({len(rows)}, {len(tokens)}).")
    ax = ax or plt.subplots(figsize=(0.5 * len(tokens) + 1.5, 0.45 * len(rows) + 1.4))[1]
    im = ax.imshow(w, cmap="magma", aspect="auto")
    ax.set_xticks(range(len(tokens)), tokens, rotation=60, fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.figure.colorbar(im, ax=ax, fraction=0.03)
    return ax
