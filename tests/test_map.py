"""Missing-aware prompts (rmm_lib.contributed.map) on the footing's towers: a sample reads its own
case's prompts, the prompted layer loop is the frozen towers' own computation, only prompts and
classifier learn, and the arm is registered through the public interface."""
import pytest
import torch

from rmm_lib import footing
from rmm_lib.contributed import map as M
from rmm_lib.grids import compare as G
from rmm_lib.recipes import compare as R


@pytest.fixture(scope="module")
def data():
    train = G.splits(G.CONFIG)["train"].subset(list(range(6)))
    present = torch.tensor([[1, 1], [1, 0], [0, 1], [1, 1], [1, 0], [0, 1]], dtype=torch.bool)
    return train.with_presence(present.numpy())


@pytest.fixture(scope="module")
def towers():
    return R.quick_towers()


def _model(towers, n_classes, **kw):
    torch.manual_seed(0)
    return M.MAPModel({"image": towers["image"], "text": towers["text"]}, n_classes, **kw).eval()


def test_the_missing_case_of_each_sample():
    present = torch.tensor([[1, 1], [1, 0], [0, 1]], dtype=torch.bool)
    assert M.missing_case(present).tolist() == [0, 1, 2]  # complete, text missing, image missing
    with pytest.raises(ValueError, match="neither modality"):
        M.missing_case(torch.tensor([[0, 0]], dtype=torch.bool))


def test_each_sample_reads_the_prompts_of_its_own_case(data, towers):
    model = _model(towers, 6)
    batch = next(iter(data.loader(6)))
    before = model(batch)["logits"]
    with torch.no_grad():
        model.prompts["text"][1].add_(1.0)  # the text-missing case's text prompts
    after = model(batch)["logits"]
    moved = (after - before).abs().amax(1) > 1e-5
    assert moved.tolist() == [False, True, False, False, True, False]


def test_without_prompt_tokens_the_layer_loop_is_the_frozen_towers(data, towers):
    # the prompted forward rebuilt layer by layer: with zero prompt tokens it must give what the
    # towers themselves compute (MiniLM's mean over its real tokens, the image tower's class token)
    model = _model(towers, 6)
    batch = next(iter(data.loader(6)))
    text, image = towers["text"], towers["image"]
    empty = {m: torch.zeros(6, model.depth[m], 0, 384) for m in ("image", "text")}
    enc = text.tokenizer(list(batch.strings["text"]), padding=True, truncation=True, max_length=text.max_length,
                         return_tensors="pt")
    with torch.no_grad():
        hidden = text.model(**enc).last_hidden_state
        mask = enc["attention_mask"][:, :, None].float()
        expected_text = (hidden * mask).sum(1) / mask.sum(1)
        got_text = model._text(batch.strings["text"], empty["text"])
        pooled = image.visual(batch.inputs["image"].expand(-1, 3, -1, -1))  # class token after ln_post
        got_image = model._image(batch.inputs["image"], empty["image"])
    assert torch.allclose(got_text, expected_text, atol=1e-5)
    assert torch.allclose(got_image, pooled, atol=1e-5)


def test_only_prompts_and_classifier_learn(data, towers):
    model = _model(towers, 6)
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"prompts", "head"}
    frozen = {n: p.clone() for n, p in model.named_parameters() if not p.requires_grad}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    batch = next(iter(data.loader(6)))
    model.training_step(batch, 0)["loss"].backward()
    assert all(model.prompts[m].grad[c].abs().sum() > 0 for m in ("image", "text") for c in range(3))
    opt.step()
    assert all(torch.equal(p, frozen[n]) for n, p in model.named_parameters() if n in frozen)


def test_depth_and_length_are_checked_and_default_to_maps(towers):
    model = _model(towers, 6)
    assert model.length == 16 and model.depth == {"image": 1, "text": 3}  # half of MiniLM's 6 layers
    assert tuple(model.prompts["text"].shape) == (3, 3, 16, 384)
    with pytest.raises(ValueError, match="depth\\['text'\\] must be between 1 and"):
        _model(towers, 4, depth={"text": 7})
    with pytest.raises(ValueError, match="prompt length"):
        _model(towers, 4, length=0)


def test_the_arm_is_registered_through_the_interface():
    method = footing.get("map")
    assert method.build is M.build_map and method.reads == "tokens"
    assert method.options == M.OPTIONS and method.train == R.TRAIN
    grid = footing.grid("map")
    assert grid.section == "map" and grid.path().name == "compare.json"
    assert "map|complete/seed=0" in grid.cells and "n_train=100/map|complete/seed=2" in grid.cells
