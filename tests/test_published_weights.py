"""Every backbone the paper profile downloads, saved as its source publishes it and loaded through
the paper profile's own code, as a Colab run will load the real files.

Nothing is downloaded. Each test writes a random model of the real architecture into a Hugging Face
cache laid out as ``huggingface_hub`` leaves it after a download (``models--<org>--<name>/
snapshots/<commit>/...`` and ``refs/main``), switches the hub to offline mode, and calls the code the
paper profile runs (``profile.offline`` is False there: the loaders ask the hub, which answers from
the cache):

* **bert-base-uncased** (CMPT's text tower): ``config.json`` with the published keys, the weights of
  a ``BertForPreTraining`` (``bert.*`` + the ``cls.*`` pre-training heads) as ``model.safetensors``,
  ``vocab.txt`` and ``tokenizer_config.json``; loaded by ``recipes.cmpt.paper_token_encoders``.
* **MIT/ast-finetuned-audioset-10-10-0.4593** (CMPT's audio tower): ``config.json`` with the
  published keys (527 AudioSet labels, 1024 frames, 128 mel bins, stride 10), the weights of an
  ``ASTForAudioClassification`` under the key names of the published file (transformers 4.x:
  ``encoder.layer.N.attention.attention.query``, ...; transformers 5 renames them on load).
* **open_clip ViT-B-32, ViT-B-16 and RN50 with the ``openai`` tag** (TRML, MLA on image-text,
  CMPT's image/video tower, TRML's second architecture): ``open_clip_model.safetensors`` in the
  hub repository the tag names (``timm/vit_base_patch32_clip_224.openai``, ...), holding the full
  CLIP state dict of a model built as OpenAI's (QuickGELU); loaded by ``recipes.trml.foundation``,
  ``recipes.mla.build_encoders`` and ``recipes.cmpt.paper_token_encoders``.

Each test checks that every weight of the loaded tower is the published tensor (nothing left at
its random initialisation: no missing key), that the published keys it leaves unused are exactly
the parts the method drops by design (pre-training and classification heads, BERT's pooler, the
other CLIP tower, CLIP's projection where CMPT reads the class token), and that a forward pass gives
the published model's output. The Hugging Face towers are narrower than the real ones (width 64,
two layers) with every other configuration key as published; the open_clip models are full size
(their architecture is fixed by the name). The last tests change one configuration key of the
published files and check that the same comparison then fails.

ResNet-18 (MLA on CREMA-D and Kinetics-Sounds) is trained from scratch (MLA App. A.3): the paper
profile downloads no weights for it, so there is no published format to load.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from rmm_lib.profiles import get_profile

BERT = get_profile("paper").backbones["text"]
AST = get_profile("paper").backbones["audio"]

#: bert-base-uncased's config.json as published, at a reduced width (the four size keys).
BERT_CONFIG = {
    "architectures": ["BertForMaskedLM"], "attention_probs_dropout_prob": 0.1, "gradient_checkpointing": False,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 64, "initializer_range": 0.02,
    "intermediate_size": 128, "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
    "num_attention_heads": 4, "num_hidden_layers": 2, "pad_token_id": 0, "position_embedding_type": "absolute",
    "transformers_version": "4.6.0.dev0", "type_vocab_size": 2, "use_cache": True, "vocab_size": 30522,
}
#: MIT/ast-finetuned-audioset-10-10-0.4593's config.json as published, at a reduced width.
AST_CONFIG = {
    "architectures": ["ASTForAudioClassification"], "attention_probs_dropout_prob": 0.0, "frequency_stride": 10,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "hidden_size": 64,
    "id2label": {str(i): f"AudioSet class {i}" for i in range(527)}, "initializer_range": 0.02,
    "intermediate_size": 128, "label2id": {f"AudioSet class {i}": i for i in range(527)}, "layer_norm_eps": 1e-12,
    "max_length": 1024, "model_type": "audio-spectrogram-transformer", "num_attention_heads": 4,
    "num_hidden_layers": 2, "num_mel_bins": 128, "patch_size": 16, "qkv_bias": True, "time_stride": 10,
    "torch_dtype": "float32", "transformers_version": "4.25.0.dev0",
}
#: transformers 5's AST module names -> the names in the published file (transformers 4.x).
AST_PUBLISHED_NAMES = (
    (r"\.layers\.(\d+)\.attention\.q_proj\.", r".encoder.layer.\1.attention.attention.query."),
    (r"\.layers\.(\d+)\.attention\.k_proj\.", r".encoder.layer.\1.attention.attention.key."),
    (r"\.layers\.(\d+)\.attention\.v_proj\.", r".encoder.layer.\1.attention.attention.value."),
    (r"\.layers\.(\d+)\.attention\.o_proj\.", r".encoder.layer.\1.attention.output.dense."),
    (r"\.layers\.(\d+)\.mlp\.fc1\.", r".encoder.layer.\1.intermediate.dense."),
    (r"\.layers\.(\d+)\.mlp\.fc2\.", r".encoder.layer.\1.output.dense."),
    (r"\.layers\.(\d+)\.layernorm_(before|after)\.", r".encoder.layer.\1.layernorm_\2."),
)


# ----------------------------------------------------------------------------- the hub cache
@pytest.fixture
def hub(tmp_path, monkeypatch):
    """``publish(repo_id) -> snapshot folder`` in a Hugging Face cache under ``tmp_path``, which the
    hub (offline) then serves to transformers and open_clip."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path))

    def publish(repo_id: str) -> Path:
        folder = cache / f"models--{repo_id.replace('/', '--')}"
        commit = hashlib.sha1(repo_id.encode()).hexdigest()
        (folder / "refs").mkdir(parents=True, exist_ok=True)
        (folder / "refs" / "main").write_text(commit)
        snapshot = folder / "snapshots" / commit
        snapshot.mkdir(parents=True, exist_ok=True)
        return snapshot

    return publish


