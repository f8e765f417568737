"""N-d pooling ops (max, average, adaptive max, adaptive average), each forward beside its backward.

One implementation serves 1, 2 and 3 spatial dims. The last ``n`` axes of the input are spatial;
every axis before them (batch, channels) is pooled independently, so batched ``(N, C, *S)`` and
unbatched ``(C, *S)`` inputs take the same path.

Each spatial axis is described by a *tap table* ``T[o, k]``: the (padded) input coordinate that
output position ``o`` reads with kernel tap ``k``. Regular pooling has ``T[o, k] = o * stride +
k * dilation`` (every column a strided slice, i.e. a view); adaptive pooling has uneven bins, read
with one gather. Box windows are separable, so both poolings reduce one axis at a time: a max
over a box is the max over each axis in turn, and the first maximum in row-major window order is
found by routing the gradient back through those per-axis maxima outermost axis first. The Python
loops run over the taps of one axis; everything else is vectorised. (On MLX's CPU a ``where`` costs
about ten plain arithmetic ops, so the hot loops use comparisons, ``maximum`` and products.)
"""

from __future__ import annotations

import functools
import itertools
import math
import numbers

import numpy as np

from lucid import _backend as B
from lucid._typing import IntOrSeq
from lucid.ops._nd import check_input, check_kernel_fits, ntuple, pool_output_size
from lucid.ops._util import op, record
from lucid.tensor import Tensor

__all__ = ["max_pool", "avg_pool", "adaptive_max_pool", "adaptive_avg_pool"]


# ----------------------------------------------------------------------------- tap tables
def _column_slice(col):
    """A slice reading ``col`` (increasing, evenly spaced coordinates), or None."""
    step = int(col[1] - col[0]) if len(col) > 1 else 1
    if step <= 0 or np.any(np.diff(col) != step):
        return None
    return slice(int(col[0]), int(col[-1]) + 1, step if step > 1 else None)  # MLX: None is faster


class _Axis:
    """How one spatial axis is windowed: its tap table, its padded length ``size``, which taps
    fall inside the input (``valid``; None when all do) and how taps are read (strided slices,
    or a gather). The input occupies ``[input_start, input_start + input_size)`` of the axis."""

    def __init__(self, table, size, input_start=0, input_size=None):
        self.table, self.size = table, size
        self.out, self.kernel = table.shape
        input_size = size - input_start if input_size is None else input_size
        inside = (table >= input_start) & (table < input_start + input_size)
        self.valid = None if inside.all() else _frozen(inside)
        slices = [_column_slice(table[:, k]) for k in range(self.kernel)]
        self.slices = slices if all(s is not None for s in slices) else None
        start = int(table[0, 0])
        # windows that tile the axis back to back (stride == kernel, no dilation)
        self.tiled = bool(np.array_equal(table, start + np.arange(table.size).reshape(table.shape)))
        self.start = start

    def reduce(self, a, axis, how):
        """``how`` ("sum" or "max") over the taps, or None where a tap loop is cheaper. Long
        tiled windows (global pooling) reduce in one op over a (..., O, K, ...) view."""
        if not self.tiled or self.kernel <= 4:
            return None
        end = self.start + self.out * self.kernel
        win = a[(slice(None),) * axis + (slice(self.start, end),)]
        win = B.reshape(win, a.shape[:axis] + self.table.shape + a.shape[axis + 1 :])
        return (B.sum if how == "sum" else B.max)(win, axis=axis + 1)

    def columns(self, a, axis):
        """The K arrays ``a[..., T[:, k], ...]`` (O long on ``axis``)."""
        if self.slices is not None:
            return [a[(slice(None),) * axis + (s,)] for s in self.slices]
        g = B.take(a, B.asarray(self.table.reshape(-1), "int32"), axis=axis)
        g = B.reshape(g, a.shape[:axis] + self.table.shape + a.shape[axis + 1 :])
        return [g[(slice(None),) * (axis + 1) + (k,)] for k in range(self.kernel)]

    def spread(self, parts, axis: int):
        """The adjoint of ``columns``: zeros of ``size`` on ``axis`` with ``parts[k]`` added at
        ``T[:, k]`` (overlapping taps accumulate)."""
        shape = parts[0].shape
        if self.tiled or self.slices is None:
            a = B.stack(parts, axis=axis + 1) if self.kernel > 1 else parts[0]
            a = B.reshape(a, shape[:axis] + (self.out * self.kernel,) + shape[axis + 1 :])
            if self.tiled:
                return _pad_axis(a, axis, self.start, self.size - self.start - a.shape[axis])
            index = (slice(None),) * axis + (B.asarray(self.table.reshape(-1), "int32"),)
            return B.scatter_add(shape[:axis] + (self.size,) + shape[axis + 1 :], index, a, a.dtype)
        out = None
        for part, sl in zip(parts, self.slices):
            term = _place(part, axis, sl, self.size)
            out = term if out is None else out + term
        return out


