"""Shape ops: reshaping, axis permutations, broadcasting, joining, splitting, padding, devices."""

from __future__ import annotations

import math
import operator

import numpy as np

from lucid import _backend as B
from lucid.dtypes import as_dtype_name
from lucid.ops._util import as_tensor, normalize_axes, op, record
from lucid.ops.padding import pad  # noqa: F401  (PyTorch's pad; lives in its own module)
from lucid.tensor import Tensor


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        return tuple(operator.index(s) for s in shape)  # not int(): it would truncate 2.5
    except TypeError:
        raise TypeError(f"sizes must be ints, got {shape!r}") from None


@op
def reshape(x, *shape):
    """The same values in a new shape (one dimension may be -1)."""
    shape = _shape_arg(shape)
    known = math.prod(s for s in shape if s != -1)
    if shape.count(-1) > 1 or builtins_any(s < -1 for s in shape):
        raise ValueError(f"invalid shape {shape}: at most one -1 and no other negative sizes")
    if -1 in shape:
        if known == 0 or x.size % known:
            raise ValueError(f"cannot reshape tensor of shape {x.shape} ({x.size} elements) to "
                             f"{shape}")
        shape = tuple(x.size // known if s == -1 else s for s in shape)
    elif known != x.size:
        raise ValueError(f"cannot reshape tensor of shape {x.shape} ({x.size} elements) to "
                         f"{shape} ({known} elements)")
    old = x.data.shape
    return record(B.reshape(x.data, shape), (x,), lambda g: (B.reshape(g, old),), "Reshape")


def builtins_any(it):
    """Python's any (the module's namespace is full of tensor ops)."""
    for v in it:
        if v:
            return True
    return False


view = reshape


def flatten(x, start_axis=0, end_axis=-1):
    """Merge the axes from ``start_axis`` to ``end_axis`` into one."""
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = (a % x.ndim for a in normalize_axes((start_axis,), x.ndim) +
            normalize_axes((end_axis,), x.ndim))
    if s > e:
        raise ValueError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis}")
    shape = x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:]
    return reshape(x, shape)


def squeeze(x, axis=None):
    """Drop axes of size 1 (all of them, or the given ones, which must have size 1)."""
    if axis is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    else:
        axes = normalize_axes(axis, x.ndim)
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} has size {x.shape[a]}, not 1")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x, axis):
    """Insert an axis of size 1 at ``axis``."""
    nd = x.ndim + 1
    if not -nd <= axis < nd:
        raise ValueError(f"unsqueeze: axis {axis} is out of range for a result with {nd} dims")
    axis %= nd
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


expand_dims = unsqueeze


@op
def permute(x, *axes):
    """Reorder the axes (a permutation of range(ndim))."""
    axes = _shape_arg(axes) if axes else tuple(reversed(range(x.ndim)))
    if sorted(a % x.ndim if x.ndim else a for a in axes) != list(range(x.ndim)):
        raise ValueError(f"permute: {axes} is not a permutation of the {x.ndim} axes of a "
                         f"tensor of shape {x.shape}")
    axes = tuple(a % x.ndim for a in axes)
    inverse = tuple(int(i) for i in np.argsort(axes))
    return record(B.transpose(x.data, axes), (x,), lambda g: (B.transpose(g, inverse),),
                  "Permute")


def transpose(x, *axes):
    """Reverse the axes, or apply the permutation ``axes`` (numpy's transpose)."""
    return permute(x, *axes)


def swapaxes(x, axis1, axis2):
    """Exchange two axes."""
    (a,) = normalize_axes(axis1, x.ndim)
    (b,) = normalize_axes(axis2, x.ndim)
    perm = list(range(x.ndim))
    perm[a], perm[b] = perm[b], perm[a]
    return permute(x, *perm)


@op
def broadcast_to(x, *shape):
    """Broadcast to ``shape`` (numpy rules); the gradient is summed back."""
    shape = _shape_arg(shape)
    if len(shape) < x.ndim or builtins_any(
            s != n and s != 1 for s, n in zip(reversed(x.shape), reversed(shape))):
        raise ValueError(f"cannot broadcast a tensor of shape {x.shape} to {shape}")
    return record(B.broadcast_to(x.data, shape), (x,), lambda g: (g,), "BroadcastTo")


def expand(x, *sizes):
    """Broadcast to ``sizes``, where -1 keeps that dimension (PyTorch's expand)."""
    sizes = _shape_arg(sizes)
    lead = len(sizes) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: {sizes} has fewer dims than the tensor's shape {x.shape}")
    if -1 in sizes[:lead]:
        raise ValueError(f"expand: -1 (keep the size) is not allowed for the new leading "
                         f"dimensions in {sizes} of a tensor of shape {x.shape}")
    return broadcast_to(x, tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes)))