def _save(state: dict, path: Path) -> dict:
    """Write ``state`` as safetensors (contiguous copies; shared storage saved once per name) and
    return what was written."""
    from safetensors.torch import save_file

    state = {k: v.detach().clone().contiguous() for k, v in state.items()}
    save_file(state, str(path), metadata={"format": "pt"})
    return state


def _tower_state(module: torch.nn.Module) -> dict:
    """A loaded tower's own weights under their plain names: LoRA adapters left out, peft's
    ``base_layer`` wrapper taken off the names."""
    return {k.replace(".base_layer", ""): v for k, v in module.state_dict().items() if "lora_" not in k}


def _fused_attention(state: dict) -> dict:
    """``state`` with each split attention (``SplitAttention``'s ``q_proj``, ``k_proj``, ``v_proj``)
    fused back into open_clip's ``in_proj_weight`` / ``in_proj_bias``, the names the published file
    uses: the split copies the published rows, so the fused tensors must be the published ones."""
    out, parts = {}, {}
    for key, value in state.items():
        m = re.match(r"(.*\.attn)\.([qkv])_proj\.(weight|bias)$", key)
        if m is None:
            out[key] = value
        else:
            parts.setdefault((m.group(1), m.group(3)), {})[m.group(2)] = value
    for (prefix, kind), qkv in parts.items():
        out[f"{prefix}.in_proj_{kind}"] = torch.cat([qkv["q"], qkv["k"], qkv["v"]])
    return out


def assert_loaded_as_published(loaded: dict, published: dict, name_in_file, dropped) -> None:
    """Every loaded tensor is the published tensor of the same name (``name_in_file(k)``) and value;
    the published tensors left unused are exactly those ``dropped(name)`` says the method drops."""
    used = set()
    for key, value in loaded.items():
        source = name_in_file(key)
        assert source in published, f"{key}: no published tensor {source!r} (a missing key: left at random init)"
        assert tuple(value.shape) == tuple(published[source].shape), f"{key}: shape {tuple(value.shape)}"
        assert torch.equal(value.float(), published[source].float()), f"{key}: not the published values"
        used.add(source)
    unused = sorted(set(published) - used)
    unexpected = [k for k in unused if not dropped(k)]
    assert not unexpected, f"{len(unexpected)} published tensors not loaded (e.g. {unexpected[:3]})"
    assert any(dropped(k) for k in published), "the published file should hold the heads the method drops"


def assert_same_output(ours: torch.Tensor, theirs: torch.Tensor, what: str) -> None:
    assert ours.shape == theirs.shape, f"{what}: shape {tuple(ours.shape)} vs {tuple(theirs.shape)}"
    gap = float((ours - theirs).abs().max())
    assert torch.allclose(ours, theirs, atol=1e-5, rtol=1e-4), f"{what}: outputs differ by up to {gap:.3g}"


# ----------------------------------------------------------------------------- bert-base-uncased
def publish_bert(hub, config: dict | None = None, legacy_names: bool = False):
    """bert-base-uncased's files (``config`` overrides keys of the published config.json); returns
    the model the weights came from and the published tensors."""
    from transformers import BertConfig, BertForPreTraining

    from rmm_lib.encoders import minilm_path

    folder = hub(BERT)
    torch.manual_seed(0)
    model = BertForPreTraining(BertConfig(**{k: v for k, v in BERT_CONFIG.items() if k != "architectures"})).eval()
    state = model.state_dict()
    state.pop("cls.predictions.decoder.weight")  # tied to the word embeddings: stored once, as published
    if legacy_names:  # the 2018 TF conversion's LayerNorm names (gamma/beta)
        state = {re.sub(r"LayerNorm\.weight$", "LayerNorm.gamma", re.sub(r"LayerNorm\.bias$", "LayerNorm.beta", k)): v
                 for k, v in state.items()}
    published = _save(state, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps({**BERT_CONFIG, **(config or {})}, indent=2))
    shutil.copy(Path(minilm_path()) / "vocab.txt", folder / "vocab.txt")  # bert-base-uncased's vocabulary
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 512}))
    return model, published


