"""Every public entry point refuses values that make no sense, with a message naming the argument."""
import re

import numpy as np
import pytest
import torch
from torch import nn

from rmm_lib import missing
from rmm_lib.baselines import (
    BiGatedFusion,
    ConcatFusion,
    FiLMFusion,
    LateFusion,
    OGMGEFusion,
    QMFFusion,
    SumFusion,
    UnimodalModel,
    drop_modalities,
    make_baseline,
    make_mla_baseline,
)
from rmm_lib.data.benchmark import make_benchmark, make_split
from rmm_lib.encoders import (
    BagOfWordsEncoder,
    ImageCNN,
    MLPEncoder,
    NotACheckpointError,
    SequenceTransformer,
    WeightsNotFoundError,
    hf_model,
    open_clip_model,
    quick_encoders,
)

TWO = ("image", "text")
THREE = ("image", "text", "audio")


def refuses(call, name: str, error=ValueError):
    """``call()`` raises ``error`` whose message names ``name`` (the argument to change)."""
    # the name as a word of its own: "dim" must not be satisfied by a message about "in_dim"
    with pytest.raises(error, match=rf"(?<![\w.]){re.escape(name)}"):
        call()


# ----------------------------------------------------------------------------- shared checks
@pytest.mark.parametrize("value", [0, -3, 2.5, 10.0, "10", None, True])
def test_check_count(value):
    refuses(lambda: missing.check_count(value, "n_things"), "n_things")


@pytest.mark.parametrize("value", [-1, 0.5, "0"])
def test_check_seed(value):
    refuses(lambda: missing.check_seed(value), "seed")


@pytest.mark.parametrize("value", [-0.1, 1.01, 70, float("nan"), "much", "0.3", None, True])
def test_check_rate(value):
    refuses(lambda: missing.check_rate(value, "the_rate"), "the_rate")


def test_a_rate_given_as_a_string_is_refused_like_a_count():
    with pytest.raises(ValueError, match=r"got the string '0.3'; pass the number itself, e.g. eta=0.3"):
        missing.mla_random_missing(10, ("image", "text"), "0.3")
    with pytest.raises(ValueError, match=r"got the string '2'"):
        missing.check_positive("2", "tau")
    assert missing.check_rate(np.float32(0.25), "rate") == 0.25  # numpy numbers are numbers


def test_the_map_protocol_says_it_needs_image_and_text():
    with pytest.raises(ValueError, match=r"masks the image and the text; modalities=\('audio', 'video'\) has no "
                                         r"'image' and no 'text'. Pass modalities that include both"):
        missing.map_missing(10, "text", 0.5, modalities=("audio", "video"))
    with pytest.raises(ValueError, match=r"has no 'text'\."):
        missing.map_missing(10, "text", 0.5, modalities=("image", "audio"))


@pytest.mark.parametrize("modalities", ["image", (), ("image", "image"), ("image", 3), None])
def test_check_modalities(modalities):
    refuses(lambda: missing.check_modalities(modalities), "modalities")


def test_counts_accept_numpy_integers():
    assert missing.check_count(np.int64(5), "n") == 5
    assert missing.full_presence(np.int32(3), TWO).shape == (3, 2)


# ----------------------------------------------------------------------------- protocols
@pytest.mark.parametrize("kwargs,name", [
    ({"n": 0}, "n (number of samples)"),
    ({"n": 2.5}, "n (number of samples)"),
    ({"modalities": "image"}, "modalities"),
    ({"modalities": ()}, "modalities"),
])
def test_full_presence_refuses(kwargs, name):
    refuses(lambda: missing.full_presence(**{"n": 4, "modalities": TWO, **kwargs}), name)


@pytest.mark.parametrize("kwargs,name", [
    ({"n": 0}, "n (number of samples)"),
    ({"n": -1}, "n (number of samples)"),
    ({"modality": "video"}, "Unknown modality 'video'"),
    ({"modalities": "text"}, "modalities"),
])
def test_only_modality_refuses(kwargs, name):
    refuses(lambda: missing.only_modality(**{"n": 4, "modalities": THREE, "modality": "text", **kwargs}), name)


def test_only_modality_keeps_exactly_that_modality():
    mask = missing.only_modality(5, THREE, "text")
    assert mask.dtype == bool and mask.shape == (5, 3)
    assert mask[:, 1].all() and not mask[:, [0, 2]].any()