def _pad_axis(a, axis, lo, hi):
    if not lo and not hi:
        return a
    widths = [(0, 0)] * a.ndim
    widths[axis] = (lo, hi)
    return B.pad(a, widths)


def _place(a, axis, sl, size):
    """Zeros of ``size`` along ``axis`` with ``a`` written at the coordinates of slice ``sl``."""
    count, step = a.shape[axis], sl.step or 1
    if step > 1 and count > 1:  # interleave step-1 zeros after each element
        a = _pad_axis(B.expand_dims(a, axis + 1), axis + 1, 0, step - 1)
        a = B.reshape(a, a.shape[:axis] + (count * step,) + a.shape[axis + 2 :])
        a = a[(slice(None),) * axis + (slice(0, (count - 1) * step + 1),)]
    return _pad_axis(a, axis, sl.start, size - sl.start - a.shape[axis])


def _regular_axes(size, out, kernel, stride, padding, dilation):
    """One ``_Axis`` per spatial dim of a regular pooling, and the (lo, hi) padding it needs:
    ``padding`` before, and after only as far as the last window reaches."""
    per_dim = [_regular_axis(*a) for a in zip(size, out, kernel, stride, padding, dilation)]
    return [a for a, _ in per_dim], [p for _, p in per_dim]


# Tap tables depend on the geometry only: built once per geometry (building them in numpy cost
# ~0.8 ms of a 12 ms training step of issue 21's network), read-only after that.
@functools.lru_cache(maxsize=1024)
def _regular_axis(s, o, k, st, p, d):
    table = np.arange(o)[:, None] * st + np.arange(k)[None, :] * d
    hi = max(0, int(table.max()) + 1 - p - s)
    return _Axis(_frozen(table), p + s + hi, p, s), (p, hi)


@functools.lru_cache(maxsize=1024)
def _adaptive_axis(size, out):
    """PyTorch's adaptive bins [floor(i*S/O), ceil((i+1)*S/O)) as an ``_Axis`` (short bins are
    padded to the longest by repeating their last element) and the bin lengths."""
    i = np.arange(out)
    start, end = (i * size) // out, -((-(i + 1) * size) // out)
    lengths = end - start
    k = np.arange(int(lengths.max()))[None, :]
    return _Axis(_frozen(np.minimum(start[:, None] + k, end[:, None] - 1)), size), _frozen(lengths)


def _frozen(a):
    """``a``, read-only (a cached table is shared by every call with its geometry)."""
    a.flags.writeable = False
    return a


def _spatial_pad(a, n, pads, value):
    if not any(lo or hi for lo, hi in pads):
        return a
    return B.pad(a, [(0, 0)] * (a.ndim - n) + list(pads), constant_values=value)


def _spatial_crop(a, n, pads, size):
    if not any(lo or hi for lo, hi in pads):
        return a
    return a[(Ellipsis,) + tuple(slice(lo, lo + s) for (lo, _), s in zip(pads, size))]


def _along(values, like, ndim, axis):
    """A numpy vector as an array of ``like``'s dtype that broadcasts along ``axis``."""
    return B.asarray(
        np.asarray(values).reshape((-1,) + (1,) * (ndim - axis - 1)), B.dtype_name(like.dtype)
    )


# ----------------------------------------------------------------------------- max pooling
def _max_stages(xp, axes):
    """The per-axis maxima, last spatial axis first: ``[xp, ..., y]``."""
    n = len(axes)
    stages = [xp]
    for i in reversed(range(n)):
        a = stages[-1]
        m = axes[i].reduce(a, a.ndim - n + i, "max")
        if m is None:
            cols = axes[i].columns(a, a.ndim - n + i)
            m = cols[0]
            for c in cols[1:]:
                m = B.maximum(m, c)
        stages.append(m)
    return stages


