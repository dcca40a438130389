"""Datasets: the shared data types and the embedded benchmark."""
from .benchmark import CLASS_NAMES, MODALITIES, WordVocab, benchmark_vocab, make_benchmark, make_split
from .types import Batch, MultimodalDataset

__all__ = [
    "Batch",
    "MultimodalDataset",
    "make_benchmark",
    "make_split",
    "benchmark_vocab",
    "WordVocab",
    "CLASS_NAMES",
    "MODALITIES",
]
