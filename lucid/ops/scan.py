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

    out = record(y, (x,), backward, "Cumsum")
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

    out = record(y, (x,), backward, "Cumprod")
    return out.reshape(()) if input.ndim == 0 else out


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
