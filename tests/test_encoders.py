import json
import time

import pytest
import torch

from rmm_lib.encoders import (
    WeightsNotFoundError,
    count_parameters,
    hf_model,
    minilm_path,
    open_clip_model,
    quick_encoders,
)

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}


def test_quick_encoders_map_each_modality_to_dim(small_splits):
    ds = small_splits["train"]
    enc = quick_encoders(ds, 24)
    b = ds[list(range(5))]
    for m in ds.modalities:
        assert enc[m](b.inputs[m]).shape == (5, 24)


def test_open_clip_tag_offline_fails_fast_with_instructions():
    start = time.perf_counter()
    with pytest.raises(WeightsNotFoundError, match="RMM_PROFILE=paper"):
        open_clip_model("ViT-B-32", "openai", offline=True)
    assert time.perf_counter() - start < 20  # not open_clip's minute of network retries
    start = time.perf_counter()
    with pytest.raises(WeightsNotFoundError, match="RMM_PROFILE=paper"):
        open_clip_model("ViT-B-32", "openai")  # offline is the default (no profile lookup)
    assert time.perf_counter() - start < 20


def test_open_clip_bad_arguments():
    with pytest.raises(ValueError, match="no model config"):
        open_clip_model("ViT-Nope", None)
    with pytest.raises(ValueError, match="neither a checkpoint file nor a pretrained tag"):
        open_clip_model("ViT-B-32", "imaginary_tag")
    with pytest.raises(WeightsNotFoundError, match="No checkpoint file"):
        open_clip_model("ViT-B-32", "/no/such/clip.pt")


def test_open_clip_local_checkpoint_round_trip(tmp_path):
    import open_clip

    (tmp_path / "rmm-tiny-clip.json").write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(tmp_path)
    torch.manual_seed(0)
    model, _, tokenizer = open_clip_model("rmm-tiny-clip", None)
    path = tmp_path / "tiny.pt"
    torch.save(model.state_dict(), path)
    loaded, preprocess, _ = open_clip_model("rmm-tiny-clip", str(path))
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    assert tokenizer(["a photo"]).shape == (1, 16)


def test_minilm_ships_real_weights_offline():
    model = hf_model(minilm_path(), offline=True)
    tok = hf_model(minilm_path(), kind="tokenizer", offline=True)
    batch = tok(["the soup was delicious", ""], padding=True, return_tensors="pt")
    out = model(**batch).last_hidden_state
    assert out.shape[-1] == 384 and count_parameters(model)["total"] > 20_000_000
    assert tok.convert_ids_to_tokens(batch["input_ids"][0])[1] == "the"  # a real vocabulary, not [UNK]


def test_hf_missing_model_names_what_to_download():
    with pytest.raises(WeightsNotFoundError, match="huggingface-cli download bert-base-uncased"):
        hf_model("bert-base-uncased", offline=True)
    with pytest.raises(WeightsNotFoundError, match="huggingface-cli download bert-base-uncased"):
        hf_model("bert-base-uncased")  # offline is the default (no profile lookup)