def _first_max(a, m, axis, ax):
    """Per tap of ``ax`` on ``axis``: where that tap is the first holding ``m``, the max of ``a``
    over the taps (a NaN counts as the maximum; padding never does)."""
    seen, masks = None, []
    for k, v in enumerate(ax.columns(a, axis)):
        hit = (v >= m) | B.isnan(v)
        if ax.valid is not None and not ax.valid[:, k].all():
            hit = hit & B.asarray(ax.valid[:, k].reshape((-1,) + (1,) * (a.ndim - axis - 1)))
        first = hit if seen is None else hit & ~seen
        seen = hit if seen is None else seen | hit
        masks.append(first)
    return masks


def _max_axis_adjoint(g, a, m, axis, ax):
    """Route ``g`` (the gradient of ``m``, the max of ``a`` over ``ax``'s taps on ``axis``) to
    the first tap holding the maximum."""
    return ax.spread([g * first for first in _first_max(a, m, axis, ax)], axis)


def _max_axis_select(v, a, m, axis, ax):
    """The max's linear part: ``v`` read at the tap that holds each window's maximum (the
    adjoint of ``_max_axis_adjoint``)."""
    out = None
    for c, first in zip(ax.columns(v, axis), _first_max(a, m, axis, ax)):
        term = c * first
        out = term if out is None else out + term
    return out


