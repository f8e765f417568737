"""``DataLoader``: iterate over a dataset in (optionally shuffled) batches."""

from __future__ import annotations

import numbers

import numpy as np

from lucid import _backend as B
from lucid.data.dataset import Subset, TensorDataset, _seed, checked_indices
from lucid.tensor import Tensor

__all__ = ["DataLoader", "default_collate"]


def default_collate(samples):
    """Stack a list of samples into a batch: Tensors, numpy arrays and numbers become one
    Tensor with a new leading axis; tuples, lists and dicts are collated field by field
    (keeping their type); strings and anything else stay a list.

    dtypes follow PyTorch: numpy arrays and scalars keep their dtype (promoted across the
    batch as ``np.stack`` does), Python floats give float64, ints int64, bools bool. A batch
    mixing Python ints and floats is float64 whatever its order (PyTorch gives float32 when
    the first sample is an int: docs/data.md)."""
    first = samples[0]
    if isinstance(first, Tensor):
        _same_shapes([s.shape for s in samples])
        with B.device_scope(first._device):
            return Tensor._wrap(B.stack([s.data for s in samples]), first._device)
    if isinstance(first, (np.ndarray, np.generic)) and not isinstance(first, (str, bytes)):
        _same_shapes([np.shape(s) for s in samples])
        return _keeping_dtype(np.stack([np.asarray(s) for s in samples]))
    if isinstance(first, numbers.Number) and all(isinstance(s, numbers.Number)
                                                 for s in samples):
        if all(isinstance(s, (bool, np.bool_)) for s in samples):
            return Tensor(np.array(samples, dtype=bool))
        if all(isinstance(s, numbers.Integral) for s in samples):
            return Tensor(np.array(samples, dtype=np.int64))
        return Tensor(np.array(samples, dtype=np.float64), dtype="float64")
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


def _keeping_dtype(arr: np.ndarray) -> Tensor:
    """A Tensor of ``arr``'s own dtype where Lucid has it (numpy dtypes it lacks, such as
    uint16, convert as ``lucid.tensor`` converts them)."""
    name = arr.dtype.name
    return Tensor(arr, dtype=name) if name in B.DTYPES else Tensor(arr)


def _same_shapes(shapes):
    if any(s != shapes[0] for s in shapes):
        raise ValueError(f"default_collate: cannot stack samples of different shapes "
                         f"{sorted(set(shapes))}")


def _tensor_source(dataset):
    """(TensorDataset, index arrays of the Subsets around it, outermost first) when batches can
    be gathered straight from the dataset's arrays, else None."""
    levels = []
    while isinstance(dataset, Subset) and type(dataset).__getitem__ is Subset.__getitem__:
        levels.append(np.asarray(dataset.indices, dtype=np.int64))
        dataset = dataset.dataset
    if isinstance(dataset, TensorDataset) and \
            type(dataset).__getitem__ is TensorDataset.__getitem__:
        return dataset, levels
    return None


def _gather(source, indices) -> tuple:
    """One batch of a TensorDataset source: the indices mapped through each Subset (each
    checked against that Subset's length), then one gather per tensor."""
    dataset, levels = source
    idx = indices
    for level in levels:
        idx = level[checked_indices(idx, len(level), "Subset")]
    return dataset.batch(idx)


class DataLoader:
    """Batches of ``dataset``: ``for x, y in DataLoader(ds, batch_size=8, shuffle=True)``.

    ``shuffle`` draws a new order every epoch from the loader's own numpy Generator, seeded
    once from ``seed`` (or from ``lucid.random.seed``'s state when ``seed`` is None), so epochs
    differ and a run is reproducible. ``sampler`` (an iterable of indices, re-iterated each
    epoch) replaces the order; ``batch_sampler`` (an iterable of lists of indices) replaces the
    batching too. ``drop_last`` skips a final short batch. ``collate_fn`` turns a list of
    samples into a batch (``default_collate`` by default). A ``TensorDataset`` (or a ``Subset``
    of one) with the default collate is batched by one gather per tensor. Indices are checked
    on the host: one outside the dataset raises IndexError naming it and the size.
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool = False,
                 sampler=None, batch_sampler=None, collate_fn=None, drop_last: bool = False,
                 seed=None):
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler is mutually exclusive with batch_size, "
                                 "shuffle, sampler and drop_last")
            batch_size = None
        elif isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("sampler and shuffle=True are mutually exclusive")
        if shuffle and len(dataset) == 0:  # as PyTorch's RandomSampler
            raise ValueError("shuffle=True needs a non-empty dataset, got one of length 0")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.seed = seed
        self._rng = np.random.default_rng(_seed(seed)) if shuffle else None
        self._source = _tensor_source(dataset) if collate_fn is None else None

    def _index_batches(self):
        """The lists of indices of this epoch's batches."""
        if self.batch_sampler is not None:
            yield from (list(b) for b in self.batch_sampler)
            return
        if self.sampler is not None:
            order = list(self.sampler)
        elif self.shuffle:
            order = self._rng.permutation(len(self.dataset)).tolist()
        else:
            order = range(len(self.dataset))
        stop = len(order) - (len(order) % self.batch_size if self.drop_last else 0)
        for start in range(0, stop, self.batch_size):
            yield list(order[start:start + self.batch_size])

    def _fetch(self, indices):
        """The batch at ``indices``."""
        if self._source is not None:
            return _gather(self._source, indices)
        return (self.collate_fn or default_collate)([self.dataset[i] for i in indices])

    def __iter__(self):
        for indices in self._index_batches():
            yield self._fetch(indices)

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
