"""Datasets: the shared data types and the embedded benchmark."""
from .benchmark import (CLASS_NAMES, MODALITIES, TESTBED, WordVocab, benchmark_vocab, digit_photos, make_benchmark,
                        make_split, make_testbed)
from .types import Batch, ModalDataset, MultimodalDataset, apply_masks, placeholder_inputs, placeholder_strings

__all__ = [
    "Batch",
    "ModalDataset",
    "MultimodalDataset",
    "apply_masks",
    "placeholder_inputs",
    "placeholder_strings",
    "make_benchmark",
    "make_split",
    "make_testbed",
    "TESTBED",
    "digit_photos",
    "benchmark_vocab",
    "WordVocab",
    "CLASS_NAMES",
    "MODALITIES",
]

# Real datasets (paper profile): prepared by data_scripts/, read lazily from <root>/<name>/prepared.
from .cache import FeatureCache, fingerprint_dataset, fingerprint_module  # noqa: E402
from .prepared import PreparedDataError, PreparedDataset  # noqa: E402
from .real import data_root, load_splits, synthetic_splits  # noqa: E402
from .registry import DATASETS, DatasetInfo  # noqa: E402

__all__ += [
    "load_splits",
    "synthetic_splits",
    "data_root",
    "DATASETS",
    "DatasetInfo",
    "PreparedDataset",
    "PreparedDataError",
    "FeatureCache",
    "fingerprint_module",
    "fingerprint_dataset",
]