def check_bert(hub, config: dict | None = None, legacy_names: bool = False) -> None:
    from rmm_lib.recipes.cmpt import paper_token_encoders

    model, published = publish_bert(hub, config, legacy_names)
    tower = paper_token_encoders(["text"], pretrained=True, offline=get_profile("paper").offline)["text"]

    def in_file(key):
        name = "bert." + key
        if legacy_names:
            name = re.sub(r"LayerNorm\.weight$", "LayerNorm.gamma", re.sub(r"LayerNorm\.bias$", "LayerNorm.beta", name))
        return name

    assert_loaded_as_published(_tower_state(tower.model), published, in_file,
                               dropped=lambda k: k.startswith(("cls.", "bert.pooler.")))
    assert tower.tokenizer("Hello World")["input_ids"] == [101, 7592, 2088, 102]  # bert-base-uncased's ids
    batch = tower.tokenizer(["a bowl of ramen", "apple pie with cream"], padding=True, return_tensors="pt")
    with torch.no_grad():
        ours = tower.model.eval()(**batch).last_hidden_state
        theirs = model.bert(**batch).last_hidden_state
    assert_same_output(ours, theirs, "bert last_hidden_state")


@pytest.mark.parametrize("legacy_names", [False, True], ids=["weight-names", "gamma-beta-names"])
def test_bert_base_uncased_as_published_loads_into_cmpt_text_tower(hub, legacy_names):
    check_bert(hub, legacy_names=legacy_names)


# ----------------------------------------------------------------------------- AST
def publish_ast(hub, config: dict | None = None):
    from transformers import ASTConfig, ASTForAudioClassification

    folder = hub(AST)
    torch.manual_seed(0)
    keys = {k: v for k, v in AST_CONFIG.items() if k not in ("architectures", "torch_dtype", "transformers_version")}
    model = ASTForAudioClassification(ASTConfig(**keys)).eval()

    def as_published(key):
        for pattern, repl in AST_PUBLISHED_NAMES:
            key = re.sub(pattern, repl, key)
        return key

    published = _save({as_published(k): v for k, v in model.state_dict().items()}, folder / "model.safetensors")
    assert any(".attention.attention.query." in k for k in published)  # the transformers 4.x layout
    (folder / "config.json").write_text(json.dumps({**AST_CONFIG, **(config or {})}, indent=2))
    return model, published, as_published