@pytest.mark.parametrize("kwargs,name", [
    ({"presence": np.ones(3, dtype=bool)}, "presence"),
    ({"presence": np.ones((3, 3), dtype=bool)}, "presence"),
    ({"presence": np.ones((0, 2), dtype=bool)}, "presence"),
    ({"modalities": "image"}, "modalities"),
])
def test_missing_rates_refuses(kwargs, name):
    refuses(lambda: missing.missing_rates(**{"presence": np.ones((3, 2), dtype=bool), "modalities": TWO, **kwargs}), name)


@pytest.mark.parametrize("kwargs,name", [
    ({"victim": 3}, "victim"),
    ({"victim": "TV"}, "'A->B'"),
    ({"victim": "T->A"}, "Unknown modality 'audio'"),
    ({"victim": "T->T"}, "same modality twice"),
    ({"modalities": ("text",)}, "modalities"),
])
def test_parse_victim_refuses(kwargs, name):
    refuses(lambda: missing.parse_victim(**{"victim": "T->V", "modalities": TWO, **kwargs}), name)


TRML_GOOD = {"n_train": 20, "n_val": 10, "n_test": 10, "modalities": TWO, "victim": "T->V", "kept": 0.1, "seed": 0}
TRML_BAD = [
    ({"n_train": 0}, "n_train"),
    ({"n_val": -5}, "n_val"),
    ({"n_test": 3.5}, "n_test"),
    ({"kept": 1.5}, "kept (p)"),
    ({"kept": -0.2}, "kept (p)"),
    ({"victim": "T->A"}, "Unknown modality 'audio'"),
    ({"modalities": ("image",)}, "modalities"),
    ({"seed": -1}, "seed"),
]


@pytest.mark.parametrize("kwargs,name", TRML_BAD + [({"val_like": "dev"}, "val_like")])
def test_trml_setting_a_refuses(kwargs, name):
    refuses(lambda: missing.trml_setting_a(**{**TRML_GOOD, **kwargs}), name)


@pytest.mark.parametrize("kwargs,name", TRML_BAD)
def test_trml_setting_b_refuses(kwargs, name):
    refuses(lambda: missing.trml_setting_b(**{**TRML_GOOD, **kwargs}), name)


@pytest.mark.parametrize("kwargs,name", [
    ({"n": 0}, "n (number of samples)"),
    ({"n": 10.0}, "n (number of samples)"),
    ({"eta": 1.2}, "eta (missing rate)"),
    ({"eta": -0.5}, "eta (missing rate)"),
    ({"modalities": ("image",)}, "at least two modalities"),
    ({"modalities": "image"}, "modalities"),
    ({"seed": -2}, "seed"),
])
def test_mla_random_missing_refuses(kwargs, name):
    refuses(lambda: missing.mla_random_missing(**{"n": 10, "modalities": THREE, "eta": 0.5, **kwargs}), name)


@pytest.mark.parametrize("kwargs,name", [({"eta": 2.0}, "eta (missing rate)"), ({"n_modalities": 0}, "n_modalities")])
def test_mla_expected_rate_refuses(kwargs, name):
    refuses(lambda: missing.mla_expected_rate(**{"eta": 0.5, "n_modalities": 3, **kwargs}), name)


@pytest.mark.parametrize("kwargs,name", [
    ({"sizes": {}}, "sizes"),
    ({"sizes": [100, 100]}, "sizes"),
    ({"sizes": {"train": 100, "test": 0}}, "sizes['test']"),
    ({"eta": 7}, "eta (missing rate)"),
    ({"seed": -1}, "seed"),
])
def test_mla_splits_refuses(kwargs, name):
    refuses(lambda: missing.mla_splits(**{"sizes": {"train": 10, "test": 10}, "modalities": THREE, "eta": 0.5, **kwargs}), name)


@pytest.mark.parametrize("kwargs,name", [
    ({"n": 0}, "n (number of samples)"),
    ({"missing_type": "audio"}, "missing_type"),
    ({"rate": 70}, "rate (missing ratio)"),
    ({"rate": -0.1}, "rate (missing ratio)"),
    ({"modalities": ("audio", "text")}, "modalities"),
    ({"seed": 1.5}, "seed"),
])
def test_map_missing_refuses(kwargs, name):
    refuses(lambda: missing.map_missing(**{"n": 10, "missing_type": "both", "rate": 0.7, "modalities": TWO, **kwargs}), name)


