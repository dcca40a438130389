import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from rmm_lib import missing, plots  # noqa: E402


def test_presence_panels_one_per_protocol():
    masks = {"a": missing.map_missing(50, "text", 0.7, ("image", "text")),
             "b": missing.map_missing(50, "both", 0.7, ("image", "text"))}
    fig = plots.plot_presence(masks, ("image", "text"), ncols=2)
    assert len(fig.axes) == 2 and "t 70%" in fig.axes[0].get_title()


def test_tsne_is_seeded_and_two_dimensional():
    x = torch.randn(60, 8)
    a, b = plots.tsne_embed(x, seed=1), plots.tsne_embed(x, seed=1)
    assert a.shape == (60, 2) and np.allclose(a, b)


def test_cosine_similarity_matrix():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    sim = plots.cosine_similarity_matrix(a, torch.tensor([[3.0, 0.0], [1.0, 1.0]]))
    assert torch.allclose(sim, torch.tensor([[1.0, 2 ** -0.5], [0.0, 2 ** -0.5]]))


# ----------------------------------------------------------------------------- legible, colour-blind-safe figures
import matplotlib.pyplot as plt  # noqa: E402

from rmm_lib import diagrams, style  # noqa: E402

# Machado, Oliveira & Fernandes (2009): full-severity dichromacy, applied in linear RGB.
CVD = {"protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
       "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
       "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]]}


def _lab(hex_colors, vision=None):
    """CIELAB (D65) of sRGB hex colours, as seen with normal vision or a simulated dichromacy."""
    rgb = np.array([[int(h[i:i + 2], 16) / 255 for i in (1, 3, 5)] for h in hex_colors])
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    if vision:
        lin = np.clip(lin @ np.array(CVD[vision]).T, 0, 1)
    xyz = lin @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def _closest_pair(hex_colors, vision):
    lab = _lab(hex_colors, vision)
    d = np.linalg.norm(lab[:, None] - lab[None], axis=-1) + np.eye(len(lab)) * 1e9
    return float(d.min())


@pytest.mark.parametrize("vision", [None, *CVD])
def test_palette_pairs_stay_distinct_for_colour_blind_readers(vision):
    # Every pair of line colours differs by more than 15 CIELAB units under each simulated
    # dichromacy; the red/green pair of matplotlib's default cycle does not.
    assert _closest_pair(style.PALETTE, vision) > 15
    assert _closest_pair(list(style.VERDICT_COLORS.values()), vision) > 15
    if vision == "deuteranopia":
        assert _closest_pair(["#d62728", "#2ca02c"], vision) < 15  # the test can tell a red/green pair


def test_figure_png_records_the_smallest_font_and_the_check_reads_it():
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1], label="line")
    ax.set_xlabel("x", fontsize=14)
    ax.legend(fontsize=7.5)
    ax.text(0.5, 0.5, "", fontsize=3)  # empty text is not text a reader sees
    hidden = ax.text(0.2, 0.2, "hidden", fontsize=4)
    hidden.set_visible(False)
    meta = style.png_metadata(style.figure_png(fig))
    assert float(meta[style.PNG_KEYS["font"]]) == 7.5 and float(meta[style.PNG_KEYS["dpi"]]) == fig.dpi
    plt.close(fig)


def _all_text_at_least(fig, points):
    return style.min_font_size(fig) >= points


def test_every_plot_function_keeps_its_text_legible_and_its_width_within_the_column():
    style.use_book_style(shell=None)
    band = {"mean": [0.5, 0.6, 0.7], "low": [0.4, 0.5, 0.6], "high": [0.6, 0.7, 0.8]}
    d = {"mean": 0.02, "low": 0.01, "high": 0.03, "real": True}
    figures = [
        plots.plot_sweep_grid([0, 0.5, 1], {"image": {"a": band, "b": band}, "text": {"a": band, "b": band}},
                              rows={"first": ["a"], "second": ["b"]}, reference="a",
                              limits={"image": [0.9, 0.8, 0.7], "text": [0.9, 0.9, 0.9]}),
        plots.plot_knob_differences({"knob": ["1", "2"]}, {"situation": {"knob": {"m": [d, None]}}}),
        plots.plot_verdict_map([("knob", "1"), ("knob", "2")], {"situation": {"m": [d, None]}}),
        plots.plot_intervals({"a": {"x": {"mean": 1, "low": 0.5, "high": 1.5}}}, {"a": {"x": 2.0}}, xlabel="MAE"),
        plots.plot_presence({"p": missing.map_missing(20, "text", 0.5, ("image", "text"))}, ("image", "text")),
        plots.plot_curves([0, 1, 2], {"c": band}, "x", "y").figure,
        diagrams.draw_trml(), diagrams.draw_mla(), diagrams.draw_cmpt(),
    ]
    for fig in figures:
        assert _all_text_at_least(fig, style.MIN_FONT_PT), fig
        assert fig.get_figwidth() <= max(style.MAX_WIDTH_IN, diagrams.MAX_WIDTH_IN) + 1e-9
        plt.close(fig)


def test_the_sweep_grid_splits_curves_into_rows_with_one_scale():
    band = {"mean": [0.5, 0.6], "low": [0.4, 0.5], "high": [0.6, 0.7]}
    names = [f"m{i}" for i in range(6)]
    fig = plots.plot_sweep_grid([0, 1], {"image": {n: band for n in names}}, rows={"r1": names[:3], "r2": names[3:]},
                                reference="m0")
    axes = [ax for ax in fig.get_axes() if ax.get_lines()]
    assert len(axes) == 2
    assert {ax.get_ylim() for ax in axes} == {(0, 100)}
    second = [line.get_label() for line in axes[1].get_lines()]
    assert second[0] == "m0 (reference)" and set(names[3:]) <= set(second) and "m1" not in second
    plt.close(fig)


def test_the_verdict_map_prints_the_verdict_so_colour_is_not_the_only_cue():
    gain = {"mean": 0.031, "low": 0.01, "high": 0.05, "real": True}
    loss = {"mean": -0.02, "low": -0.03, "high": -0.01, "real": True}
    tie = {"mean": 0.004, "low": -0.01, "high": 0.02, "real": False}
    fig = plots.plot_verdict_map([("k", "a"), ("k", "b"), ("k", "c"), ("k", "d")], {"s": {"m": [gain, loss, tie, None]}})
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "+3.1\ngain" in texts and "-2.0\nloss" in texts and "+0.4\ntie" in texts and len(texts) == 3 + 1  # no text where not run; the knob label
    assert [plots.verdict_of(x) for x in (gain, loss, tie, None)] == ["gain", "loss", "tie", None]
    plt.close(fig)
