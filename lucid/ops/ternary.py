"""Pointwise ops of three operands, any of which may be a tensor: ``clamp`` (alias ``clip``)
with tensor or number bounds, and ``lerp``."""

from __future__ import annotations

from lucid import _backend as B
from lucid._typing import TensorOrScalar
from lucid.autograd.graph import DIAGONAL
from lucid.ops._util import as_tensor, op, raw, record
from lucid.ops.elementwise import _check_broadcast
from lucid.tensor import Tensor


@op
def clamp(
    input: Tensor, min: TensorOrScalar | None = None, max: TensorOrScalar | None = None
) -> Tensor:
    """min(max(input, min), max) elementwise; ``min``/``max`` are numbers or tensors. Gradients
    as PyTorch: to ``input`` where min <= input <= max, to ``min`` where input < min (and
    min < max), to ``max`` where input > max or max < min."""
    if min is None and max is None:
        raise ValueError("clamp needs min or max (got neither)")
    input = as_tensor(input)
    xd = input.data
    lo = None if min is None else raw(min)
    hi = None if max is None else raw(max)
    for bound in (lo, hi):
        if bound is not None:
            _check_broadcast(xd, bound, "clamp")
    y = xd
    if lo is not None:
        y = B.maximum(y, lo)
    if hi is not None:
        y = B.minimum(y, hi)

    def backward(g):
        zero = B.zeros((), dtype=g.dtype)
        inside = B.ones(xd.shape, dtype=B.DTYPES["bool"])
        if lo is not None:
            inside = inside & (xd >= lo)
        if hi is not None:
            inside = inside & (xd <= hi)
        g_lo = g_hi = None
        if lo is not None:
            below = xd < lo
            g_lo = B.where(below & (lo < hi) if hi is not None else below, g, zero)
        if hi is not None:
            above = xd > hi
            g_hi = B.where(above | (hi < lo) if lo is not None else above, g, zero)
        return B.where(inside, g, zero), g_lo, g_hi

    # the gradients are g masked (piecewise constant in the operands): its own adjoint
    return record(y, (input, min, max), backward, "Clamp", adjoint=DIAGONAL)


clip = clamp


@op
def lerp(input: Tensor, end: Tensor, weight: Tensor) -> Tensor:
    """input + weight * (end - input); ``weight`` is a number or a tensor."""
    input = as_tensor(input)
    a, b, w = input.data, raw(end), raw(weight)
    _check_broadcast(a, b, "lerp")
    _check_broadcast(a, w, "lerp")
    y = a + w * (b - a)

    def backward(g):
        return g * (1 - w), g * w, g * (b - a)

    return record(y, (input, end, weight), backward, "Lerp", rule=_lerp_rule)


def _lerp_rule(g, _out, a, b, w):
    """lerp's backward on Tensors (``end`` and ``weight`` may be numbers)."""
    ga = g * (1 - w) if _needs_grad(a) else None
    gb = g * w if _needs_grad(b) else None
    gw = g * (b - a) if _needs_grad(w) else None
    return ga, gb, gw


def _needs_grad(v):
    return isinstance(v, Tensor) and v.requires_grad