@pytest.mark.parametrize("kwargs,name", [
    ({"sizes": {"train": 0, "test": 10}}, "sizes['train']"),
    ({"sizes": {"train": 10, "unlabelled": 10}}, "unknown split"),
    ({"train_type": "audio"}, "train_type"),
    ({"test_type": None}, "test_type"),
    ({"rate": 1.5}, "rate (missing ratio)"),
    ({"val_like": "dev"}, "val_like"),
])
def test_map_splits_refuses(kwargs, name):
    good = {"sizes": {"train": 10, "val": 5, "test": 10}, "train_type": "text", "test_type": "image",
            "rate": 0.7, "modalities": TWO}
    refuses(lambda: missing.map_splits(**{**good, **kwargs}), name)


@pytest.mark.parametrize("kwargs,name", [
    ({"n": 0}, "n (number of samples)"),
    ({"missing": "video"}, "Unknown modality 'video' for missing"),
    ({"rates": 0.5}, "rates"),
    ({"rates": []}, "rates"),
    ({"rates": [0.1, 1.5]}, "rates[1]"),
    ({"seed": -1}, "seed"),
])
def test_inference_sweep_refuses(kwargs, name):
    refuses(lambda: missing.inference_sweep(**{"n": 10, "missing": "text", "rates": [0.1], "modalities": TWO, **kwargs}), name)


# ----------------------------------------------------------------------------- benchmark
@pytest.mark.parametrize("kwargs,name", [
    ({"n_train": 0}, "n_train"),
    ({"n_val": -1}, "n_val"),
    ({"n_test": 2.5}, "n_test"),
    ({"n_unlabelled": -1}, "n_unlabelled"),
    ({"seed": -1}, "seed"),
    ({"image_noise": -0.1}, "image_noise"),
    ({"audio_noise": float("nan")}, "audio_noise"),
    ({"topic_noise": 1.5}, "topic_noise"),
    ({"image_size": 4}, "image_size"),
    ({"frames": 2}, "frames"),
    ({"bins": 0}, "bins"),
    ({"text_len": 0}, "text_len"),
])
def test_make_benchmark_refuses(kwargs, name):
    refuses(lambda: make_benchmark(**{"n_train": 10, "n_val": 10, "n_test": 10, **kwargs}), name)


def test_make_benchmark_refuses_unknown_options():
    refuses(lambda: make_benchmark(10, 10, 10, noise=0.1), "noise", error=TypeError)


@pytest.mark.parametrize("kwargs,name", [
    ({"n": 0}, "n="),
    ({"split": "dev"}, "split"),
    ({"seed": -3}, "seed"),
    ({"image_noise": -1}, "image_noise"),
    ({"topic_noise": -0.5}, "topic_noise"),
    ({"frames": 0}, "frames"),
])
def test_make_split_refuses(kwargs, name):
    refuses(lambda: make_split(**{"n": 5, "split": "train", **kwargs}), name)


# ----------------------------------------------------------------------------- encoders
@pytest.mark.parametrize("cls,kwargs,name", [
    (MLPEncoder, {"in_dim": 0}, "in_dim"),
    (MLPEncoder, {"in_dim": 8, "dim": 0}, "dim"),
    (MLPEncoder, {"in_dim": 8, "hidden": -1}, "hidden"),
    (MLPEncoder, {"in_dim": 8, "dropout": 1.5}, "dropout"),
    (ImageCNN, {"in_channels": 0}, "in_channels"),
    (ImageCNN, {"dim": 2.5}, "dim"),
    (ImageCNN, {"width": 0}, "width"),
    (BagOfWordsEncoder, {"vocab_size": 1}, "vocab_size"),
    (BagOfWordsEncoder, {"vocab_size": 10, "dim": 0}, "dim"),
    (BagOfWordsEncoder, {"vocab_size": 10, "embed": 0}, "embed"),
    (SequenceTransformer, {"in_dim": 0}, "in_dim"),
    (SequenceTransformer, {"in_dim": 8, "dim": 0}, "dim"),
    (SequenceTransformer, {"in_dim": 8, "layers": 0}, "layers"),
    (SequenceTransformer, {"in_dim": 8, "heads": 0}, "heads"),
    (SequenceTransformer, {"in_dim": 8, "dim": 10, "heads": 4}, "divisible by heads"),
    (SequenceTransformer, {"in_dim": 8, "max_len": 0}, "max_len"),
])
def test_encoder_constructors_refuse(cls, kwargs, name):
    refuses(lambda: cls(**kwargs), name)


