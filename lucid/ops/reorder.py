"""Reordering elements along dimensions without changing the shape: ``flip`` and ``roll``."""

from __future__ import annotations

import numbers

from lucid import _backend as B
from lucid._typing import IntOrSeq
from lucid.ops._util import normalize_axes, op, record
from lucid.tensor import Tensor


def _dims_arg(dims, more, name):
    """``dims`` (an int or a sequence) and ``more`` (the ints after it) as one tuple of ints."""
    if isinstance(dims, (tuple, list)):
        if more:
            raise TypeError(f"{name}: give dims as one sequence or as ints, got {dims!r}, {more}")
        dims = tuple(dims)
    else:
        dims = (dims, *more)
    if not all(isinstance(d, numbers.Integral) and not isinstance(d, bool) for d in dims):
        raise TypeError(f"{name}: dims must be ints, got {dims!r}")
    return dims


@op
def flip(input: Tensor, dims: IntOrSeq, *more_dims: int) -> Tensor:
    """Reverse the order of elements along ``dims``: ``flip(x, (0, 2))``,
    ``flip(x, dims=[0, 2])``, ``x.flip(0, 2)`` or ``x.flip(dims=(0, 2))``; ``dims=()`` is a
    copy of the values. A repeated or out-of-range dim raises ValueError."""
    axes = normalize_axes(_dims_arg(dims, more_dims, "flip"), input.ndim, "dim")
    index = tuple(slice(None, None, -1) if a in axes else slice(None) for a in range(input.ndim))
    return record(
        input.data[index], (input,), lambda g: (g[index],), "Flip", adjoint=lambda _i, v: v[index]
    )


@op
def roll(input, shifts, dims=None):
    """Shift elements circularly by ``shifts`` along ``dims``; with ``dims=None`` the tensor is
    rolled as if flattened and the shape restored."""
    shifts = (shifts,) if isinstance(shifts, numbers.Integral) else tuple(shifts)
    if dims is None:
        if len(shifts) != 1:
            raise ValueError(f"roll: with dims=None, shifts must be one int, got {shifts!r}")
        shape = input.data.shape
        y = B.reshape(B.roll(B.reshape(input.data, (-1,)), int(shifts[0]), 0), shape)

        def backward(g):
            return (B.reshape(B.roll(B.reshape(g, (-1,)), -int(shifts[0]), 0), shape),)

        def adjoint(_i, v):
            return B.reshape(B.roll(B.reshape(v, (-1,)), int(shifts[0]), 0), shape)

        return record(y, (input,), backward, "Roll", adjoint=adjoint)
    dims = (dims,) if isinstance(dims, numbers.Integral) else tuple(dims)
    if len(dims) != len(shifts):
        raise ValueError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    axes = tuple(normalize_axes(d, input.ndim, "dim")[0] for d in dims)
    shifts = tuple(int(s) for s in shifts)
    y = B.roll(input.data, shifts, axes)
    back = tuple(-s for s in shifts)
    return record(
        y,
        (input,),
        lambda g: (B.roll(g, back, axes),),
        "Roll",
        adjoint=lambda _i, v: B.roll(v, shifts, axes),
    )
