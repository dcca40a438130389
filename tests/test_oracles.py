"""The controls that bound each mechanism: TRML's zero stand-in (its floor), MLA's oracle fusion
(its ceiling). CMPT's floor is ``zero_proxy`` (tests/test_cmpt.py); the generator's and the proxy's
ceiling is the same model on complete inputs, which needs no code of its own."""
import numpy as np
import pytest
import torch

from rmm_lib.methods import mla as M
from rmm_lib.methods import trml as T
from rmm_lib.recipes import trml as R

from test_trml import tiny_clip


def test_trml_zero_stand_in_leaves_the_present_feature_alone():
    splits = R.benchmark_video_splits(30, 10, 10, seed=1)
    clip, tok = tiny_clip()
    model = T.TRML(clip, tok, freeze_encoders=True, substitute="zero").eval()
    pattern = np.arange(30) % 3  # 0: both present, 1: video missing, 2: text missing
    batch = splits["train"].with_presence(np.c_[pattern != 2, pattern != 1])[list(range(6))]
    out = model(batch)
    x = out["features"]
    expected = torch.stack([x["text"][i] + x["video"][i] if p == 0 else x["text"][i] if p == 1 else x["video"][i]
                            for i, p in enumerate(pattern[:6])])
    assert torch.allclose(out["fused"], expected)
    with pytest.raises(ValueError, match="substitute must be one of"):
        T.TRML(clip, tok, substitute="true")


@pytest.mark.parametrize("seed", range(5))
def test_oracle_fusion_beats_every_weighting_of_the_same_predictions(seed):
    g = torch.Generator().manual_seed(seed)
    n, k = 400, 6
    target = torch.randint(0, k, (n,), generator=g)
    logits = [torch.randn(n, k, generator=g) * 2 + 3 * torch.nn.functional.one_hot(target, k) * (i + 1) / 3
              for i in range(3)]
    present = torch.rand(n, 3, generator=g) > 0.3
    present[~present.any(1), 0] = True
    entropy = torch.stack([M.prediction_entropy(z) for z in logits], 1)
    eq7 = M.fusion_weights(entropy, present)
    oracle = M.oracle_fusion_weights(logits, target, present, [eq7])
    assert torch.allclose(oracle.sum(1), torch.ones(n)) and not torch.any(oracle.bool() & ~present)

    def accuracy(weights):
        return (M.fuse(logits, weights).argmax(1) == target).float().mean().item()

    best = accuracy(oracle)
    rivals = {"entropy (Eq. 7)": eq7,
              "mean": present.float() / present.float().sum(1, keepdim=True),
              **{f"modality {i} alone": torch.where(present, torch.eye(3)[i], 0.0) for i in range(3)}}
    for name, weights in rivals.items():
        assert best >= accuracy(weights), name
    assert best > accuracy(eq7)  # on these predictions, choosing per sample helps