def test_quick_encoders_refuses_a_bad_dim():
    refuses(lambda: quick_encoders(None, 0), "dim")


@pytest.mark.parametrize("content", [b"", b"these are not weights\n", b"<!DOCTYPE html><html>login</html>",
                                     b"version https://git-lfs.github.com/spec/v1\n", b"PK\x03\x04 broken"])
@pytest.mark.parametrize("suffix", [".pt", ".bin", ".safetensors"])
def test_open_clip_refuses_a_file_that_is_not_a_checkpoint(tmp_path, content, suffix):
    path = tmp_path / f"weights{suffix}"
    path.write_bytes(content)
    with pytest.raises(NotACheckpointError, match="not a checkpoint") as err:
        open_clip_model("ViT-B-32", str(path), offline=True)
    assert isinstance(err.value, ValueError)
    assert "torch.save" in str(err.value) and "download" in str(err.value)  # says what to do instead


def test_open_clip_refuses_a_directory(tmp_path):
    with pytest.raises(NotACheckpointError, match="is a directory"):
        open_clip_model("ViT-B-32", str(tmp_path), offline=True)


def test_open_clip_accepts_real_checkpoint_formats(tmp_path):
    from safetensors.torch import save_file

    from rmm_lib.files import checkpoint_problem

    state = {"w": torch.zeros(2, 3)}
    torch.save(state, tmp_path / "zip.pt")
    torch.save(state, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    save_file(state, tmp_path / "w.safetensors")
    for name in ("zip.pt", "legacy.pt", "w.safetensors"):
        assert checkpoint_problem(tmp_path / name) is None, name


def test_open_clip_missing_file_is_still_weights_not_found(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="No checkpoint file"):
        open_clip_model("ViT-B-32", str(tmp_path / "absent.pt"), offline=True)


def _hf_dir(tmp_path, files: dict):
    d = tmp_path / "model"
    d.mkdir()
    for name, content in files.items():
        (d / name).write_bytes(content)
    return d


@pytest.mark.parametrize("files,kind,error,message", [
    ({}, "model", NotACheckpointError, "no config.json"),
    ({"config.json": b""}, "model", NotACheckpointError, "config.json is not valid JSON"),
    ({"config.json": b"{}", "model.safetensors": b"not weights"}, "model", NotACheckpointError, "model.safetensors"),
    ({"config.json": b"{}", "pytorch_model.bin": b""}, "model", NotACheckpointError, "empty"),
    ({"config.json": b"{}"}, "model", WeightsNotFoundError, "no weights"),
    ({"README.md": b"hi"}, "tokenizer", NotACheckpointError, "no tokenizer files"),
    ({"tokenizer.json": b"oops"}, "tokenizer", NotACheckpointError, "tokenizer.json is not valid JSON"),
    ({}, "config", NotACheckpointError, "no config.json"),
    ({}, "feature_extractor", NotACheckpointError, "preprocessor_config.json"),
])
def test_hf_model_refuses_a_directory_without_the_model(tmp_path, files, kind, error, message):
    d = _hf_dir(tmp_path, files)
    with pytest.raises(error, match=re.escape(message)) as err:
        hf_model(str(d), kind=kind, offline=True)
    assert "save_pretrained" in str(err.value) and "huggingface-cli download" in str(err.value)


@pytest.mark.parametrize("content", [b"", b"plain text"])
def test_hf_model_refuses_a_file(tmp_path, content):
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(NotACheckpointError, match="hf_model needs the model's directory"):
        hf_model(str(path), offline=True)


@pytest.mark.parametrize("kwargs,name,error", [
    ({"name_or_path": ""}, "name_or_path", ValueError),
    ({"name_or_path": None}, "name_or_path", ValueError),
    ({"kind": "weights"}, "kind", ValueError),
    ({"name_or_path": "/no/such/model/dir"}, "No model directory", WeightsNotFoundError),
])
def test_hf_model_refuses_bad_arguments(kwargs, name, error):
    refuses(lambda: hf_model(**{"name_or_path": "bert-base-uncased", "offline": True, **kwargs}), name, error)


@pytest.mark.parametrize("pretrained", [3, ""])
def test_open_clip_refuses_bad_pretrained(pretrained):
    refuses(lambda: open_clip_model("ViT-B-32", pretrained, offline=True), "pretrained")


# ----------------------------------------------------------------------------- baselines
def encoders(n: int = 3) -> nn.ModuleDict:
    return nn.ModuleDict({m: nn.Linear(4, 8) for m in THREE[:n]})


MODEL_BAD = [
    ({"dim": 0}, "dim"),
    ({"dim": 8.0}, "dim"),
    ({"out_dim": 0}, "out_dim"),
    ({"task": "ranking"}, "task"),
    ({"task": "regression", "out_dim": 3}, "out_dim=3 with task='regression'"),
    ({"out_dim": 1}, "out_dim=1 with task='classification'"),
    ({"encoders": {"image": nn.Linear(4, 8)}}, "encoders"),
    ({"encoders": nn.ModuleDict()}, "encoders"),
]


@pytest.mark.parametrize("cls", [SumFusion, ConcatFusion, LateFusion, FiLMFusion, BiGatedFusion, QMFFusion])
@pytest.mark.parametrize("kwargs,name", MODEL_BAD)
def test_fusion_constructors_refuse(cls, kwargs, name):
    refuses(lambda: cls(**{"encoders": encoders(), "dim": 8, "out_dim": 6, **kwargs}), name)


@pytest.mark.parametrize("kwargs,name", [
    ({"modality_dropout": 1.5}, "modality_dropout"),
    ({"modality_dropout": -0.1}, "modality_dropout"),
    ({"modality_dropout": float("nan")}, "modality_dropout"),
])
def test_concat_fusion_refuses_a_bad_dropout(kwargs, name):
    refuses(lambda: ConcatFusion(encoders(), 8, 6, **kwargs), name)


@pytest.mark.parametrize("kwargs,name", [
    ({"encoder": "not a module"}, "encoder"),
    ({"modality": ""}, "modality"),
    ({"dim": -1}, "dim"),
    ({"out_dim": 0}, "out_dim"),
    ({"task": "regresion"}, "task"),
])
def test_unimodal_model_refuses(kwargs, name):
    refuses(lambda: UnimodalModel(**{"encoder": nn.Linear(4, 8), "modality": "image", "dim": 8, "out_dim": 6,
                                     **kwargs}), name)


@pytest.mark.parametrize("kwargs,name", [
    ({"alpha": 0}, "alpha"),
    ({"alpha": float("nan")}, "alpha"),
    ({"dim": 0}, "dim"),
])
def test_ogm_ge_refuses(kwargs, name):
    refuses(lambda: OGMGEFusion(**{"encoders": encoders(), "dim": 8, "out_dim": 6, **kwargs}), name)


@pytest.mark.parametrize("kwargs,name", [
    ({"rank_weight": -1}, "rank_weight"),
    ({"energy_scale": 0}, "energy_scale"),
    ({"n_samples": 0}, "n_samples"),
])
def test_qmf_refuses(kwargs, name):
    refuses(lambda: QMFFusion(**{"encoders": encoders(), "dim": 8, "out_dim": 6, **kwargs}), name)


@pytest.mark.parametrize("kwargs,name", [
    ({"name": "gated"}, "Unknown baseline 'gated'"),
    ({"name": "lb"}, "modality="),
    ({"dim": 0}, "dim"),
    ({"out_dim": -2}, "out_dim"),
    ({"name": "dropout", "modality_dropout": 2.0}, "modality_dropout"),
])
def test_make_baseline_refuses(kwargs, name):
    refuses(lambda: make_baseline(**{"name": "concat", "encoders": encoders(), "dim": 8, "out_dim": 6, **kwargs}), name)


@pytest.mark.parametrize("kwargs,name", [
    ({"name": "gated"}, "Unknown MLA baseline 'gated'"),
    ({"name": "film", "dim": 0}, "dim"),
    ({"name": "sum", "out_dim": 0}, "out_dim"),
])
def test_make_mla_baseline_refuses(kwargs, name):
    refuses(lambda: make_mla_baseline(**{"name": "qmf", "encoders": encoders(), "dim": 8, "out_dim": 6, **kwargs}), name)


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), "half"])
def test_drop_modalities_refuses_a_bad_probability(p):
    refuses(lambda: drop_modalities(None, p), "p (modality-dropout probability)")
