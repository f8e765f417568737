"""Indexing (basic, integer-array and boolean) and the index ops ``gather``, ``scatter``,
``scatter_add``, ``index_select``, ``masked_fill`` and the embedding row lookup, each with its
gradient.

MLX's gathers and scatters do not check bounds: every index is checked here before it reaches
MLX (host-side, IndexError naming the bad index and the size), except the hot-path row lookup
(``take_rows``), which stays on the device: it clamps, poisons bad rows with NaN and defers the
check (see ``lucid._backend.checks``).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from lucid import _backend as B
from lucid._typing import TensorOrScalar
from lucid.ops._util import op, raw, record
from lucid.tensor import Tensor


def check_range(values: np.ndarray, size: int, prefix: str = "", negative: bool = True) -> None:
    """Raise IndexError naming the first entry of ``values`` outside ``[-size, size)`` (outside
    ``[0, size)`` when ``negative`` is False)."""
    if not values.size:
        return
    lo = -size if negative else 0
    if values.min() < lo or values.max() >= size:
        bad = values[(values < lo) | (values >= size)].flat[0]
        raise IndexError(f"{prefix}index {bad} is out of range for an axis of size {size}")


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
        if dim_size is not None:
            check_range(item, dim_size)
        return B.asarray(item, "int32")
    if isinstance(item, (int, np.integer)) and dim_size is not None:
        check_range(np.asarray(item), dim_size)
        return int(item)
    if isinstance(item, float):
        raise TypeError(f"indices must be integers, slices or arrays, got the float {item}")
    return item


def normalize_index(index, shape):
    """An index in the form MLX accepts: tensors and lists become arrays, boolean masks become
    the integer arrays of their True positions, integer bounds are checked."""
    items = index if isinstance(index, tuple) else (index,)
    out, dim = [], 0
    n_real = sum(
        1
        for it in items
        if it is not None
        and it is not Ellipsis
        and not (getattr(it, "dtype", None) is not None and _is_bool(it))
    )
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
            expected = tuple(shape[dim : dim + mask.ndim])
            if mask.shape != expected:
                raise IndexError(
                    f"boolean index of shape {mask.shape} does not match the indexed "
                    f"shape {expected}"
                )
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
    return bool(
        isinstance(it, list) and it and all(isinstance(v, (bool, np.bool_)) for v in np.ravel(it))
    )


def _as_np_bool(it):
    if isinstance(it, Tensor):
        return it.numpy().astype(bool)
    return np.asarray(it, dtype=bool)


@op
def getitem(x: Tensor, index: Tensor) -> Tensor:
    """``x[index]``; repeated integer indices accumulate their gradients."""
    idx = normalize_index(index, x.shape)
    shape, dtype = x.data.shape, x.data.dtype
    items = idx if isinstance(idx, tuple) else (idx,)
    if not any(isinstance(it, B.Array) for it in items):
        if None not in items:
            return record(
                x.data[idx],
                (x,),
                lambda g: (B.scatter_add(shape, idx, g, dtype),),
                "Index",
                saves=(),
                saves_output=False,
                adjoint=lambda _i, v: v[idx],
            )
        # MLX's scatter (.at[]) mishandles new axes: scatter without them (they have size 1)
        plain = tuple(it for it in items if it is not None)
        plain_shape = x.data[plain].shape
        return record(
            x.data[idx],
            (x,),
            lambda g: (B.scatter_add(shape, plain, B.reshape(g, plain_shape), dtype),),
            "Index",
            saves=(),
            saves_output=False,
            adjoint=lambda _i, v: v[idx],
        )

    size = x.data.size

    def backward(g):
        # MLX's scatter (.at[]) lays out mixed int/array/None indices differently from its gather,
        # so scatter through flat positions picked by the very same gather
        where = B.reshape(B.reshape(B.arange(size, dtype=B.DTYPES["int32"]), shape)[idx], (-1,))
        flat = B.scatter_add((size,), where, B.reshape(g, (-1,)), dtype)
        return (B.reshape(flat, shape),)

    return record(
        x.data[idx],
        (x,),
        backward,
        "Index",
        saves=(),
        saves_output=False,
        adjoint=lambda _i, v: v[idx],
    )


# --- gather / scatter family (PyTorch semantics: non-negative indices, index.ndim == ndim) ------
def _int_index(index, what):
    """A host (numpy) copy of an integer index: Tensor, list or numpy array."""
    arr = index.numpy() if isinstance(index, Tensor) else np.asarray(index)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{what}: index must hold integers, got dtype {arr.dtype}")
    return arr


def _dim(dim, ndim, what):
    n = max(ndim, 1)  # a 0-d tensor has one "axis" of size 1 here, as in PyTorch
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -n <= dim < n:
        raise IndexError(f"{what}: dim {dim!r} is out of range for a tensor with {ndim} dimensions")
    return int(dim) % n


def _checked_index(x, dim, index, what, src_shape=None):
    """(dim, the index as a backend int32 array) for gather/scatter, every rule checked."""
    dim = _dim(dim, x.ndim, what)
    idx = _int_index(index, what)
    if idx.ndim != x.ndim:
        raise ValueError(
            f"{what}: index must have as many dimensions as the input ({x.ndim}), "
            f"got shape {idx.shape}"
        )
    for d, (i, s) in enumerate(zip(idx.shape, x.shape)):
        if d != dim and i > s:
            raise ValueError(
                f"{what}: index shape {idx.shape} exceeds the input shape "
                f"{x.shape} at dimension {d}"
            )
    if src_shape is not None and (
        len(src_shape) != x.ndim or any(i > s for i, s in zip(idx.shape, src_shape))
    ):
        raise ValueError(
            f"{what}: src of shape {tuple(src_shape)} must have as many dimensions "
            f"as the input and be at least as large as the index {idx.shape}"
        )
    check_range(idx, x.shape[dim] if x.ndim else 1, f"{what}: ", negative=False)
    return dim, B.asarray(idx, "int32")


def _coords(idx, dim):
    """Index arrays for every axis: ``idx`` on ``dim``, the position itself on the others."""
    nd = idx.ndim
    return tuple(
        idx
        if d == dim
        else B.reshape(
            B.arange(idx.shape[d], dtype=B.DTYPES["int32"]),
            tuple(-1 if e == d else 1 for e in range(nd)),
        )
        for d in range(nd)
    )


def _lead(a, shape):
    """The leading block of ``a`` with ``shape``."""
    return a[tuple(slice(0, n) for n in shape)] if tuple(a.shape) != tuple(shape) else a


def _pad_to(a, shape):
    """``a`` padded with zeros at the end of each axis to ``shape``."""
    if tuple(a.shape) == tuple(shape):
        return a
    return B.pad(a, [(0, s - n) for n, s in zip(a.shape, shape)])


def _zero_d(fn):
    """Run a gather/scatter on 0-d operands as 1-element vectors (PyTorch accepts 0-d)."""

    @functools.wraps(fn)  # the signature (and so the Tensor method's) stays the op's
    def run(x: Tensor, dim: int, index: Tensor, *args: Any, **kwargs: Any):
        if isinstance(x, Tensor) and x.ndim == 0:
            from lucid.ops.shape import reshape

            idx = _int_index(index, fn.__name__)
            src = args[0] if args and isinstance(args[0], Tensor) and args[0].ndim == 0 else None
            rest = ((reshape(src, (1,)),) + args[1:]) if src is not None else args
            out = fn(reshape(x, (1,)), dim, idx.reshape(1), *rest, **kwargs)
            return reshape(out, idx.shape)
        return fn(x, dim, index, *args, **kwargs)

    return run


@_zero_d
@op
def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """``out[i][j][k] = input[index[i][j][k]][j][k]`` (for dim 0; likewise for the others).
    ``index`` has the input's number of dimensions and is no larger than it off ``dim``; the
    result has the index's shape. The gradient scatter-adds into the input."""
    dim, idx = _checked_index(input, dim, index, "gather")
    x = input.data
    out = B.take_along_axis(
        _lead(x, tuple(n if d != dim else x.shape[d] for d, n in enumerate(idx.shape))),
        idx,
        axis=dim,
    )
    shape, dtype, coords = x.shape, x.dtype, _coords(idx, dim)
    return record(
        out,
        (input,),
        lambda g: (B.scatter_add(shape, coords, g, dtype),),
        "Gather",
        saves=(),
        saves_output=False,
        adjoint=lambda _i, v: v[coords],
    )


