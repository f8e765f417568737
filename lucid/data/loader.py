"""``DataLoader``: iterate over a dataset in (optionally shuffled) batches."""

from __future__ import annotations

import numbers

import numpy as np

from lucid import _backend as B
from lucid.data.dataset import Subset, TensorDataset, _seed
from lucid.tensor import Tensor

__all__ = ["DataLoader", "default_collate"]


def default_collate(samples):
    """Stack a list of samples into a batch: Tensors, numpy arrays and numbers become one
    Tensor with a new leading axis; tuples, lists and dicts are collated field by field
    (keeping their type); strings and anything else stay a list."""
    first = samples[0]
    if isinstance(first, Tensor):
        _same_shapes([s.shape for s in samples])
        with B.device_scope(first._device):
            return Tensor._wrap(B.stack([s.data for s in samples]), first._device)
    if isinstance(first, np.ndarray):
        _same_shapes([s.shape for s in samples])
        return Tensor(np.stack(samples))
    if isinstance(first, (bool, np.bool_)):
        return Tensor(np.array(samples, dtype=bool))
    if isinstance(first, numbers.Integral):
        return Tensor(np.array(samples, dtype=np.int64))
    if isinstance(first, numbers.Real):
        return Tensor(np.array(samples, dtype=np.float32))
    if isinstance(first, dict):
        return {k: default_collate([s[k] for s in samples]) for k in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple
        return type(first)(*(default_collate(list(f)) for f in zip(*samples)))
    if isinstance(first, (tuple, list)) and not isinstance(first, str):
        if any(len(s) != len(first) for s in samples):
            raise ValueError("default_collate: samples have different numbers of fields")
        fields = [default_collate(list(f)) for f in zip(*samples)]
        return tuple(fields) if isinstance(first, tuple) else fields
    return list(samples)


def _same_shapes(shapes):
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"default_collate: cannot stack samples of different shapes "
                         f"{sorted(set(shapes))}")


def _tensor_source(dataset):
    """(TensorDataset, index map or None) when batches can be gathered straight from the
    dataset's arrays (a TensorDataset, possibly inside Subsets), else None."""
    mapping = None
    while isinstance(dataset, Subset) and type(dataset).__getitem__ is Subset.__getitem__:
        idx = np.asarray(dataset.indices, dtype=np.int64)
        mapping = idx if mapping is None else idx[mapping]
        dataset = dataset.dataset
    if isinstance(dataset, TensorDataset) and \
            type(dataset).__getitem__ is TensorDataset.__getitem__:
        return dataset, mapping
    return None


class DataLoader:
    """Batches of ``dataset``: ``for x, y in DataLoader(ds, batch_size=8, shuffle=True)``.

    ``shuffle`` draws a new order every epoch from the loader's own numpy Generator, seeded
    once from ``seed`` (or from ``lucid.random.seed``'s state when ``seed`` is None), so epochs
    differ and a run is reproducible. ``sampler`` (an iterable of indices, re-iterated each
    epoch) replaces the order. ``drop_last`` skips a final short batch. ``collate_fn`` turns a
    list of samples into a batch (``default_collate`` by default). A ``TensorDataset`` (or a
    ``Subset`` of one) with the default collate is batched by one gather per tensor.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, collate_fn=None, seed=None, sampler=None):
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("sampler and shuffle=True are mutually exclusive")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.sampler = sampler
        self.seed = seed
        self._rng = np.random.default_rng(_seed(seed)) if shuffle else None
        self._source = _tensor_source(dataset) if collate_fn is None else None

    def _order(self) -> np.ndarray:
        if self.sampler is not None:
            return np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        n = len(self.dataset)
        return self._rng.permutation(n) if self.shuffle else np.arange(n)

    def __iter__(self):
        order = self._order()
        stop = len(order) - (len(order) % self.batch_size if self.drop_last else 0)
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]
            if self._source is not None:
                ds, mapping = self._source
                yield ds.batch(idx if mapping is None else mapping[idx])
            else:
                samples = [self.dataset[int(i)] for i in idx]
                yield (self.collate_fn or default_collate)(samples)

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
