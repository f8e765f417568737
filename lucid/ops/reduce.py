"""Reductions over axes (``axis`` None, an int or a tuple; ``keepdims``), forward beside backward."""

from __future__ import annotations

import math

from lucid import _backend as B
from lucid.ops._util import normalize_axes, op, record
from lucid.tensor import Tensor


def _spread(g, x_shape, axes, keepdims):
    """Broadcast a reduced gradient back over the reduced axes."""
    if not keepdims and axes:
        g = B.expand_dims(g, list(axes))
    return B.broadcast_to(g, x_shape)


def _count(shape, axes):
    return math.prod(shape[a] for a in axes)


@op
def sum(x, axis=None, keepdims=False):
    """Sum over ``axis``."""
    axes = normalize_axes(axis, x.ndim)
    y = B.sum(x.data, axis=list(axes), keepdims=keepdims)
    shape = x.data.shape
    return record(y, (x,), lambda g: (_spread(g, shape, axes, keepdims),), "Sum")


@op
def mean(x, axis=None, keepdims=False):
    """Mean over ``axis`` (NaN for an empty reduction, as numpy)."""
    axes = normalize_axes(axis, x.ndim)
    n = _count(x.shape, axes)
    y = B.sum(x.data, axis=list(axes), keepdims=keepdims) / (n if n else float("nan"))
    shape = x.data.shape
    return record(y, (x,), lambda g: (_spread(g / n if n else g, shape, axes, keepdims),), "Mean")


def _extreme(x, axis, keepdims, fn, name):
    axes = normalize_axes(axis, x.ndim)
    if x.size == 0:
        raise ValueError(f"{name.lower()}() of an empty tensor (shape {x.shape}) has no value")
    xd = x.data
    y = fn(xd, axis=list(axes), keepdims=keepdims)

    def backward(g):
        # ties share the gradient evenly (the subgradient PyTorch's amax/amin use)
        hit = (xd == _spread(y, xd.shape, axes, keepdims)).astype(g.dtype)
        count = B.sum(hit, axis=list(axes), keepdims=True)
        return (_spread(g, xd.shape, axes, keepdims) * hit / count,)

    return record(y, (x,), backward, name)


@op
def max(x, axis=None, keepdims=False):
    """Maximum over ``axis``; tied maxima share the gradient."""
    return _extreme(x, axis, keepdims, B.max, "Max")


@op
def min(x, axis=None, keepdims=False):
    """Minimum over ``axis``; tied minima share the gradient."""
    return _extreme(x, axis, keepdims, B.min, "Min")


@op
def var(x, axis=None, keepdims=False, ddof=0):
    """Variance over ``axis`` with ``ddof`` delta degrees of freedom (numpy's default 0)."""
    axes = normalize_axes(axis, x.ndim)
    n = _count(x.shape, axes)
    xd = x.data
    centered = xd - B.mean(xd, axis=list(axes), keepdims=True)
    denom = n - ddof if n - ddof > 0 else float("nan")
    y = B.sum(centered * centered, axis=list(axes), keepdims=keepdims) / denom
    return record(y, (x,), lambda g: (_spread(g, xd.shape, axes, keepdims) * centered * (2.0 / denom),),
                  "Var")


def std(x, axis=None, keepdims=False, ddof=0):
    """Standard deviation over ``axis`` (sqrt of ``var``)."""
    from lucid.ops.elementwise import sqrt

    return sqrt(var(x, axis=axis, keepdims=keepdims, ddof=ddof))


@op
def prod(x, axis=None, keepdims=False):
    """Product over ``axis``; the gradient is exact with zeros in the input (no division)."""
    axes = normalize_axes(axis, x.ndim)
    xd = x.data
    y = B.prod(xd, axis=list(axes), keepdims=keepdims)

    def backward(g):
        # move the reduced axes last, flatten them, and take exclusive products from both sides
        rest = [a for a in range(xd.ndim) if a not in axes]
        perm = rest + list(axes)
        moved = B.transpose(xd, perm)
        lead = moved.shape[:len(rest)]
        flat = B.reshape(moved, lead + (-1,) if lead else (-1,))
        before = B.cumprod(flat, axis=-1, inclusive=False)
        after = B.cumprod(flat, axis=-1, reverse=True, inclusive=False)
        others = B.reshape(before * after, moved.shape)
        inverse = [perm.index(i) for i in range(xd.ndim)]
        return (_spread(g, xd.shape, axes, keepdims) * B.transpose(others, inverse),)

    return record(y, (x,), backward, "Prod")


@op
def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis``, computed stably."""
    axes = normalize_axes(axis, x.ndim)
    xd = x.data
    if x.size == 0:  # MLX's logsumexp rejects empty input; numpy gives log(0) = -inf
        y = B.log(B.sum(B.exp(xd), axis=list(axes), keepdims=keepdims))
    else:
        y = B.logsumexp(xd, axis=list(axes), keepdims=keepdims)
    return record(y, (x,), lambda g: (_spread(g, xd.shape, axes, keepdims) *
                                      B.exp(xd - _spread(y, xd.shape, axes, keepdims)),),
                  "LogSumExp")


def _arg(x, axis, keepdims, fn, name):
    if x.size == 0:
        raise ValueError(f"{name}() of an empty tensor (shape {x.shape})")
    if axis is None:
        out = fn(B.reshape(x.data, (-1,)), axis=0)
        if keepdims:
            out = B.reshape(out, (1,) * x.ndim)
    else:
        (ax,) = normalize_axes(axis, x.ndim)
        out = fn(x.data, axis=ax, keepdims=keepdims)
    return Tensor._wrap(out.astype(B.DTYPES["int64"]), x._device)


def argmax(x, axis=None, keepdims=False):
    """Index of the maximum (of the flattened tensor when ``axis`` is None); no gradient."""
    return _arg(x, axis, keepdims, B.argmax, "argmax")


def argmin(x, axis=None, keepdims=False):
    """Index of the minimum (of the flattened tensor when ``axis`` is None); no gradient."""
    return _arg(x, axis, keepdims, B.argmin, "argmin")


def all(x, axis=None, keepdims=False):
    """True where every element along ``axis`` is true."""
    return Tensor._wrap(B.all(x.data, axis=list(normalize_axes(axis, x.ndim)), keepdims=keepdims),
                        x._device)


def any(x, axis=None, keepdims=False):
    """True where some element along ``axis`` is true."""
    return Tensor._wrap(B.any(x.data, axis=list(normalize_axes(axis, x.ndim)), keepdims=keepdims),
                        x._device)