def _scatter_values(input, index, src, value, what):
    if src is not None and value is not None:
        raise TypeError(f"{what}: give src or value, not both")
    if src is None and value is None:
        raise TypeError(f"{what}: needs src (a tensor) or value (a number)")
    if src is not None and not isinstance(src, Tensor):  # scatter(x, d, i, 1.5): a value
        src, value = None, src
    return src, value


@_zero_d
@op
def scatter(input, dim, index, src=None, value=None, *, reduce=None):
    """A copy of ``input`` with ``out[index[i][j][k]][j][k] = src[i][j][k]`` (dim 0; a number
    ``value`` instead of ``src`` writes that number). Where indices repeat, one of the written
    values wins (which one is unspecified, as in PyTorch). Gradients: the input's at the
    positions not written, ``src``'s gathered from the output's."""
    if reduce is not None:
        raise NotImplementedError("scatter(reduce=...) is not supported: use scatter_add")
    src, value = _scatter_values(input, index, src, value, "scatter")
    dim, idx = _checked_index(input, dim, index, "scatter", None if src is None else src.shape)
    x, coords = input.data, _coords(idx, dim)
    vals = (
        _lead(src.data, idx.shape).astype(x.dtype)
        if src is not None
        else B.full(idx.shape, value, dtype=x.dtype)
    )
    out = B.array(x)
    out[coords] = vals
    written = (
        B.scatter_add(
            x.shape, coords, B.ones(idx.shape, dtype=B.DTYPES["float32"]), B.DTYPES["float32"]
        )
        > 0
    )
    src_shape = None if src is None else src.shape

    def backward(g):
        gs = None if src is None else _pad_to(g[coords], src_shape)
        return B.where(written, 0, g), gs

    def adjoint(i, v):
        if i == 0:
            return B.where(written, 0, v)
        # the transpose of the gather above: a scatter-add (the forward, when no index repeats)
        return B.scatter_add(x.shape, coords, _lead(v, idx.shape).astype(x.dtype), x.dtype)

    return record(
        out, (input, src), backward, "Scatter", saves=(), saves_output=False, adjoint=adjoint
    )