def _argmax_index(xp, y, axes, pads, size):
    """Flat index into the input's spatial dims of each window's first maximum (-1 for a window
    of padding only): a pass over all taps keeping the smallest tap ordinal that holds ``y``."""
    n = len(axes)
    kernel = [ax.kernel for ax in axes]
    total = math.prod(kernel)
    if all(ax.slices is not None for ax in axes):

        def read(ks):
            return xp[(Ellipsis,) + tuple(ax.slices[k] for ax, k in zip(axes, ks))]
    else:
        g = xp
        for i, ax in enumerate(axes):
            g = B.take(g, B.asarray(ax.table.reshape(-1), "int32"), axis=g.ndim - n + i)
        g = B.reshape(g, g.shape[: g.ndim - n] + tuple(v for ax in axes for v in ax.table.shape))

        def read(ks):
            return g[(Ellipsis,) + tuple(v for k in ks for v in (slice(None), k))]

    arg = None
    for ordinal, ks in enumerate(itertools.product(*(range(k) for k in kernel))):
        v = read(ks)
        hit = (v >= y) | B.isnan(v)
        mask = np.ones((), dtype=bool)  # the tap lies inside the input (outer product over dims)
        for ax, k in zip(axes, ks):
            mask = np.logical_and.outer(
                mask, np.ones(ax.out, bool) if ax.valid is None else ax.valid[:, k]
            )
        if not mask.all():
            hit = hit & B.asarray(mask)
        cand = total - hit.astype(B.DTYPES["int32"]) * (total - ordinal)
        arg = cand if arg is None else B.minimum(arg, cand)
    flat = None
    for i, (ax, (lo, _)) in enumerate(zip(axes, pads)):
        inner = math.prod(kernel[i + 1 :])
        k = (arg // inner) % kernel[i]  # a window without a hit (arg == total) reads tap 0
        o = B.reshape(B.arange(ax.out, dtype=B.DTYPES["int32"]), (ax.out,) + (1,) * (n - 1 - i))
        coord = B.take(B.asarray(ax.table.reshape(-1) - lo, "int32"), o * ax.kernel + k)
        term = coord * math.prod(size[i + 1 :])
        flat = term if flat is None else flat + term
    flat = flat.astype(B.DTYPES["int64"])
    return B.where(arg == total, -1, flat)


def _tiles(axes, pads) -> bool:
    """Whether the windows tile the input from its first element without padding (kernel ==
    stride, dilation 1): the "windows" kernel applies."""
    return not any(lo or hi for lo, hi in pads) and all(ax.tiled and ax.start == 0 for ax in axes)


class _Windows:
    """Non-overlapping windows as the last axis of one array: ``(..., *S)`` cropped to the
    windows, cut into ``(..., O0, K0, O1, K1, ...)`` and transposed to ``(..., *O, T)`` with each
    window's T elements in row-major order, so a window's max (and its first maximum) is one
    reduction over a contiguous last axis (MLX's CPU reduces several strided axes at once up to
    ~10x slower than one contiguous axis, measured)."""

    def __init__(self, shape, n, axes):
        self.lead, self.size = tuple(shape[:-n]), tuple(shape[-n:])
        self.out = tuple(ax.out for ax in axes)
        self.kernel = tuple(ax.kernel for ax in axes)
        self.used = tuple(o * k for o, k in zip(self.out, self.kernel))
        self.total = math.prod(self.kernel)
        first = len(self.lead)
        self.blocks = self.lead + tuple(v for o, k in zip(self.out, self.kernel) for v in (o, k))
        # (..., O0, K0, O1, K1, ...) -> (..., O0, O1, ..., K0, K1, ...)
        self.perm = tuple(range(first)) + tuple(first + 2 * i for i in range(n))
        self.perm += tuple(first + 2 * i + 1 for i in range(n))
        self.inverse = tuple(int(i) for i in np.argsort(self.perm))

    def view(self, a):
        """``a`` (..., *S) as (..., *O, T)."""
        if self.used != self.size:  # positions past the last window are never read
            a = a[(Ellipsis,) + tuple(slice(0, u) for u in self.used)]
        a = B.transpose(B.reshape(a, self.blocks), self.perm)
        return B.reshape(a, self.lead + self.out + (self.total,))

    def unview(self, a):
        """The adjoint of ``view``: (..., *O, T) back to (..., *S), zero where no window reads."""
        a = B.reshape(a, self.lead + self.out + self.kernel)
        a = B.reshape(B.transpose(a, self.inverse), self.lead + self.used)
        if self.used != self.size:
            pads = [(0, s - u) for s, u in zip(self.size, self.used)]
            a = _spatial_pad(a, len(self.size), pads, 0.0)
        return a

    def first_max(self, w, y):
        """1 at each window's first maximum in row-major order (a NaN counts as the maximum),
        0 elsewhere, in w's (..., *O, T) layout and dtype."""
        hit = ((w >= B.expand_dims(y, -1)) | B.isnan(w)).astype(B.DTYPES["int32"])
        ordinal = B.arange(self.total, dtype=B.DTYPES["int32"])
        # the smallest ordinal that holds the maximum (a product, not a where: cheaper on MLX's CPU)
        first = B.min(self.total - hit * (self.total - ordinal), axis=-1, keepdims=True)
        return (ordinal == first).astype(w.dtype)


def _max_pool_windows(x, n, axes):
    """Max pooling whose windows tile the input (the "windows" kernel): forward one max over
    the window axes of a view, backward one first-maximum mask (the same tie rule as the taps)."""
    xd = x.data
    win = _Windows(xd.shape, n, axes)
    y = B.max(win.view(xd), axis=-1)

    def backward(g):
        return (win.unview(win.first_max(win.view(xd), y) * B.expand_dims(g, -1)),)

    def select(_i, v):  # v at each window's first maximum: the adjoint of backward
        return B.sum(win.first_max(win.view(xd), y) * win.view(v), axis=-1)

    return y, backward, select


def _max_pool_op(x, n, axes, pads, return_indices, name):
    xd = x.data
    size = xd.shape[-n:]
    xp = _spatial_pad(xd, n, pads, float("-inf"))
    tiled = _tiles(axes, pads)
    if B.pool_route("max_pool", x._device, B.dtype_name(xd.dtype), tiled) == "windows":
        y, backward, select = _max_pool_windows(x, n, axes)
        out = record(y, (x,), backward, name, adjoint=select)
        if not return_indices:
            return out
        return out, Tensor._wrap(_argmax_index(xp, y, axes, pads, size), x._device)
    y = _max_stages(xp, axes)[-1]

    def backward(g):
        stages = _max_stages(_spatial_pad(xd, n, pads, float("-inf")), axes)
        for i in range(n):  # outermost axis first: the row-major first maximum wins ties
            a, m = stages[n - 1 - i], stages[n - i]
            g = _max_axis_adjoint(g, a, m, a.ndim - n + i, axes[i])
        return (_spatial_crop(g, n, pads, size),)

    def select(_i, v):  # the linear part of the forward: v at each window's maximum
        stages = _max_stages(_spatial_pad(xd, n, pads, float("-inf")), axes)
        v = _spatial_pad(v, n, pads, 0.0)
        for j, i in enumerate(reversed(range(n))):
            v = _max_axis_select(v, stages[j], stages[j + 1], v.ndim - n + i, axes[i])
        return v

    out = record(y, (x,), backward, name, adjoint=select)
    if not return_indices:
        return out
    return out, Tensor._wrap(_argmax_index(xp, y, axes, pads, size), x._device)


# ----------------------------------------------------------------------------- weighted window sums
def _sum_axis(a, axis, ax, weight):
    """out[o] = sum_k weight[o, k] * a[T[o, k]] along ``axis``."""
    if np.all(weight == weight[:, :1]):  # one weight per window: sum first, scale once
        out = ax.reduce(a, axis, "sum")
        if out is None:
            cols = ax.columns(a, axis)
            out = cols[0]
            for c in cols[1:]:
                out = out + c
        return out * _along(weight[:, 0], a, a.ndim, axis)
    out = None
    for k, c in enumerate(ax.columns(a, axis)):
        term = c * _along(weight[:, k], a, a.ndim, axis)
        out = term if out is None else out + term
    return out


def _sum_axis_adjoint(g, axis, ax, weight):
    if np.all(weight == weight[:, :1]):
        parts = [g * _along(weight[:, 0], g, g.ndim, axis)] * ax.kernel
    else:
        parts = [g * _along(weight[:, k], g, g.ndim, axis) for k in range(ax.kernel)]
    return ax.spread(parts, axis)


def _window_sum_op(x, n, axes, weights, pads, name):
    """y = separable weighted window sums of the zero-padded input (average pooling)."""
    xd = x.data
    size = xd.shape[-n:]

    def window_sums(_i, a):  # the forward, linear: also the backward's adjoint
        a = _spatial_pad(a, n, pads, 0.0)
        for i, (ax, w) in enumerate(zip(axes, weights)):
            a = _sum_axis(a, a.ndim - n + i, ax, w)
        return a

    def backward(g):
        for i in reversed(range(n)):
            g = _sum_axis_adjoint(g, g.ndim - n + i, axes[i], weights[i])
        return (_spatial_crop(g, n, pads, size),)

    return record(window_sums(0, xd), (x,), backward, name, adjoint=window_sums)


# ----------------------------------------------------------------------------- argument checks
def _check_pool(x, n, kernel_size, stride, padding, dilation, ceil_mode, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} expects a Tensor input, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} expects a floating-point input, got dtype {x.dtype}")
    check_input(x.shape, n, None, name)
    kernel = ntuple(kernel_size, n, "kernel_size")
    empty = stride is None or (isinstance(stride, (tuple, list)) and not stride)
    stride = kernel if empty else ntuple(stride, n, "stride")
    padding = ntuple(padding, n, "padding", minimum=0)
    dilation = ntuple(dilation, n, "dilation")
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(
            f"{name}: padding {padding} must be at most half of kernel_size {kernel} "
            "in every dimension"
        )
    size = x.shape[-n:]
    if not ceil_mode:  # with ceil_mode a window longer than the padded input pools what it covers
        check_kernel_fits(size, kernel, [(p, p) for p in padding], dilation, f"{name}: kernel")
    out = pool_output_size(size, kernel, stride, padding, dilation, ceil_mode)
    if any(o < 1 for o in out):
        raise ValueError(f"{name}: input spatial size {tuple(size)} gives an empty output {out}")
    return kernel, stride, padding, dilation, out


