"""Logical and bitwise ops (``&``, ``|``, ``^``, ``~``): logical on bool tensors, bitwise on
integers, as in PyTorch. None has a gradient."""

from __future__ import annotations

from lucid import _backend as B
from lucid._typing import TensorOrScalar
from lucid.ops._util import op, raw
from lucid.tensor import Tensor


def _device(a, b=None):
    for v in (a, b):
        if isinstance(v, Tensor):
            return v._device
    return "cpu"


def _integral(v, name):
    data = raw(v)
    dt = getattr(data, "dtype", None)
    if dt is not None and B.is_floating(dt) or isinstance(data, float):
        raise TypeError(
            f"{name} needs bool or integer tensors, got a floating-point operand "
            f"({getattr(v, 'dtype', type(v).__name__)})"
        )
    return data


def _bitwise(fn, name, doc):
    @op
    def run(input: Tensor, other: TensorOrScalar):
        out = fn(_integral(input, name), _integral(other, name))
        return Tensor._wrap(out, _device(input, other))

    run.__name__ = run.__qualname__ = name
    run.__doc__ = doc
    return run


bitwise_and = _bitwise(B.bitwise_and, "bitwise_and", "Elementwise AND (logical for bool).")
bitwise_or = _bitwise(B.bitwise_or, "bitwise_or", "Elementwise OR (logical for bool).")
bitwise_xor = _bitwise(B.bitwise_xor, "bitwise_xor", "Elementwise XOR (logical for bool).")


@op
def bitwise_not(input: Tensor):
    """Elementwise NOT: logical for bool, two's-complement for integers."""
    return Tensor._wrap(B.bitwise_invert(_integral(input, "bitwise_not")), input._device)


def _logical(fn, name):
    @op
    def run(input: Tensor, other: TensorOrScalar):
        a, b = raw(input), raw(other)
        a = a.astype(B.DTYPES["bool"]) if hasattr(a, "astype") else bool(a)
        b = b.astype(B.DTYPES["bool"]) if hasattr(b, "astype") else bool(b)
        return Tensor._wrap(fn(a, b), _device(input, other))

    run.__name__ = run.__qualname__ = name
    run.__doc__ = f"Elementwise {name[8:].upper()} of the operands' truth values (a bool tensor)."
    return run


logical_and = _logical(B.logical_and, "logical_and")
logical_or = _logical(B.logical_or, "logical_or")
logical_xor = _logical(B.logical_xor, "logical_xor")
