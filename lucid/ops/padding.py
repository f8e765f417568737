"""PyTorch's ``pad``: (lo, hi) pairs listed from the last dimension backwards, modes constant,
reflect, replicate and circular, negative amounts cropping. One N-d op, forward beside backward.

The non-constant modes are a gather along each padded axis (an index table built once in numpy);
their backward scatters the gradient back through the same tables, in reverse order.
"""

from __future__ import annotations

import numbers

import numpy as np

from lucid import _backend as B
from lucid._typing import TensorOrScalar
from lucid.ops._util import op, record
from lucid.tensor import Tensor

MODES = ("constant", "reflect", "replicate", "circular")


def _pairs(pad, ndim):
    """``pad`` (PyTorch order) as a list of (axis, lo, hi), last axis first."""
    if isinstance(pad, (numbers.Integral, str)) or not hasattr(pad, "__len__"):
        raise TypeError(
            f"pad: pad must be a tuple of ints (lo, hi) per dimension, last dimension "
            f"first, got {pad!r}"
        )
    amounts = tuple(pad)
    if not all(isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in amounts):
        raise TypeError(f"pad: pad must contain ints, got {amounts!r}")
    if len(amounts) % 2:
        raise ValueError(f"pad: the pad length must be even ((lo, hi) pairs), got {len(amounts)}")
    if len(amounts) > 2 * ndim:
        raise ValueError(
            f"pad: {len(amounts) // 2} (lo, hi) pairs given for a tensor with only "
            f"{ndim} dimensions"
        )
    return [
        (ndim - 1 - i, int(amounts[2 * i]), int(amounts[2 * i + 1]))
        for i in range(len(amounts) // 2)
    ]


def _source_index(n, lo, hi, mode, axis):
    """Which input position each output position of a padded axis reads (numpy int array)."""
    if mode == "circular":
        # PyTorch crops first, then wraps around what is left
        start, stop = max(-lo, 0), n - max(-hi, 0)
        m = stop - start
        if max(lo, 0) > m or max(hi, 0) > m:
            raise ValueError(
                f"pad: circular padding ({lo}, {hi}) of dimension {axis} (size {n}) "
                f"would wrap around more than once"
            )
        return start + (np.arange(-max(lo, 0), m + max(hi, 0)) % m)
    positions = np.arange(-lo, n + hi)
    if mode == "replicate":
        return np.clip(positions, 0, n - 1)
    # reflect: mirror about the edge elements (which are not repeated)
    if lo >= n or hi >= n:
        raise ValueError(
            f"pad: reflect padding ({lo}, {hi}) must be smaller than the size {n} "
            f"of dimension {axis}"
        )
    positions = np.abs(positions)
    return np.where(positions > n - 1, 2 * (n - 1) - positions, positions)


def _check_mode_rank(mode, pairs, ndim):
    k = len(pairs)
    if mode not in MODES:
        raise ValueError(f"pad: mode must be one of {MODES}, got {mode!r}")
    if mode != "constant" and not (1 <= k <= 3 and ndim in (k + 1, k + 2)):
        raise ValueError(
            f"pad: {mode} padding of {k} dimension(s) needs a {k + 1}-D (unbatched) "
            f"or {k + 2}-D (batched) input, got a {ndim}-D input; pad 1 to 3 trailing "
            "dimensions of (N, C, ...) or (C, ...) input"
        )


@op
def pad(input: Tensor, pad, mode: str = "constant", value: TensorOrScalar | None = None) -> Tensor:
    """Pad (or crop, with negative amounts) the trailing dimensions: ``pad`` is
    ``(lo_last, hi_last, lo_second_last, hi_second_last, ...)`` as in ``torch.nn.functional.pad``.
    ``mode`` is ``"constant"`` (fill with ``value``, default 0, any number of dimensions),
    ``"reflect"``, ``"replicate"`` or ``"circular"`` (1-3 trailing dims of (N, C, ...) or
    (C, ...) input)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"pad expects a Tensor, got {type(input).__name__}")
    pairs = _pairs(pad, input.ndim)
    _check_mode_rank(mode, pairs, input.ndim)
    shape = input.shape
    for axis, lo, hi in pairs:
        size = shape[axis] + lo + hi
        if size < 0 or (mode != "constant" and size <= 0):
            raise ValueError(
                f"pad: padding ({lo}, {hi}) of dimension {axis} (size "
                f"{shape[axis]}) leaves output size {size}"
            )
    if mode == "constant":
        return _pad_constant(input, pairs, 0 if value is None else value)
    if value is not None and value != 0:
        raise ValueError(f"pad: mode {mode!r} takes no fill value, got value={value!r}")
    return _pad_gather(input, pairs, mode)


def _pad_constant(x, pairs, value):
    ndim = x.ndim
    crop = [slice(None)] * ndim
    widths = [(0, 0)] * ndim
    for axis, lo, hi in pairs:
        crop[axis] = slice(max(-lo, 0), x.shape[axis] - max(-hi, 0))
        widths[axis] = (max(lo, 0), max(hi, 0))
    crop = tuple(crop)
    y = B.pad(x.data[crop], widths, constant_values=value)
    inner = tuple(slice(lo, y.shape[i] - hi) for i, (lo, hi) in enumerate(widths))
    cropped = [(max(-lo, 0), max(-hi, 0)) for lo, hi in _per_axis(pairs, ndim)]

    def backward(g):
        return (B.pad(g[inner], cropped),)

    # the forward on a tangent: the same crop and padding, with zeros
    return record(y, (x,), backward, "Pad", adjoint=lambda _i, v: B.pad(v[crop], widths))


def _per_axis(pairs, ndim):
    out = [(0, 0)] * ndim
    for axis, lo, hi in pairs:
        out[axis] = (lo, hi)
    return out


def _pad_gather(x, pairs, mode):
    tables = [(axis, _source_index(x.shape[axis], lo, hi, mode, axis)) for axis, lo, hi in pairs]
    y = x.data
    sizes = []
    for axis, index in tables:
        sizes.append(y.shape[axis])
        y = B.take(y, B.asarray(index.astype(np.int32)), axis=axis)

    def forward(v):  # the gathers above on a tangent (the backward's adjoint)
        for axis, index in tables:
            v = B.take(v, B.asarray(index.astype(np.int32)), axis=axis)
        return v

    def backward(g):
        for (axis, index), n in zip(reversed(tables), reversed(sizes)):
            moved = B.moveaxis(g, axis, 0)
            summed = B.scatter_add(
                (n,) + moved.shape[1:], B.asarray(index.astype(np.int32)), moved, moved.dtype
            )
            g = B.moveaxis(summed, 0, axis)
        return (g,)

    return record(y, (x,), backward, "Pad", adjoint=lambda _i, v: forward(v))