def _check_adaptive(x, n, output_size, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} expects a Tensor input, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} expects a floating-point input, got dtype {x.dtype}")
    check_input(x.shape, n, None, name)
    size = x.shape[-n:]
    if output_size is None or isinstance(output_size, numbers.Integral):
        output_size = (output_size,) * n
    if not isinstance(output_size, (tuple, list)) or len(output_size) != n:
        raise ValueError(
            f"{name}: output_size must be an int or a tuple of {n} ints (None keeps "
            f"that input size), got {output_size!r}"
        )
    out = tuple(s if o is None else o for o, s in zip(output_size, size))
    if not all(isinstance(o, numbers.Integral) and not isinstance(o, bool) and o >= 1 for o in out):
        raise ValueError(f"{name}: output_size must contain positive ints, got {output_size!r}")
    return tuple(int(o) for o in out)


# ----------------------------------------------------------------------------- public ops
@op
def max_pool(
    x: Tensor,
    n: int,
    kernel_size: IntOrSeq,
    stride: IntOrSeq | None = None,
    padding: IntOrSeq | str = 0,
    dilation: IntOrSeq = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
    name: str = "max_pool",
):
    """Max pooling over the last ``n`` axes (padding is -inf). With ``return_indices`` also
    returns each maximum's flat index into the input's spatial dims (int64). Ties go to the first
    maximal element in row-major window order; the gradient goes to that element."""
    kernel, stride, padding, dilation, out = _check_pool(
        x, n, kernel_size, stride, padding, dilation, ceil_mode, name
    )
    axes, pads = _regular_axes(x.shape[-n:], out, kernel, stride, padding, dilation)
    return _max_pool_op(x, n, axes, pads, return_indices, "MaxPool")