@_zero_d
@op
def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of ``input`` with ``out[index[i][j][k]][j][k] += src[i][j][k]`` (dim 0); repeated
    indices accumulate. Gradients: the input's is the output's, ``src``'s is gathered from it."""
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_add: src must be a Tensor, got {type(src).__name__}")
    dim, idx = _checked_index(input, dim, index, "scatter_add", src.shape)
    x, coords = input.data, _coords(idx, dim)
    out = x.at[coords].add(_lead(src.data, idx.shape).astype(x.dtype))
    src_shape = src.shape

    def adjoint(i, v):
        if i == 0:
            return v
        return B.scatter_add(x.shape, coords, _lead(v, idx.shape).astype(x.dtype), x.dtype)

    return record(
        out,
        (input, src),
        lambda g: (g, _pad_to(g[coords], src_shape)),
        "ScatterAdd",
        saves=(),
        saves_output=False,
        adjoint=adjoint,
    )


@op
def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The entries of ``input`` at positions ``index`` (a 1-D or 0-D integer tensor) along
    ``dim``; that axis of the result has ``index.numel()`` entries. Repeated positions
    accumulate their gradients."""
    dim = _dim(dim, input.ndim, "index_select")
    idx = _int_index(index, "index_select")
    if idx.ndim > 1:
        raise ValueError(f"index_select: index must be 1-D (or 0-D), got shape {idx.shape}")
    idx = idx.reshape(-1)
    x = input.data if input.ndim else B.reshape(input.data, (1,))
    check_range(idx, x.shape[dim], "index_select: ", negative=False)
    idx = B.asarray(idx, "int32")
    out = B.take(x, idx, axis=dim)
    shape, dtype = input.data.shape, x.dtype

    def backward(g):
        moved = B.moveaxis(g, dim, 0)
        base = (x.shape[dim],) + tuple(moved.shape[1:])
        return (B.reshape(B.moveaxis(B.scatter_add(base, idx, moved, dtype), 0, dim), shape),)

    return record(
        out,
        (input,),
        backward,
        "IndexSelect",
        saves=(),
        saves_output=False,
        adjoint=lambda _i, v: B.take(B.reshape(v, x.shape), idx, axis=dim),
    )


@op
def masked_fill(input: Tensor, mask: Tensor, value: TensorOrScalar) -> Tensor:
    """``input`` with ``value`` (a number or a 0-d tensor) where the bool ``mask``
    (broadcastable to the input's shape) is True."""
    m = mask.data if isinstance(mask, Tensor) else B.asarray(np.asarray(mask))
    if m.dtype != B.DTYPES["bool"]:
        raise TypeError(
            f"masked_fill: mask must be a bool tensor, got dtype {B.dtype_name(m.dtype)}"
        )
    shape = input.shape
    if len(m.shape) > len(shape) or any(
        a != b and a != 1 for a, b in zip(reversed(m.shape), reversed(shape))
    ):
        raise ValueError(
            f"masked_fill: mask of shape {tuple(m.shape)} cannot be broadcast to "
            f"the input's shape {shape}"
        )
    if isinstance(value, Tensor) and value.ndim != 0:
        raise ValueError(
            f"masked_fill: value must be a number or a 0-d tensor, got shape {value.shape}"
        )
    x = input.data
    v = raw(value)
    v = v.astype(x.dtype) if isinstance(v, B.Array) else v
    out = B.where(m, v, x)
    if out.dtype != x.dtype:  # a float value must not promote an integer tensor
        out = out.astype(x.dtype)

    def backward(g):
        gv = B.sum(B.where(m, g, 0)) if isinstance(value, Tensor) else None
        return B.where(m, 0, g), gv

    def adjoint(i, v):  # (the engine broadcasts a mask smaller than the input)
        return B.where(m, 0, v) if i == 0 else B.where(m, v.astype(x.dtype), 0)

    return record(
        out,
        (input, value),
        backward,
        "MaskedFill",
        saves=(),
        saves_output=False,
        adjoint=adjoint,
    )


def _in_place(fn, name):
    @functools.wraps(fn)
    def method(self, *args, **kwargs):
        # recorded like add_ (a leaf that requires grad refuses; an intermediate is differentiated
        # through the write), as PyTorch's in-place scatter/masked_fill
        return self._write(lambda current: fn(current, *args, **kwargs), name)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"In-place ``{name[:-1]}``: writes the result into this tensor, returns it."
    return method


scatter_ = _in_place(scatter, "scatter_")
scatter_add_ = _in_place(scatter_add, "scatter_add_")
masked_fill_ = _in_place(masked_fill, "masked_fill_")


# --- the embedding lookup: on the device, no host read ------------------------------------------
@op
def take_rows(
    weight: Tensor,
    ids,
    padding_idx: int | None = None,
    what="embedding",
    scale_grad_by_freq: bool = False,
) -> Tensor:
    """Rows of ``weight`` (2-D) at the integer ``ids`` (a backend array of any shape, not read
    back to the host): the result has shape ``ids.shape + weight.shape[1:]``. Ids outside
    ``[0, rows)`` read row 0 but give NaN rows and a deferred IndexError (see
    ``lucid._backend.checks``); rows at ``padding_idx`` and bad ids get no gradient. With
    ``scale_grad_by_freq``, each id's gradient is divided by how often that id occurs in
    ``ids`` (PyTorch's ``scale_grad_by_freq``)."""
    n = weight.shape[0]
    bad = (ids < 0) | (ids >= n)
    if ids.size:
        B.defer_index_check(B.any(bad), ids, n, what)
    safe = B.where(bad, 0, ids)
    w = weight.data
    expand = tuple(ids.shape) + (1,) * (w.ndim - 1)
    bad_rows = B.reshape(bad, expand)
    out = B.where(bad_rows, math.nan, B.take(w, safe, axis=0))
    skip = bad_rows if padding_idx is None else bad_rows | B.reshape(ids == padding_idx, expand)
    shape, dtype = w.shape, w.dtype

    def backward(g):
        g = B.where(skip, 0, g)
        if scale_grad_by_freq:  # each occurrence's share: 1 / (occurrences of its id)
            wide = "float64" if dtype == B.DTYPES["float64"] else "float32"
            once = B.cast(B.where(bad, 0, 1), wide)  # bad ids are not counted
            counts = B.maximum(B.scatter_add((n,), safe, once, once.dtype), 1)
            g = B.cast(g / B.reshape(B.take(counts, safe), expand), B.dtype_name(g.dtype))
        return (B.scatter_add(shape, safe, g, dtype),)

    return record(
        out,
        (weight,),
        backward,
        "Embedding",
        saves=(),
        saves_output=False,
        # the rows read back, masked; not scaled by frequency: the backward this gradient reaches
        # next (this op's, via the loss) scales already, and the scaling is diagonal (as PyTorch)
        adjoint=lambda _i, v: B.where(skip, 0, B.take(v, safe, axis=0)),
    )


@op
def nonzero(input: Tensor, *, as_tuple: bool = False) -> Tensor | tuple[Tensor, ...]:
    """The indices of the nonzero (True, NaN included) elements, in row-major order: an int64
    tensor of shape ``(count, input.ndim)``, or with ``as_tuple=True`` one 1-D int64 tensor per
    dim (a 0-d input counts as 1-D there, as in PyTorch). The count depends on the values, so
    this reads ``input`` back to the host."""
    if not isinstance(input, Tensor):
        raise TypeError(f"nonzero: input must be a Tensor, got {type(input).__name__}")
    values = B.to_numpy(input.data)
    flat = values.reshape(1) if values.ndim == 0 else values
    coords = [c.astype(np.int64) for c in np.nonzero(flat)]
    dev = input._device
    if as_tuple:
        return tuple(Tensor._wrap(B.from_numpy(c), dev) for c in coords)
    table = np.stack(coords, axis=1) if values.ndim else np.zeros((len(coords[0]), 0), np.int64)
    return Tensor._wrap(B.from_numpy(table), dev)
