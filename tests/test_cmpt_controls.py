"""CMPT's positive control (issue 24, rmm_lib.recipes.cmpt_controls): a target the photo
determines -- a fixed rotation of the image tower's own class token -- that the learned image proxy
must reach (half the ridge ceiling's R^2 and centred cosine, a share of the floor-to-oracle gap),
and two broken proxies that must fail the same rule: zeroed, and attending to itself only. Also
the parts the control needs: split q/k/v attention, the proxy's read point, its isolation, and the
text tower's position / pooling options."""
import pytest
import torch

from rmm_lib.methods import cmpt
from rmm_lib.recipes import cmpt as recipe
from rmm_lib.recipes.cmpt_controls import CONTROL_TOWER, CONTROL_TRAIN, control_verdict, proxy_control


@pytest.fixture(scope="module")
def learned():
    return proxy_control(recipe.image_token_encoder(**CONTROL_TOWER), "rotation")


def test_learned_proxy_passes_its_positive_control(learned):
    verdict = control_verdict(learned)
    assert verdict["passed"], (verdict, learned)
    assert learned["ridge"]["r2"] > 0.95  # the photo determines the target: ridge from the class token


def test_zeroed_proxy_fails_the_same_control(learned):
    verdict = control_verdict(learned["zeroed"])
    assert not verdict["r2"] and not verdict["centred"] and not verdict["task"], (verdict, learned["zeroed"])


def test_isolated_proxy_fails_the_same_control():
    result = proxy_control(recipe.image_token_encoder(**CONTROL_TOWER), "rotation", broken="isolated")
    verdict = control_verdict(result)
    assert not verdict["r2"] and not verdict["centred"] and not verdict["passed"], (verdict, result)


def test_split_attention_is_the_same_function_with_one_adapter_per_projection():
    torch.manual_seed(0)
    vit = recipe.tiny_vit(layers=2)
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        before = vit(x)
        after = cmpt.split_attention(vit)(x)
    torch.testing.assert_close(before, after, atol=1e-5, rtol=1e-5)
    vit = cmpt.add_lora(vit, "open_clip_split")
    adapted = {n.rsplit(".lora_", 1)[0] for n, p in vit.named_parameters() if p.requires_grad}
    per_block = {n.split(".attn.")[1] for n in adapted}
    assert per_block == {"q_proj", "k_proj", "v_proj", "out_proj"} and len(adapted) == 2 * 4


def test_isolated_proxy_cannot_see_the_image_and_read_points_differ():
    torch.manual_seed(0)
    enc = cmpt.ImageTokens(cmpt.add_lora(cmpt.split_attention(recipe.tiny_vit(layers=1)), "open_clip_split"),
                           proxy_read="before_norm")
    proxy = torch.randn(384)
    images = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        seen = enc(images, proxy)
        enc.isolate_proxy = True
        blind = enc(images, proxy)
    assert seen["proxy"].std(0).mean() > 1e-3
    assert blind["proxy"].std(0).max() < 1e-5  # the same output for every photo
    with torch.no_grad():  # "before_norm": the proxy skips ln_post, the class token does not
        enc.proxy_read = "final_norm"
        normed = enc(images, proxy)
        torch.testing.assert_close(normed["proxy"], enc.visual.ln_post(blind["proxy"]))
    with pytest.raises(ValueError, match="proxy_read"):
        cmpt.ImageTokens(recipe.tiny_vit(layers=1), proxy_read="middle")


def test_text_proxy_position_and_pooling_options():
    shared = recipe.minilm_text_encoder(16, lora=False)
    own = recipe.minilm_text_encoder(16, lora=False, proxy_position="own", pooling="mean")
    texts = ["a fresh red apple", "old shoes, worn out and sad"]
    proxy = torch.randn(384)
    with torch.no_grad():
        a, b = shared(texts, proxy), own(texts, proxy)
    assert not torch.allclose(a["proxy"], b["proxy"], atol=1e-4)  # other position ids
    real = b["mask"][:, 1:, None].float()
    torch.testing.assert_close(b["cls"], (b["tokens"][:, 1:] * real).sum(1) / real.sum(1))
    torch.testing.assert_close(a["cls"], a["tokens"][:, 1])  # "cls" pooling: the [CLS] output
    with pytest.raises(ValueError, match="pooling"):
        recipe.minilm_text_encoder(16, lora=False, pooling="max")