@op
def avg_pool(
    x,
    n,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
    name="avg_pool",
):
    """Average pooling over the last ``n`` axes with zero padding and PyTorch's divisor: the
    window clipped to input + padding (or to the input alone when ``count_include_pad`` is False),
    or ``divisor_override``."""
    kernel, stride, padding, _, out = _check_pool(
        x, n, kernel_size, stride, padding, 1, ceil_mode, name
    )
    size = x.shape[-n:]
    axes, pads = _regular_axes(size, out, kernel, stride, padding, (1,) * n)
    weights = []
    for s, o, k, st, p in zip(size, out, kernel, stride, padding):
        start = np.arange(o) * st - p
        end = np.minimum(start + k, s + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, s)
        weights.append(np.repeat((1.0 / (end - start))[:, None], k, axis=1))
    if divisor_override is not None:
        if (
            isinstance(divisor_override, bool)
            or not isinstance(divisor_override, numbers.Number)
            or divisor_override == 0
        ):
            raise ValueError(
                f"{name}: divisor_override must be a non-zero number, got {divisor_override!r}"
            )
        weights = [np.ones_like(w) for w in weights]
        weights[0] = weights[0] / float(divisor_override)
    return _window_sum_op(x, n, axes, weights, pads, "AvgPool")


@op
def adaptive_max_pool(
    x: Tensor,
    n: int,
    output_size: IntOrSeq,
    return_indices: bool = False,
    name: str = "adaptive_max_pool",
):
    """Max over PyTorch's adaptive bins [floor(i*S/O), ceil((i+1)*S/O)) of the last ``n`` axes."""
    out = _check_adaptive(x, n, output_size, name)
    axes = [_adaptive_axis(s, o)[0] for s, o in zip(x.shape[-n:], out)]
    return _max_pool_op(x, n, axes, [(0, 0)] * n, return_indices, "AdaptiveMaxPool")


@op
def adaptive_avg_pool(
    x: Tensor, n: int, output_size: IntOrSeq, name: str = "adaptive_avg_pool"
) -> Tensor:
    """Mean over PyTorch's adaptive bins [floor(i*S/O), ceil((i+1)*S/O)) of the last ``n`` axes."""
    if (
        isinstance(x, Tensor)
        and x.is_floating_point()
        and x.ndim in (n + 1, n + 2)
        and 0 in x.shape[-n:]
        and output_size in (1, (1,) * n, [1] * n)
    ):
        # PyTorch's global average of an empty volume: the mean over no elements, NaN
        return x.mean(axis=tuple(range(x.ndim - n, x.ndim)), keepdims=True)
    out = _check_adaptive(x, n, output_size, name)
    axes, weights = [], []
    for s, o in zip(x.shape[-n:], out):
        ax, lengths = _adaptive_axis(s, o)
        axes.append(ax)
        # taps repeated to pad a short bin get weight 0
        weights.append((np.arange(ax.kernel)[None, :] < lengths[:, None]) / lengths[:, None])
    return _window_sum_op(x, n, axes, weights, [(0, 0)] * n, "AdaptiveAvgPool")
