"""Shape ops: reshaping, axis permutations, broadcasting, joining, splitting, padding, devices."""

from __future__ import annotations

import builtins
import math
import operator
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from lucid import _backend as B
from lucid._typing import Dims, DTypeLike, IntOrSeq
from lucid.dtypes import as_dtype_name
from lucid.ops._util import as_tensor, dim_aliases, normalize_axes, op, record, single_dim
from lucid.ops.padding import pad  # noqa: F401  (PyTorch's pad; lives in its own module)
from lucid.tensor import Tensor


def _shape_arg(shape: tuple[Any, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        return tuple(operator.index(s) for s in shape)  # not int(): it would truncate 2.5
    except TypeError:
        raise TypeError(f"sizes must be ints, got {shape!r}") from None


@op
def reshape(x: Tensor, *shape: IntOrSeq) -> Tensor:
    """The same values in a new shape (one dimension may be -1)."""
    sizes = _shape_arg(shape)
    B.check_ndim(sizes)
    known = math.prod(s for s in sizes if s != -1)
    if sizes.count(-1) > 1 or builtins_any(s < -1 for s in sizes):
        raise ValueError(f"invalid shape {sizes}: at most one -1 and no other negative sizes")
    if -1 in sizes:
        if known == 0 or x.numel() % known:
            raise ValueError(
                f"cannot reshape tensor of shape {x.shape} ({x.numel()} elements) to {sizes}"
            )
        sizes = tuple(x.numel() // known if s == -1 else s for s in sizes)
    elif known != x.numel():
        raise ValueError(
            f"cannot reshape tensor of shape {x.shape} ({x.numel()} elements) to "
            f"{sizes} ({known} elements)"
        )
    old = x.data.shape
    return record(
        B.reshape(x.data, sizes),
        (x,),
        lambda g: (B.reshape(g, old),),
        "Reshape",
        adjoint=lambda _i, v: B.reshape(v, sizes),
    )


def builtins_any(it: Iterable[object]) -> bool:
    """Python's any (the module's namespace is full of tensor ops)."""
    return builtins.any(it)


view = reshape


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge the dims from ``start_dim`` to ``end_dim`` into one (a 0-d tensor becomes 1-d)."""
    x = input
    if x.ndim == 0:
        return reshape(x, 1)
    s = single_dim(start_dim, x.ndim, "start_dim")
    e = single_dim(end_dim, x.ndim, "end_dim")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = x.shape[:s] + (math.prod(x.shape[s : e + 1]),) + x.shape[e + 1 :]
    return reshape(x, shape)


@dim_aliases
def squeeze(input: Tensor, dim: Dims = None) -> Tensor:
    """Drop dims of size 1: all of them, or those among ``dim`` (an int or a tuple); a named dim
    whose size is not 1 is left as it is (PyTorch's rule)."""
    x = input
    axes = range(x.ndim) if dim is None else normalize_axes(dim, x.ndim, "dim")
    drop = {a for a in axes if x.shape[a] == 1}
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in drop))


@dim_aliases
def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a dim of size 1 at ``dim``."""
    x = input
    nd = x.ndim + 1
    if not -nd <= dim < nd:
        raise ValueError(f"unsqueeze: dim {dim} is out of range for a result with {nd} dims")
    dim %= nd
    return reshape(x, x.shape[:dim] + (1,) + x.shape[dim:])


def expand_dims(x: Tensor, axis: int) -> Tensor:
    """numpy's name for ``unsqueeze``: insert an axis of size 1 at ``axis``."""
    return unsqueeze(x, axis)


@op
def permute(input: Tensor, *dims: IntOrSeq) -> Tensor:
    """Reorder the dims (a permutation of range(ndim)), given as ``permute(x, (2, 0, 1))`` or,
    on a tensor, ``x.permute(2, 0, 1)``."""
    x = input
    dims = _shape_arg(dims)
    if len(dims) != x.ndim or sorted(a % x.ndim if x.ndim else a for a in dims) != list(
        range(x.ndim)
    ):
        raise ValueError(
            f"permute: {dims} is not a permutation of the {x.ndim} dims of a "
            f"tensor of shape {x.shape}"
        )
    perm = tuple(a % x.ndim for a in dims)
    inverse = tuple(int(i) for i in np.argsort(perm))
    return record(
        B.transpose(x.data, perm),
        (x,),
        lambda g: (B.transpose(g, inverse),),
        "Permute",
        adjoint=lambda _i, v: B.transpose(v, perm),
    )


def permute_dims(x: Tensor, axes: Sequence[int] | None = None) -> Tensor:
    """numpy's transpose (the array API's ``permute_dims``): reverse the axes, or apply the
    permutation ``axes``."""
    return permute(x, tuple(reversed(range(x.ndim))) if axes is None else tuple(axes))


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims (PyTorch's transpose; numpy's is ``permute_dims``)."""
    x = input
    a = single_dim(dim0, x.ndim, "dim0")
    b = single_dim(dim1, x.ndim, "dim1")
    perm = list(range(x.ndim))
    perm[a], perm[b] = perm[b], perm[a]
    return permute(x, perm)


def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:
    """Swap two axes (an alias of ``transpose``, as in PyTorch and numpy)."""
    return transpose(input, axis0, axis1)


def swapdims(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims (an alias of ``transpose``)."""
    return transpose(input, dim0, dim1)


def t(input: Tensor) -> Tensor:
    """Transpose a tensor of at most 2 dims (PyTorch's ``t``)."""
    if input.ndim > 2:
        raise ValueError(
            f"t() expects a tensor with <= 2 dims, got shape {input.shape}; use "
            "transpose(dim0, dim1) or permute"
        )
    return input if input.ndim < 2 else transpose(input, 0, 1)


@op
def broadcast_to(x: Tensor, *shape: IntOrSeq) -> Tensor:
    """Broadcast to ``shape`` (numpy rules); the gradient is summed back."""
    shape = _shape_arg(shape)
    if len(shape) < x.ndim or builtins_any(
        s != n and s != 1 for s, n in zip(reversed(x.shape), reversed(shape))
    ):
        raise ValueError(f"cannot broadcast a tensor of shape {x.shape} to {shape}")
    return record(B.broadcast_to(x.data, shape), (x,), lambda g: (g,), "BroadcastTo", adjoint=_same)


def _same(_i, v):
    """The adjoint of an op that passes its input through (the engine broadcasts the result)."""
    return v


def expand(x: Tensor, *sizes: IntOrSeq) -> Tensor:
    """Broadcast to ``sizes``, where -1 keeps that dimension (PyTorch's expand)."""
    sizes = _shape_arg(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: {sizes} has fewer dims than the tensor's shape {x.shape}")
    if -1 in sizes[:lead]:
        raise ValueError(
            f"expand: -1 (keep the size) is not allowed for the new leading "
            f"dimensions in {sizes} of a tensor of shape {x.shape}"
        )
    return broadcast_to(x, tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes)))


@dim_aliases
@op
def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dim."""
    axis = dim
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate needs at least one tensor")
    first = tensors[0]
    ax = single_dim(axis, first.ndim, "dim")
    for t in tensors[1:]:
        if t.ndim != first.ndim or builtins_any(
            a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != ax
        ):
            raise ValueError(
                f"concatenate: shapes {first.shape} and {t.shape} differ outside dim {ax}"
            )
    bounds = np.cumsum([t.shape[ax] for t in tensors])[:-1].tolist()

    def backward(g):
        return tuple(_split_array(g, bounds, ax))

    def adjoint(i, v):  # input i's tangent in zeros of the output's shape, at its slot
        start = bounds[i - 1] if i else 0
        total = sum_ints(t.shape[ax] for t in tensors)
        return _pad_axis(v, ax, start, total - start - v.shape[ax])

    return record(
        B.concatenate([t.data for t in tensors], axis=ax),
        tuple(tensors),
        backward,
        "Concatenate",
        adjoint=adjoint,
    )


concatenate = concat = cat


def _pad_axis(a, axis, lo, hi):
    """``a`` with ``lo`` zeros before and ``hi`` after along ``axis``."""
    widths = [(0, 0)] * a.ndim
    widths[axis] = (lo, hi)
    return B.pad(a, widths)


def _split_array(a, bounds, axis):
    out, start = [], 0
    for stop in list(bounds) + [a.shape[axis]]:
        index = [slice(None)] * a.ndim
        index[axis] = slice(start, stop)
        out.append(a[tuple(index)])
        start = stop
    return out


@dim_aliases
@op
def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new dim."""
    axis = dim
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: shapes {tensors[0].shape} and {t.shape} differ")
    nd = tensors[0].ndim + 1
    if not -nd <= axis < nd:
        raise ValueError(f"stack: dim {axis} out of range for a result with {nd} dims")
    ax = axis % nd

    def backward(g):
        return tuple(B.take(g, i, axis=ax) for i in range(len(tensors)))

    def adjoint(i, v):  # input i's tangent at position i of the new axis, zeros elsewhere
        return _pad_axis(B.expand_dims(v, ax), ax, i, len(tensors) - 1 - i)

    return record(
        B.stack([t.data for t in tensors], axis=ax),
        tuple(tensors),
        backward,
        "Stack",
        adjoint=adjoint,
    )


def split(tensor: Tensor, split_size_or_sections: IntOrSeq, dim: int = 0) -> tuple[Tensor, ...]:
    """PyTorch's split: an int gives pieces of that size along ``dim`` (the last may be smaller);
    a list gives the pieces' sizes, which must sum to the dim's size. Returns a tuple."""
    x = tensor
    ax = single_dim(dim, x.ndim, "dim")
    n = x.shape[ax]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be a positive int, got {size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
        sizes = sizes or [0]
    else:
        sizes = [operator.index(s) for s in split_size_or_sections]
        if builtins_any(s < 0 for s in sizes) or sum_ints(sizes) != n:
            raise ValueError(
                f"split: section sizes {sizes} must be non-negative and sum to the "
                f"size {n} of dim {ax} (shape {x.shape})"
            )
    out, start = [], 0
    for size in sizes:
        index = [slice(None)] * x.ndim
        index[ax] = slice(start, start + size)
        out.append(x[tuple(index)])
        start += size
    return tuple(out)


def sum_ints(values: Iterable[int]) -> int:
    """Python's sum of ints (the module's namespace is full of tensor ops)."""
    total = 0
    for v in values:
        total += v
    return total


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Split into pieces of size ceil(n / chunks) along ``dim`` (the last may be smaller, and
    there may be fewer than ``chunks``, as PyTorch). Returns a tuple."""
    n = input.shape[single_dim(dim, input.ndim)]
    if not isinstance(chunks, int) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    return split(input, builtins_max(1, -(-n // chunks)), dim)


@op
def repeat_interleave(input: Tensor, repeats: int, dim: Dims = None) -> Tensor:
    """Repeat each element ``repeats`` (an int) times along ``dim`` (of the flattened tensor
    when None): numpy's ``repeat``."""
    x = input
    if dim is None:
        x = reshape(x, -1)
        dim = 0
    ax = single_dim(dim, x.ndim, "dim")
    if not isinstance(repeats, (int, np.integer)) or repeats < 0:
        raise ValueError(f"repeat_interleave: repeats must be a non-negative int, got {repeats!r}")
    repeats = int(repeats)
    shape = x.data.shape

    def backward(g):
        split_shape = shape[:ax] + (shape[ax], repeats) + shape[ax + 1 :]
        return (B.sum(B.reshape(g, split_shape), axis=ax + 1),)

    return record(
        B.repeat(x.data, repeats, axis=ax),
        (x,),
        backward,
        "RepeatInterleave",
        adjoint=lambda _i, v: B.repeat(v, repeats, axis=ax),
    )


def repeat(input: Tensor, *sizes: IntOrSeq) -> Tensor:
    """Tile the tensor ``sizes[i]`` times along dim i (PyTorch's ``Tensor.repeat``; ``sizes`` may
    have more entries than dims, which prepends dims). numpy's repeat is ``repeat_interleave``."""
    sizes = _shape_arg(sizes)
    if len(sizes) < input.ndim:
        raise ValueError(
            f"repeat: {len(sizes)} repeat sizes {sizes} for a tensor with "
            f"{input.ndim} dims (shape {input.shape}); give at least one per dim"
        )
    return tile(input, sizes)


@op
def tile(input: Tensor, dims: IntOrSeq) -> Tensor:
    """Repeat the whole tensor ``dims[i]`` times along dim i; missing leading entries are 1
    (numpy's and PyTorch's tile)."""
    x, reps = input, dims
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    if builtins_any(not isinstance(r, (int, np.integer)) or r < 0 for r in reps):
        raise ValueError(f"tile: reps must be non-negative ints, got {reps!r}")
    nd = builtins_max(len(reps), x.ndim)
    reps = (1,) * (nd - len(reps)) + reps
    shape = (1,) * (nd - x.ndim) + x.shape

    def backward(g):
        split_shape = []
        for r, n in zip(reps, shape):
            split_shape += [r, n]
        summed = B.sum(B.reshape(g, split_shape), axis=list(range(0, 2 * nd, 2)))
        return (B.reshape(summed, x.shape),)

    return record(
        B.tile(x.data, reps),
        (x,),
        backward,
        "Tile",
        adjoint=lambda _i, v: B.tile(B.reshape(v, shape), reps),
    )


def builtins_max(a: int, b: int) -> int:
    """Python's max of two numbers."""
    return a if a >= b else b


@op
def astype(x: Tensor, dtype: DTypeLike) -> Tensor:
    """A copy converted to ``dtype``; differentiable between floating types."""
    name = as_dtype_name(dtype)
    if x._device == "gpu" and name == "float64":
        raise TypeError("float64 is not supported on the GPU: use float32, or move to 'cpu'")
    out = B.cast(x.data, name)
    if not B.is_floating(out.dtype):
        return Tensor._wrap(out, x._device)
    old = x.data.dtype
    return record(
        out, (x,), lambda g: (g.astype(old),), "AsType", adjoint=lambda _i, v: B.cast(v, name)
    )


def to_device(x: Tensor, device: str | None) -> Tensor:
    """The same values on another device (MLX memory is unified: no copy is made)."""
    target = B.resolve_device(device)
    if target == x._device:
        return x
    if target == "gpu" and x.data.dtype == B.DTYPES["float64"]:
        raise TypeError(
            "float64 is not supported on the GPU: convert with .astype(lucid.float32) first"
        )
    out = record(x.data, (x,), lambda g: (g,), "ToDevice", rule=_to_device_rule)
    out._device = target
    return out


def _to_device_rule(g, _out, x):
    """The gradient goes back to the input's device (as a recorded op, differentiable again)."""
    return (to_device(g, x._device),)
