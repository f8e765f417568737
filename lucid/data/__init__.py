"""Data loading: ``Dataset``, ``TensorDataset``, ``Subset``, ``random_split`` and
``DataLoader``."""

from lucid.data.dataset import Dataset, Subset, TensorDataset, random_split  # noqa: F401
from lucid.data.loader import DataLoader, default_collate  # noqa: F401

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "DataLoader", "default_collate"]
