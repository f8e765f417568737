"""Whole-tensor comparisons: ``isclose`` (elementwise), ``allclose`` and ``equal`` (one bool).
None has a gradient."""

from __future__ import annotations

import math
import numbers

import numpy as np

from lucid import _backend as B
from lucid.ops._util import op
from lucid.tensor import Tensor


def _tensors(input, other, name):
    for what, v in (("input", input), ("other", other)):
        if not isinstance(v, Tensor):
            raise TypeError(f"{name}: {what} must be a Tensor, got {type(v).__name__}")


def _tolerance(value, what, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: {what} must be a number, got {value!r}")
    if not value >= 0:
        raise ValueError(f"{name}: {what} must be >= 0, got {value!r}")
    return float(value)


@op
def isclose(
    input: Tensor,
    other: Tensor,
    rtol: float = 1e-05,
    atol: float = 1e-08,
    equal_nan: bool = False,
) -> Tensor:
    """Where ``|input - other| <= atol + rtol * |other|`` (broadcast; a bool tensor). Equal
    values are close (infinities of one sign included), other non-finite values are not, and
    NaN is close to NaN only with ``equal_nan``. Both tensors must have the same dtype, as in
    PyTorch; integers are compared with a float32 tolerance."""
    _tensors(input, other, "isclose")
    rtol, atol = _tolerance(rtol, "rtol", "isclose"), _tolerance(atol, "atol", "isclose")
    if input.dtype != other.dtype:
        raise TypeError(
            f"isclose: input and other must have the same dtype, got {input.dtype} and "
            f"{other.dtype}"
        )
    try:
        np.broadcast_shapes(input.shape, other.shape)
    except ValueError:
        raise ValueError(
            f"isclose: shapes {input.shape} and {other.shape} cannot be broadcast together"
        ) from None
    a, b = input.data, other.data
    same = B.equal(a, b)
    if B.is_floating(a.dtype):
        within = B.abs(a - b) <= atol + rtol * B.abs(b)
        finite = B.logical_and(B.abs(a) < math.inf, B.abs(b) < math.inf)  # NaN < inf is False
        within = B.logical_and(finite, within)  # inf - x is inf: only equal infinities match
    else:  # integers and bools: the difference in float32, as PyTorch's default dtype
        f32 = B.DTYPES["float32"]
        if a.dtype == B.DTYPES["bool"]:
            a, b = a.astype(f32), b.astype(f32)
        within = B.abs(a - b).astype(f32) <= atol + rtol * B.abs(b.astype(f32))
    close = B.logical_or(same, within)
    if equal_nan and B.is_floating(a.dtype):
        close = B.logical_or(close, B.logical_and(B.isnan(a), B.isnan(b)))
    return Tensor._wrap(close, input._device)


def allclose(
    input: Tensor,
    other: Tensor,
    rtol: float = 1e-05,
    atol: float = 1e-08,
    equal_nan: bool = False,
) -> bool:
    """True when every element of ``input`` is close to ``other``'s (see :func:`isclose`); a
    Python bool (this reads back to the host)."""
    close = isclose(input, other, rtol, atol, equal_nan)
    return bool(B.item(B.all(close.data)))


@op
def equal(input: Tensor, other: Tensor) -> bool:
    """True when the tensors have the same shape and equal elements (NaN equals nothing; the
    dtypes may differ, as in PyTorch); a Python bool (this reads back to the host)."""
    _tensors(input, other, "equal")
    if tuple(input.shape) != tuple(other.shape):
        return False
    return bool(B.item(B.all(B.equal(input.data, other.data))))
