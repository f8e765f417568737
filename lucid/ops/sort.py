"""Sorting: ``sort``, ``argsort``, ``topk`` with PyTorch's signatures and return types.

The order is computed in numpy with a stable sort (ties keep their input order, also when
descending; NaN counts as the largest value, as in PyTorch). Indices are int64. The values'
gradient goes back to the positions they came from.
"""

from __future__ import annotations

import collections

import numpy as np

from lucid import _backend as B
from lucid.ops._util import normalize_axes, op, record
from lucid.tensor import Tensor

# named as torch.return_types names them (their repr shows the name)
sort_result = collections.namedtuple("sort", ["values", "indices"])  # type: ignore[name-match]
sort_result.__doc__ = "(values, indices) returned by ``sort``, as torch.return_types.sort."
topk_result = collections.namedtuple("topk", ["values", "indices"])  # type: ignore[name-match]
topk_result.__doc__ = "(values, indices) returned by ``topk``, as torch.return_types.topk."


def _order(x, axis, descending):
    """The stable sorting permutation of ``x`` along ``axis`` (numpy int64)."""
    a = B.to_numpy(x.data)
    if not descending:
        return np.argsort(a, axis=axis, kind="stable")
    # descending and stable: sort the reversed axis ascending and read the result backwards,
    # so equal values keep their input order and NaN (last when ascending) comes first
    n = a.shape[axis]
    rev = np.argsort(np.flip(a, axis), axis=axis, kind="stable")
    return np.flip(n - 1 - rev, axis)


def _check(x, dim, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} expects a Tensor, got {type(x).__name__}")
    if x.ndim == 0:
        if dim not in (0, -1):
            raise IndexError(f"{name}: dim {dim} is out of range for a 0-d tensor")
        return None
    return normalize_axes(dim, x.ndim, "dim")[0]


def _gather(x, index, axis, name):
    """``x``'s values at ``index`` (numpy) along ``axis``; the gradient is scattered back."""
    idx = B.asarray(index.astype(np.int32))
    values = B.take_along_axis(x.data, idx, axis=axis)

    def backward(g):
        return (B.put_along_axis(B.zeros(x.data.shape, dtype=g.dtype), idx, g, axis=axis),)

    out = record(
        values, (x,), backward, name, adjoint=lambda _i, v: B.take_along_axis(v, idx, axis=axis)
    )
    indices = Tensor._wrap(B.asarray(index.astype(np.int64)), x._device)
    return out, indices


@op
def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    """``(values, indices)``: ``input`` sorted along ``dim`` and where each value came from.
    Always stable (``stable`` is accepted; ties keep their order)."""
    axis = _check(input, dim, "sort")
    if axis is None:
        return sort_result(
            input * 1, Tensor._wrap(B.zeros((), dtype=B.DTYPES["int64"]), input._device)
        )
    return sort_result(*_gather(input, _order(input, axis, descending), axis, "Sort"))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    """The int64 indices that sort ``input`` along ``dim`` (stable)."""
    axis = _check(input, dim, "argsort")
    if axis is None:
        return Tensor._wrap(B.zeros((), dtype=B.DTYPES["int64"]), input._device)
    order = _order(input, axis, descending)
    return Tensor._wrap(B.asarray(order.astype(np.int64)), input._device)


@op
def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
    """``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) entries along
    ``dim``, in sorted order (they are always sorted)."""
    axis = _check(input, dim, "topk")
    n = 1 if axis is None else input.shape[axis]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise IndexError(f"topk: k={k!r} is out of range for a dimension of size {n}")
    if axis is None:  # a 0-d tensor: as a 1-element vector, then back to 0-d (k=1) or empty
        values, indices = topk(input.reshape(1), k, 0, largest, sorted)
        return topk_result(
            values.reshape(()) if k else values, indices.reshape(()) if k else indices
        )
    order = np.take(_order(input, axis, largest), np.arange(k), axis=axis)
    return topk_result(*_gather(input, order, axis, "Topk"))
