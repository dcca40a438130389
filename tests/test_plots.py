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