def check_ast(hub, config: dict | None = None) -> None:
    from rmm_lib.recipes.cmpt import paper_token_encoders

    model, published, as_published = publish_ast(hub, config)
    tower = paper_token_encoders(["audio"], pretrained=True, offline=get_profile("paper").offline)["audio"]
    assert_loaded_as_published(_tower_state(tower.model), published,
                               lambda k: as_published("audio_spectrogram_transformer." + k),
                               dropped=lambda k: k.startswith("classifier."))
    spectrogram = torch.randn(2, 1024, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = tower.model.eval()(spectrogram).last_hidden_state
        theirs = model.audio_spectrogram_transformer(spectrogram).last_hidden_state
    assert_same_output(ours, theirs, "AST last_hidden_state")


def test_ast_audioset_as_published_loads_into_cmpt_audio_tower(hub):
    check_ast(hub)


# ----------------------------------------------------------------------------- open_clip (openai)
def publish_open_clip(hub, name: str, quick_gelu: bool = True):
    """``name``'s ``openai`` weights as the hub repository of the tag holds them: a random CLIP built
    as OpenAI's (QuickGELU), its full state dict in ``open_clip_model.safetensors``."""
    import open_clip

    repo = open_clip.get_pretrained_cfg(name, "openai")["hf_hub"].rstrip("/")
    torch.manual_seed(0)
    model = open_clip.create_model(name, pretrained=None, force_quick_gelu=quick_gelu).eval()
    published = _save(model.state_dict(), hub(repo) / "open_clip_model.safetensors")
    return model, published


def _images_and_texts(name: str):
    import open_clip

    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    return images, open_clip.get_tokenizer(name)(["a photo of ramen", "a sad face"])


def check_trml_foundation(hub, name: str, quick_gelu: bool = True) -> None:
    """TRML's foundation model (``recipes.trml.foundation``: CLIP fine-tuned whole)."""
    from rmm_lib.context import build_context
    from rmm_lib.data import synthetic_splits
    from rmm_lib.recipes import trml
    from rmm_lib.tables import get

    model, published = publish_open_clip(hub, name, quick_gelu)
    ctx = build_context(get("trml.table1"), synthetic_splits("mosi_raw", n=2), "paper", pretrained=True)
    if (name, "openai") != trml.PAPER_FOUNDATION:  # Fig. 4's second architecture: the chapter's `arch`
        clip, _ = trml.load_foundation(name, "openai", offline=ctx.profile.offline)
    else:
        clip, _ = trml.foundation(ctx)
    _assert_all_keys(clip.state_dict(), published)
    images, texts = _images_and_texts(name)
    with torch.no_grad():
        assert_same_output(clip.eval().encode_image(images), model.encode_image(images), f"{name} encode_image")
        assert_same_output(clip.encode_text(texts), model.encode_text(texts), f"{name} encode_text")


def _assert_all_keys(loaded: dict, published: dict) -> None:
    """The whole CLIP is kept (TRML): the loaded state dict is the published one, key for key."""
    assert set(loaded) == set(published), (sorted(set(published) - set(loaded))[:3], sorted(set(loaded) - set(published))[:3])
    for key, value in loaded.items():
        assert torch.equal(value, published[key]), f"{key}: not the published values"


@pytest.mark.parametrize("name", ["ViT-B-32", "RN50"])
def test_openai_clip_as_published_loads_as_trml_foundation(hub, name):
    check_trml_foundation(hub, name)


def test_openai_clip_vit_b_32_as_published_loads_into_mla_towers(hub):
    from rmm_lib.data import synthetic_splits
    from rmm_lib.recipes.mla import PAPER_DIM, build_encoders

    model, published = publish_open_clip(hub, "ViT-B-32")
    train = synthetic_splits("food101", n=2)["train"]
    towers = build_encoders(train, PAPER_DIM, pretrained=True, offline=get_profile("paper").offline)
    text_parts = ("transformer.", "token_embedding.", "positional_embedding", "ln_final.", "text_projection")
    assert_loaded_as_published(towers["image"].clip.state_dict(), published, lambda k: k,
                               dropped=lambda k: k.startswith(text_parts) or k == "logit_scale")
    assert_loaded_as_published(towers["text"].clip.state_dict(), published, lambda k: k,
                               dropped=lambda k: k.startswith("visual.") or k == "logit_scale")
    images, texts = _images_and_texts("ViT-B-32")
    with torch.no_grad():
        assert_same_output(towers["image"].clip.eval().encode_image(images), model.encode_image(images), "image tower")
        assert_same_output(towers["text"].clip.eval().encode_text(texts), model.encode_text(texts), "text tower")


def check_cmpt_image_tower(hub, quick_gelu: bool = True) -> None:
    from rmm_lib.recipes.cmpt import paper_token_encoders

    model, published = publish_open_clip(hub, "ViT-B-16", quick_gelu)
    tower = paper_token_encoders(["image"], pretrained=True, offline=get_profile("paper").offline)["image"]
    # CMPT reads the visual tower's class token at width 768: CLIP's projection and text tower go unused
    # LoRA sits on q, k, v and o separately (split_attention after loading): compare the fused rows
    assert_loaded_as_published(_fused_attention(_tower_state(tower.visual)), published, lambda k: "visual." + k,
                               dropped=lambda k: not k.startswith("visual.") or k == "visual.proj")
    images, _ = _images_and_texts("ViT-B-16")
    model.visual.proj = None
    with torch.no_grad():
        assert_same_output(tower.visual.eval()(images), model.visual(images), "ViT-B-16 class token")


def test_openai_clip_vit_b_16_as_published_loads_into_cmpt_image_tower(hub):
    check_cmpt_image_tower(hub)


# ----------------------------------------------------------------------------- the checks catch a changed key
@pytest.mark.parametrize("key, value", [("hidden_act", "relu"), ("num_attention_heads", 2)])
def test_a_changed_bert_config_key_fails_the_check(hub, key, value):
    """Same tensors, same key names, another architecture: only the output comparison sees it."""
    with pytest.raises(AssertionError, match="outputs differ"):
        check_bert(hub, {key: value})


def test_a_changed_ast_config_key_fails_the_load(hub):
    """A stride of 12 instead of 10 gives AST another patch count, so the published position
    embeddings no longer fit: transformers refuses the file (its load report names the tensor)."""
    with pytest.raises(RuntimeError, match="ignore_mismatched_sizes"):
        check_ast(hub, {"time_stride": 12})


def test_weights_without_quick_gelu_fail_the_check(hub):
    """The ``openai`` tag's configuration says QuickGELU; weights of a GELU model under that tag are
    another model, and the comparison says so."""
    with pytest.raises(AssertionError, match="outputs differ"):
        check_cmpt_image_tower(hub, quick_gelu=False)
