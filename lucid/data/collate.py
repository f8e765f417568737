"""``default_collate``, in two stages so loader workers never touch MLX: ``stack_samples``
(numpy only, safe in a worker thread) and ``finish_batch`` (makes the Tensors, in the thread
that will use them)."""

from __future__ import annotations

import numbers

import numpy as np

from lucid import _backend as B
from lucid._typing import DTypeLike
from lucid.tensor import Tensor

__all__ = [
    "default_collate",
    "stack_samples",
    "finish_batch",
    "to_host",
    "from_host",
    "convert_sample",
]


def default_collate(samples):
    """Stack a list of samples into a batch: Tensors, numpy arrays and numbers become one
    Tensor with a new leading axis; tuples, lists and dicts are collated field by field
    (keeping their type); strings and anything else stay a list.

    dtypes follow PyTorch: numpy arrays and scalars keep their dtype (promoted across the
    batch as ``np.stack`` does), Python floats give float64, ints int64, bools bool. A batch
    mixing Python ints and floats is float64 whatever its order (PyTorch gives float32 when
    the first sample is an int: docs/data.md)."""
    return finish_batch(stack_samples(samples))


class _Stacked:
    """A numpy batch that becomes one Tensor of its dtype (or of ``dtype``, for the element
    bits of Tensor samples, on their ``device``)."""

    def __init__(self, array, dtype: DTypeLike = None, device: str | None = None):
        self.array, self.dtype, self.device = array, dtype, device


class HostTensor:
    """A Tensor's values as numpy element bits, made in a worker thread (MLX arrays belong to
    the thread that made them: a worker's cannot be used by the loader's thread)."""

    def __init__(self, t: Tensor):
        self.bits = np.array(B.element_bits(t.data))  # evaluated here, copied out
        self.dtype, self.device = B.dtype_name(t.data.dtype), t._device

    def tensor(self) -> Tensor:
        """The Tensor again, made in the calling thread."""
        return Tensor(B.from_element_bits(self.bits, self.dtype), device=self.device)


def to_host(tree):
    """``tree`` (samples: dicts, lists, tuples of anything) with every Tensor a HostTensor."""
    return _map_tree(tree, lambda x: HostTensor(x) if isinstance(x, Tensor) else x)


def from_host(tree):
    """The inverse of ``to_host``, in the thread that will use the Tensors."""
    return _map_tree(tree, lambda x: x.tensor() if isinstance(x, HostTensor) else x)


def convert_sample(tree):
    """One unbatched sample as PyTorch's ``default_convert`` gives it: numpy arrays and
    scalars become Tensors of their dtype, containers are converted inside (a plain tuple
    becomes a list, as there), the rest stays."""
    if isinstance(tree, tuple) and not hasattr(tree, "_fields"):
        tree = list(tree)

    def leaf(x: Tensor):
        if isinstance(x, HostTensor):
            return x.tensor()
        if isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind in "biuf":
            return finish_batch(_Stacked(np.asarray(x)))
        return x

    return _map_tree(tree, leaf)


def _map_tree(tree, leaf):
    if isinstance(tree, dict):
        return {k: _map_tree(v, leaf) for k, v in tree.items()}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(_map_tree(v, leaf) for v in tree))
    if isinstance(tree, (tuple, list)):
        return type(tree)(_map_tree(v, leaf) for v in tree)
    return leaf(tree)


class _Tensors:
    """Tensor samples, stacked by ``finish_batch``."""

    def __init__(self, tensors):
        self.tensors = tensors


class _AsIs:
    """Samples that stay a list (strings, other objects)."""

    def __init__(self, items):
        self.items = items


def stack_samples(samples):
    """The numpy stage of ``default_collate``: a tree of numpy batches, Tensor lists and
    plain lists; it creates no MLX array, so it may run in a worker thread."""
    first = samples[0]
    if isinstance(first, Tensor):
        _same_shapes([s.shape for s in samples])
        return _Tensors(list(samples))
    if isinstance(first, HostTensor):
        _same_shapes([s.bits.shape for s in samples])
        return _Stacked(np.stack([s.bits for s in samples]), first.dtype, first.device)
    if isinstance(first, (np.ndarray, np.generic)) and not isinstance(first, (str, bytes)):
        _same_shapes([np.shape(s) for s in samples])
        return _Stacked(np.stack([np.asarray(s) for s in samples]))
    if isinstance(first, numbers.Number) and all(isinstance(s, numbers.Number) for s in samples):
        if all(isinstance(s, (bool, np.bool_)) for s in samples):
            return _Stacked(np.array(samples, dtype=bool))
        if all(isinstance(s, numbers.Integral) for s in samples):
            return _Stacked(np.array(samples, dtype=np.int64))
        return _Stacked(np.array(samples, dtype=np.float64))
    if isinstance(first, dict):
        return {k: stack_samples([s[k] for s in samples]) for k in first}
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple
        return type(first)(*(stack_samples(list(f)) for f in zip(*samples)))
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in samples):
            raise ValueError("default_collate: samples have different numbers of fields")
        fields = [stack_samples(list(f)) for f in zip(*samples)]
        return tuple(fields) if isinstance(first, tuple) else fields
    return _AsIs(list(samples))


def finish_batch(tree):
    """The Tensor stage of ``default_collate``: turn ``stack_samples``' tree into the batch."""
    if isinstance(tree, _Stacked) and tree.dtype is not None:
        return Tensor(B.from_element_bits(tree.array, tree.dtype), device=tree.device)
    if isinstance(tree, _Stacked):
        name = tree.array.dtype.name  # dtypes Lucid lacks (uint16) convert as lucid.tensor does
        return Tensor(tree.array, dtype=name) if name in B.DTYPES else Tensor(tree.array)
    if isinstance(tree, _Tensors):
        first = tree.tensors[0]
        with B.device_scope(first._device):
            return Tensor._wrap(B.stack([t.data for t in tree.tensors]), first._device)
    if isinstance(tree, _AsIs):
        return tree.items
    if isinstance(tree, dict):
        return {k: finish_batch(v) for k, v in tree.items()}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(finish_batch(v) for v in tree))
    if isinstance(tree, (tuple, list)):
        return type(tree)(finish_batch(v) for v in tree)
    return tree


def _same_shapes(shapes):
    if any(s != shapes[0] for s in shapes):
        raise ValueError(
            f"default_collate: cannot stack samples of different shapes {sorted(set(shapes))}"
        )
