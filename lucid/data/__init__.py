"""Data loading: ``Dataset``, ``TensorDataset``, ``Subset``, ``random_split``, ``DataLoader``
(with worker threads, resumable mid-epoch), the samplers (``SequentialSampler``,
``RandomSampler``, ``SubsetRandomSampler``, ``WeightedRandomSampler``, ``BatchSampler``),
``default_collate``, the per-sample random generator ``sample_rng`` / ``get_worker_info``
for datasets that augment, and the caching datasets ``CacheDataset`` (in memory) and
``PersistentDataset`` (on disk), which run a transform chain's deterministic part once per item."""

from lucid.data.cache import CacheDataset, PersistentDataset  # noqa: F401

from lucid.data.collate import default_collate  # noqa: F401
from lucid.data.dataset import Dataset, Subset, TensorDataset, random_split  # noqa: F401
from lucid.data.loader import DataLoader  # noqa: F401
from lucid.data.sampler import (  # noqa: F401
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from lucid.data.workers import get_worker_info, sample_rng  # noqa: F401

__all__ = [
    "Dataset",
    "TensorDataset",
    "Subset",
    "random_split",
    "CacheDataset",
    "PersistentDataset",
    "DataLoader",
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "BatchSampler",
    "default_collate",
    "get_worker_info",
    "sample_rng",
]