@op
def concatenate(tensors, axis=0):
    """Join tensors along an existing axis."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate needs at least one tensor")
    first = tensors[0]
    (ax,) = normalize_axes(axis, first.ndim)
    for t in tensors[1:]:
        if t.ndim != first.ndim or builtins_any(
                a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != ax):
            raise ValueError(f"concatenate: shapes {first.shape} and {t.shape} differ outside "
                             f"axis {ax}")
    bounds = np.cumsum([t.shape[ax] for t in tensors])[:-1].tolist()

    def backward(g):
        return tuple(_split_array(g, bounds, ax))

    return record(B.concatenate([t.data for t in tensors], axis=ax), tuple(tensors), backward,
                  "Concatenate")


cat = concatenate


def _split_array(a, bounds, axis):
    out, start = [], 0
    for stop in list(bounds) + [a.shape[axis]]:
        index = [slice(None)] * a.ndim
        index[axis] = slice(start, stop)
        out.append(a[tuple(index)])
        start = stop
    return out


@op
def stack(tensors, axis=0):
    """Join same-shaped tensors along a new axis."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: shapes {tensors[0].shape} and {t.shape} differ")
    nd = tensors[0].ndim + 1
    if not -nd <= axis < nd:
        raise ValueError(f"stack: axis {axis} out of range for a result with {nd} dims")
    ax = axis % nd

    def backward(g):
        return tuple(B.take(g, i, axis=ax) for i in range(len(tensors)))

    return record(B.stack([t.data for t in tensors], axis=ax), tuple(tensors), backward, "Stack")


def split(x, indices_or_sections, axis=0):
    """Split into equal sections (an int) or at the given indices (numpy's split)."""
    (ax,) = normalize_axes(axis, x.ndim)
    n = x.shape[ax]
    if isinstance(indices_or_sections, int):
        if indices_or_sections <= 0 or n % indices_or_sections:
            raise ValueError(f"split: axis {ax} of size {n} cannot be split into "
                             f"{indices_or_sections} equal sections")
        step = n // indices_or_sections
        bounds = [step * i for i in range(1, indices_or_sections)]
    else:
        bounds = [int(b) for b in indices_or_sections]
    out, start = [], 0
    for stop in bounds + [n]:
        index = [slice(None)] * x.ndim
        index[ax] = slice(start, max(start, stop))
        out.append(x[tuple(index)])
        start = max(start, stop)
    return out


def chunk(x, chunks, axis=0):
    """Split into ``chunks`` pieces of size ceil(n / chunks) (the last may be smaller)."""
    n = x.shape[normalize_axes(axis, x.ndim)[0]]
    if not isinstance(chunks, int) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    step = -(-n // chunks)
    return split(x, list(range(step, n, step)), axis)


@op
def repeat(x, repeats, axis=None):
    """Repeat each element ``repeats`` times along ``axis`` (numpy's repeat; flattened if None)."""
    if axis is None:
        x = reshape(x, -1)
        axis = 0
    (ax,) = normalize_axes(axis, x.ndim)
    if not isinstance(repeats, int) or repeats < 0:
        raise ValueError(f"repeat: repeats must be a non-negative int, got {repeats!r}")
    shape = x.data.shape

    def backward(g):
        split_shape = shape[:ax] + (shape[ax], repeats) + shape[ax + 1:]
        return (B.sum(B.reshape(g, split_shape), axis=ax + 1),)

    return record(B.repeat(x.data, repeats, axis=ax), (x,), backward, "Repeat")


@op
def tile(x, reps):
    """Repeat the whole tensor ``reps`` times along each axis (numpy's tile)."""
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

    return record(B.tile(x.data, reps), (x,), backward, "Tile")


def builtins_max(a, b):
    """Python's max of two numbers."""
    return a if a >= b else b


@op
def astype(x, dtype):
    """A copy converted to ``dtype``; differentiable between floating types."""
    name = as_dtype_name(dtype)
    if x._device == "gpu" and name == "float64":
        raise TypeError("float64 is not supported on the GPU: use float32, or move to 'cpu'")
    out = B.cast(x.data, name)
    if not B.is_floating(out.dtype):
        return Tensor._wrap(out, x._device)
    old = x.data.dtype
    return record(out, (x,), lambda g: (g.astype(old),), "AsType")


def to_device(x, device):
    """The same values on another device (MLX memory is unified: no copy is made)."""
    target = B.resolve_device(device)
    if target == x._device:
        return x
    if target == "gpu" and x.data.dtype == B.DTYPES["float64"]:
        raise TypeError("float64 is not supported on the GPU: convert with .astype(lucid.float32) "
                        "first")
    out = record(x.data, (x,), lambda g: (g,), "ToDevice")
    out._device = target
    return out
