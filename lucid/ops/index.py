"""Indexing and slicing (basic, integer-array and boolean) with scatter-add gradients."""

from __future__ import annotations

import numpy as np

from lucid import _backend as B
from lucid.ops._util import op, record
from lucid.tensor import Tensor


def _convert(item, dim_size):
    if isinstance(item, Tensor):
        item = item.numpy()  # small, and checked below: MLX reads out-of-range indices silently
    if isinstance(item, (list, tuple)):
        item = np.asarray(item) if len(item) else np.zeros(0, dtype=np.int64)
    if isinstance(item, np.ndarray):
        if item.dtype == bool:
            return item
        if item.dtype.kind not in "iu":
            raise TypeError(f"index arrays must be integers or booleans, got dtype {item.dtype}")
        if dim_size is not None and item.size and not (
                -dim_size <= item.min() and item.max() < dim_size):
            bad = item.min() if item.min() < -dim_size else item.max()
            raise IndexError(f"index {bad} is out of range for an axis of size {dim_size}")
        return B.asarray(item, "int32")
    if isinstance(item, (int, np.integer)) and dim_size is not None:
        if not -dim_size <= item < dim_size:
            raise IndexError(f"index {item} is out of range for an axis of size {dim_size}")
        return int(item)
    if isinstance(item, float):
        raise TypeError(f"indices must be integers, slices or arrays, got the float {item}")
    return item


def normalize_index(index, shape):
    """An index in the form MLX accepts: tensors and lists become arrays, boolean masks become
    the integer arrays of their True positions, integer bounds are checked."""
    items = index if isinstance(index, tuple) else (index,)
    out, dim = [], 0
    n_real = sum(1 for it in items if it is not None and it is not Ellipsis and
                 not (getattr(it, "dtype", None) is not None and _is_bool(it)))
    n_bool_dims = sum(np.ndim(_as_np_bool(it)) for it in items if _is_bool(it))
    ell_span = len(shape) - n_real - n_bool_dims
    for it in items:
        if it is None:
            out.append(None)
        elif it is Ellipsis:
            out.append(Ellipsis)
            dim += ell_span
        elif _is_bool(it):
            mask = _as_np_bool(it)
            expected = tuple(shape[dim:dim + mask.ndim])
            if mask.shape != expected:
                raise IndexError(f"boolean index of shape {mask.shape} does not match the indexed "
                                 f"shape {expected}")
            out.extend(B.asarray(ix, "int32") for ix in np.nonzero(mask))
            dim += mask.ndim
        else:
            size = shape[dim] if dim < len(shape) else None
            if size is None and not isinstance(it, slice):
                raise IndexError(f"too many indices for a tensor of shape {tuple(shape)}")
            out.append(_convert(it, size))
            dim += 1
    if dim > len(shape):
        raise IndexError(f"too many indices for a tensor of shape {tuple(shape)}")
    return tuple(out) if isinstance(index, tuple) or len(out) != 1 else out[0]


def _is_bool(it):
    if isinstance(it, Tensor):
        return it.dtype.name == "bool"
    if isinstance(it, np.ndarray):
        return it.dtype == bool
    if isinstance(it, list) and it and all(isinstance(v, (bool, np.bool_)) for v in np.ravel(it)):
        return True
    return False


def _as_np_bool(it):
    if isinstance(it, Tensor):
        return it.numpy().astype(bool)
    return np.asarray(it, dtype=bool)


@op
def getitem(x, index):
    """``x[index]``; repeated integer indices accumulate their gradients."""
    idx = normalize_index(index, x.shape)
    shape, dtype = x.data.shape, x.data.dtype
    items = idx if isinstance(idx, tuple) else (idx,)
    if not any(isinstance(it, B.Array) for it in items):
        if None not in items:
            return record(x.data[idx], (x,), lambda g: (B.scatter_add(shape, idx, g, dtype),),
                          "Index", saves=(), saves_output=False)
        # MLX's scatter (.at[]) mishandles new axes: scatter without them (they have size 1)
        plain = tuple(it for it in items if it is not None)
        plain_shape = x.data[plain].shape
        return record(x.data[idx], (x,), lambda g: (
            B.scatter_add(shape, plain, B.reshape(g, plain_shape), dtype),), "Index", saves=(),
            saves_output=False)

    size = x.data.size

    def backward(g):
        # MLX's scatter (.at[]) lays out mixed int/array/None indices differently from its gather,
        # so scatter through flat positions picked by the very same gather
        where = B.reshape(B.reshape(B.arange(size, dtype=B.DTYPES["int32"]), shape)[idx], (-1,))
        flat = B.scatter_add((size,), where, B.reshape(g, (-1,)), dtype)
        return (B.reshape(flat, shape),)

    return record(x.data[idx], (x,), backward, "Index", saves=(), saves_output=False)
