"""Running sums and products along a dimension (``cumsum``, ``cumprod``), PyTorch's signatures:
``dim`` is required, integer and bool inputs accumulate in int64 unless ``dtype`` says otherwise."""

from __future__ import annotations

from lucid import _backend as B
from lucid._typing import DTypeLike
from lucid.ops._util import normalize_axes, op, record
from lucid.tensor import Tensor


def _prepare(input, dim, dtype, name):
    if not isinstance(input, Tensor):
        raise TypeError(f"{name} expects a Tensor, got {type(input).__name__}")
    if dtype is not None:
        input = input.astype(dtype)
    elif not B.is_floating(input.data.dtype):
        input = input.astype("int64")  # as PyTorch: no overflow in int8/int32/bool running sums
    x = input.reshape(1) if input.ndim == 0 else input
    (axis,) = normalize_axes(dim, x.ndim, "dim")
    return input, x, axis


@op
def cumsum(input: Tensor, dim: int, *, dtype: DTypeLike = None):
    """Running sum along ``dim``: out[i] = input[0] + ... + input[i]."""
    input, x, axis = _prepare(input, dim, dtype, "cumsum")
    y = B.cumsum(x.data, axis=axis)

    def backward(g):
        return (B.cumsum(g, axis=axis, reverse=True),)

    out = record(y, (x,), backward, "Cumsum", adjoint=lambda _i, v: B.cumsum(v, axis=axis))
    return out.reshape(()) if input.ndim == 0 else out


@op
def cumprod(input: Tensor, dim: int, *, dtype: DTypeLike = None):
    """Running product along ``dim``: out[i] = input[0] * ... * input[i]. The gradient is exact
    also where the input holds zeros."""
    input, x, axis = _prepare(input, dim, dtype, "cumprod")
    xd = x.data
    y = B.cumprod(xd, axis=axis)

    def backward(g):
        if not bool(B.any(xd == 0)):
            return (B.cumsum(g * y, axis=axis, reverse=True) / xd,)
        return (_cumprod_grad_with_zeros(xd, g, axis),)

    out = record(
        y, (x,), backward, "Cumprod", rule=lambda g, out, x: _cumprod_rule(g, out, x, axis)
    )
    return out.reshape(()) if input.ndim == 0 else out


def _cumprod_rule(g, out, x, axis):
    """cumprod's backward on Tensors: the reversed running sum of g * out over x where x has no
    zeros, else the division-free form (exact at zeros, and differentiable there too)."""
    from lucid.ops.reorder import flip

    if not bool(B.any(x.data == 0)):
        return (flip(cumsum(flip(g * out, axis), axis), axis) / x,)
    from lucid.ops.shape import cat, stack

    n = x.shape[axis]

    def at(t, i):  # t[..., i, ...] along ``axis``, as a slice of size 1 when ``i`` is a slice
        return t[(slice(None),) * axis + (i,)]

    s = [at(g, n - 1)]  # s_i = g_i + x_{i+1} * s_{i+1}, built from the end
    for i in range(n - 2, -1, -1):
        s.append(at(g, i) + at(x, i + 1) * s[-1])
    first = x.shape[:axis] + (1,) + x.shape[axis + 1 :]
    ones = Tensor._wrap(B.ones(first, dtype=x.data.dtype), x._device)
    before = ones if n == 1 else cat([ones, cumprod(at(x, slice(0, n - 1)), axis)], axis)
    return (before * stack(s[::-1], axis),)


def _cumprod_grad_with_zeros(xd, g, axis):
    """d/dx_i = (x_0 ... x_{i-1}) * s_i with s_i = g_i + x_{i+1} * s_{i+1}: no division, so
    zeros are exact (one step per position along ``axis``)."""
    x = B.moveaxis(xd, axis, 0)
    gm = B.moveaxis(g, axis, 0)
    n = x.shape[0]
    before = B.concatenate(
        [B.ones((1,) + x.shape[1:], dtype=x.dtype), B.cumprod(x[:-1], axis=0)], axis=0
    )
    s = [None] * n
    s[n - 1] = gm[n - 1]
    for i in range(n - 2, -1, -1):
        s[i] = gm[i] + x[i + 1] * s[i + 1]
    return B.moveaxis(before * B.stack(s, axis=0), 0, axis)
