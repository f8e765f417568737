"""Datasets: the indexable collections a ``DataLoader`` batches."""

from __future__ import annotations

import math
import operator

import numpy as np

from lucid import _backend as B
from lucid.random import Generator, randperm
from lucid.tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split"]


class Dataset:
    """Base class: subclasses define ``__getitem__(index)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} does not define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not define __len__")


class TensorDataset(Dataset):
    """Samples are slices along the first axis of the given tensors (or numpy arrays), which
    must all have the same length: ``TensorDataset(x, y)[i] == (x[i], y[i])``."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        self.tensors = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors)
        lengths = [t.shape[0] if t.ndim else None for t in self.tensors]
        if None in lengths or len(set(lengths)) != 1:
            raise ValueError(
                "TensorDataset needs tensors with the same first dimension, got "
                f"shapes {[t.shape for t in self.tensors]}"
            )

    def __getitem__(self, index):
        if not (isinstance(index, slice) or _is_mask(index)):  # masks: checked by indexing
            index = checked_indices(index, len(self), "TensorDataset")
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def batch(self, indices) -> tuple:
        """The samples at ``indices`` (ints, negatives counting from the end), stacked: one
        gather per tensor. Raises IndexError naming an index outside the dataset."""
        idx = B.asarray(checked_indices(np.asarray(indices), len(self), "TensorDataset"), "int32")
        out = []
        for t in self.tensors:
            with B.device_scope(t._device):  # gather on the tensor's own stream
                out.append(Tensor._wrap(B.take(t.data, idx, axis=0), t._device))
        return tuple(out)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order (indices are checked when
    read, as in PyTorch: negative ones count from the end)."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = [operator.index(i) for i in indices]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.dataset[self.indices[index]]
        if isinstance(index, (list, np.ndarray)):  # PyTorch: one call with the mapped list
            picked = checked_indices(index, len(self), "Subset")
            return self.dataset[[self.indices[i] for i in picked.tolist()]]
        return self.dataset[self.indices[int(checked_indices(index, len(self), "Subset"))]]

    def __len__(self) -> int:
        return len(self.indices)


def checked_indices(index, size: int, what: str):
    """``index`` (an int, a sequence or array of ints) with negative entries counted from the
    end, as numpy int64; IndexError naming the first index outside ``[-size, size)``. Checked
    on the host, so no unchecked index reaches an MLX gather."""
    if isinstance(index, Tensor):
        index = index.numpy()
    if isinstance(index, (int, np.integer)) and not isinstance(index, (bool, np.bool_)):
        arr = np.asarray(_index_in_int64(int(index), size, what), dtype=np.int64)
    else:
        arr = np.asarray(index)
        if arr.dtype == object:  # Python ints beyond int64
            arr = np.asarray(
                [_index_in_int64(operator.index(i), size, what) for i in arr.reshape(-1)],
                dtype=np.int64,
            ).reshape(arr.shape)
        if arr.size == 0:
            arr = arr.astype(np.int64)
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{what} indices must be integers, got {arr.dtype} {index!r}")
        arr = arr.astype(np.int64)
    bad = (arr < -size) | (arr >= size)
    if bad.any():
        raise IndexError(
            f"index {int(arr[bad].reshape(-1)[0])} is out of range for a {what} of size {size}"
        )
    return np.where(arr < 0, arr + size, arr)


def _is_mask(index) -> bool:
    if isinstance(index, Tensor):
        return index.dtype == "bool"
    return isinstance(index, np.ndarray) and index.dtype == np.bool_


def _index_in_int64(i: int, size: int, what: str) -> int:
    if not -size <= i < size:
        raise IndexError(f"index {i} is out of range for a {what} of size {size}")
    return i


def _split_lengths(n: int, lengths) -> list:
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split needs at least one length")
    if all(isinstance(x, (int, np.integer)) for x in lengths):
        if any(x < 0 for x in lengths) or sum(lengths) != n:
            raise ValueError(
                f"random_split: lengths {lengths} must be non-negative and sum to "
                f"the dataset's length {n}"
            )
        return [int(x) for x in lengths]
    fracs = [float(x) for x in lengths]
    if any(f < 0 or f > 1 for f in fracs) or not math.isclose(sum(fracs), 1.0, abs_tol=1e-6):
        raise ValueError(f"random_split: fractions {lengths} must lie in [0, 1] and sum to 1")
    sizes = [int(math.floor(n * f)) for f in fracs]
    for i in range(n - sum(sizes)):  # hand out the remainder round-robin, as PyTorch does
        sizes[i % len(sizes)] += 1
    return sizes


def random_split(dataset, lengths, generator=None, *, seed: int | None = None) -> list:
    """Split ``dataset`` at random into non-overlapping ``Subset``s of the given ``lengths``
    (ints summing to ``len(dataset)``, or fractions summing to 1, the remainder going one by
    one to the first splits), PyTorch's: the order is ``randperm(len(dataset),
    generator=generator)``, from the default generator when ``generator`` is None.
    ``seed=s`` (Lucid's) is ``generator=lucid.Generator().manual_seed(s)``."""
    if generator is not None and not isinstance(generator, Generator):
        raise TypeError(
            f"random_split: generator must be a lucid.Generator or None, got "
            f"{type(generator).__name__} (for a seed, pass seed=...)"
        )
    if seed is not None:
        if generator is not None:
            raise ValueError("random_split: give generator= or seed=, not both")
        generator = Generator().manual_seed(seed)
    n = len(dataset)
    sizes = _split_lengths(n, lengths)
    order = randperm(n, generator=generator).tolist()
    out, start = [], 0
    for size in sizes:
        out.append(Subset(dataset, order[start : start + size]))
        start += size
    return out
