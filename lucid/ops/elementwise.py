"""Elementwise ops with numpy broadcasting; each forward beside its backward.

Gradients of broadcast operands are summed back to the operand's shape by the engine.
"""

from __future__ import annotations

import math

from lucid import _backend as B
from lucid._typing import TensorOrScalar
from lucid.autograd.graph import DIAGONAL
from lucid.ops._util import as_tensor, op, raw, record
from lucid.tensor import Tensor


def _check_broadcast(a, b, name):
    if isinstance(a, (int, float)) or isinstance(b, (int, float)):
        return  # a Python number broadcasts against anything
    sa = getattr(a, "shape", ())
    sb = getattr(b, "shape", ())
    if sa == sb:
        return
    for x, y in zip(reversed(tuple(sa)), reversed(tuple(sb))):
        if x != y and x != 1 and y != 1:
            raise ValueError(
                f"{name}: shapes {tuple(sa)} and {tuple(sb)} cannot be broadcast together"
            )


# --- arithmetic -------------------------------------------------------------------------------
@op
def add(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a + b."""
    x, y = raw(a), raw(b)
    _check_broadcast(x, y, "add")
    return record(
        x + y, (a, b), lambda g: (g, g), "Add", saves=(), saves_output=False, adjoint=_add_adjoint
    )


def _add_adjoint(_i, v):
    return v


@op
def sub(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a - b."""
    x, y = raw(a), raw(b)
    _check_broadcast(x, y, "sub")
    return record(
        x - y, (a, b), lambda g: (g, -g), "Sub", saves=(), saves_output=False, adjoint=_sub_adjoint
    )


def _sub_adjoint(i, v):
    return v if i == 0 else -v


@op
def mul(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a * b."""
    x, y = raw(a), raw(b)
    _check_broadcast(x, y, "mul")
    return record(
        x * y, (a, b), lambda g: (g * y, g * x), "Mul", saves_output=False, rule=_mul_rule
    )


def _mul_rule(g, _out, a, b):
    return g * b, g * a


@op
def div(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a / b (true division)."""
    x, y = raw(a), raw(b)
    _check_broadcast(x, y, "div")
    out = x / y
    return record(out, (a, b), lambda g: (g / y, -g * out / y), "Div", saves=(1,), rule=_div_rule)


def _div_rule(g, out, _a, b):
    return g / b, -g * out / b


@op
def floordiv(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a // b; its gradient is zero almost everywhere (a step function)."""
    x, y = raw(a), raw(b)
    _check_broadcast(x, y, "floordiv")
    out = B.floor_divide(x, y)
    return record(out, (a, b), lambda g: (g * 0, g * 0), "FloorDiv", adjoint=DIAGONAL)


@op
def pow(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """a ** b."""
    x, y = raw(a), raw(b)
    _check_broadcast(x, y, "pow")
    out = B.power(x, y)

    def backward(g):
        # d(x ** 0)/dx is 0 (not 0 * 0 ** -1 = nan); d(0 ** y)/dy is 0 for y >= 0 (not 0 * log 0)
        ga = (
            B.where(B.equal(y, 0), 0.0, g * y * B.power(x, y - 1))
            if isinstance(a, Tensor)
            else None
        )
        gb = (
            B.where(B.equal(x, 0) & B.greater_equal(y, 0), 0.0, g * out * _log_operand(x))
            if isinstance(b, Tensor)
            else None
        )
        return ga, gb

    return record(out, (a, b), backward, "Pow", rule=_pow_rule)


def _pow_rule(g, out, a, b):
    ga = gb = None
    if isinstance(a, Tensor):
        if isinstance(b, Tensor):
            ga = where(eq(b, 0), 0.0, g * b * pow(a, b - 1))
        else:
            ga = g * 0.0 if b == 0 else g * b * pow(a, b - 1)
    if isinstance(b, Tensor):
        if isinstance(a, Tensor):
            zero = _zero_base(eq(a, 0), b)
            gb = where(zero, 0.0, g * out * log(where(zero, 1.0, a)))
        elif a == 0:
            gb = where(ge(b, 0), 0.0, g * out * -math.inf)
        else:
            gb = g * out * _log_operand(a)
    return ga, gb


def _zero_base(is_zero, b):
    """Where a base is 0 and its exponent >= 0 (both gradients are taken as 0 there)."""
    return Tensor._wrap(is_zero.data & B.greater_equal(b.data, 0), b._device)


def _log_operand(x):
    """log of an operand; a Python number's log is taken in double precision and stays a Python
    float (MLX would compute it in float32, and a float64 exponent's gradient needs it exact)."""
    if isinstance(x, (int, float)):
        return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)
    return B.log(x)


@op
def neg(a: Tensor) -> Tensor:
    """-a."""
    return record(
        -a._data, (a,), lambda g: (-g,), "Neg", saves=(), saves_output=False, adjoint=_neg_adjoint
    )


def _neg_adjoint(_i, v):
    return -v


# --- unary math ---------------------------------------------------------------------------------
def _unary(name, forward, derivative, doc, tensor_derivative=None):
    """An op y = forward(x) whose gradient is g * derivative(x, y) (on arrays), and
    g * tensor_derivative(x, y) on Tensors for higher-order gradients; without
    ``tensor_derivative`` the derivative is piecewise constant (a mask: abs, relu)."""
    rule = None
    if tensor_derivative is not None:

        def rule(g, out, x):
            return (g * tensor_derivative(x, out),)

    adjoint = DIAGONAL if rule is None else None

    @op
    def fn(x: Tensor) -> Tensor:
        x = as_tensor(x)
        xd = x._data
        y = forward(xd)
        return record(y, (x,), lambda g: (g * derivative(xd, y),), name, rule=rule, adjoint=adjoint)

    fn.__name__ = fn.__qualname__ = name.lower()
    fn.__doc__ = doc
    return fn


abs = _unary("Abs", B.abs, lambda x, y: B.sign(x), "|x| (gradient sign(x), 0 at 0).")
exp = _unary("Exp", B.exp, lambda x, y: y, "e ** x.", lambda x, y: y)
log = _unary("Log", B.log, lambda x, y: 1.0 / x, "Natural logarithm.", lambda x, y: 1.0 / x)
log1p = _unary(
    "Log1p",
    B.log1p,
    lambda x, y: 1.0 / (1.0 + x),
    "log(1 + x), accurate near 0.",
    lambda x, y: 1.0 / (1.0 + x),
)
sqrt = _unary("Sqrt", B.sqrt, lambda x, y: 0.5 / y, "Square root.", lambda x, y: 0.5 / y)
sin = _unary("Sin", B.sin, lambda x, y: B.cos(x), "Sine.", lambda x, y: x.cos())
cos = _unary("Cos", B.cos, lambda x, y: -B.sin(x), "Cosine.", lambda x, y: -x.sin())
tanh = _unary(
    "Tanh", B.tanh, lambda x, y: 1.0 - y * y, "Hyperbolic tangent.", lambda x, y: 1.0 - y * y
)
sigmoid = _unary(
    "Sigmoid",
    B.sigmoid,
    lambda x, y: y * (1.0 - y),
    "Logistic sigmoid.",
    lambda x, y: y * (1.0 - y),
)
relu = _unary(
    "Relu",
    lambda x: B.maximum(x, 0),
    lambda x, y: (x > 0).astype(x.dtype),
    "max(x, 0) (gradient 0 at 0).",
)
square = _unary("Square", B.square, lambda x, y: 2 * x, "x * x.", lambda x, y: 2 * x)
erf = _unary(
    "Erf",
    B.erf,
    lambda x, y: (2.0 / math.sqrt(math.pi)) * B.exp(-x * x),
    "The error function.",
    lambda x, y: (2.0 / math.sqrt(math.pi)) * exp(-x * x),
)


def _stepwise(name, forward, x):
    """A piecewise-constant op: its gradient is zero, and it is recorded (as PyTorch's, the
    output requires grad when the input does). Integer tensors come back as a copy."""
    x = as_tensor(x)
    if not B.is_floating(x._data.dtype):
        return Tensor._wrap(B.array(x._data), x._device)
    return record(
        forward(x._data),
        (x,),
        lambda g: (B.zeros(g.shape, dtype=g.dtype),),
        name,
        saves=(),
        saves_output=False,
        adjoint=DIAGONAL,
    )


@op
def round(x: Tensor, *, decimals: int = 0) -> Tensor:
    """Each element rounded to ``decimals`` places, halves to even (gradient zero)."""
    if isinstance(decimals, bool) or not isinstance(decimals, int):
        raise TypeError(f"round: decimals must be an int, got {decimals!r}")
    return _stepwise("Round", lambda a: B.round_to(a, decimals), x)


@op
def floor(x: Tensor) -> Tensor:
    """The largest integer <= each element (gradient zero)."""
    return _stepwise("Floor", B.floor, x)


@op
def ceil(x: Tensor) -> Tensor:
    """The smallest integer >= each element (gradient zero)."""
    return _stepwise("Ceil", B.ceil, x)


@op
def trunc(x: Tensor) -> Tensor:
    """Each element rounded toward zero (gradient zero)."""
    return _stepwise("Trunc", B.trunc, x)


def sign(x: Tensor) -> Tensor:
    """The sign of each element (no gradient)."""
    x = as_tensor(x)
    return Tensor._wrap(B.sign(x.data), x._device)


@op
def clip(x: Tensor, min: TensorOrScalar | None = None, max: TensorOrScalar | None = None) -> Tensor:
    """Values limited to [min, max]; the gradient passes where the value was not clipped."""
    if min is None and max is None:
        raise ValueError("clip needs min or max")
    xd = x._data
    lo, hi = raw(min) if min is not None else None, raw(max) if max is not None else None
    y = B.clip(xd, lo, hi)
    mask = B.ones(xd.shape, dtype=B.DTYPES["bool"])
    if lo is not None:
        mask = mask & (xd >= lo)
    if hi is not None:
        mask = mask & (xd <= hi)
    return record(y, (x,), lambda g: (B.where(mask, g, 0),), "Clip", adjoint=DIAGONAL)


def _extremum(a, b, fn, first_wins, name):
    """fn(a, b) for fn = maximum/minimum: the gradient goes to the winner, halves on a tie."""
    x, y = raw(a), raw(b)
    _check_broadcast(x, y, name.lower())
    out = fn(x, y)

    def backward(g):
        share = B.where(x == y, 0.5, B.where(first_wins(x, y), 1.0, 0.0)).astype(g.dtype)
        return g * share, g * (1.0 - share)

    return record(out, (a, b), backward, name, adjoint=DIAGONAL)


@op
def maximum(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """Elementwise maximum; a tie sends half the gradient to each side."""
    return _extremum(a, b, B.maximum, B.greater, "Maximum")


@op
def minimum(a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """Elementwise minimum; a tie sends half the gradient to each side."""
    return _extremum(a, b, B.minimum, B.less, "Minimum")


@op
def where(condition: Tensor, a: TensorOrScalar, b: TensorOrScalar) -> Tensor:
    """``a`` where ``condition`` holds, else ``b``."""
    c = raw(condition)
    x, y = raw(a), raw(b)
    for u, v in ((c, x), (c, y), (x, y)):  # pairwise compatible means jointly compatible
        _check_broadcast(u, v, "where")
    out = B.where(c, x, y)
    return record(
        out, (a, b), lambda g: (B.where(c, g, 0), B.where(c, 0, g)), "Where", adjoint=DIAGONAL
    )


# --- comparisons (no gradient) ------------------------------------------------------------------
def _compare(fn, name):
    def compare(a, b: TensorOrScalar):
        x, y = raw(a), raw(b)
        _check_broadcast(x, y, name)
        dev = a._device if isinstance(a, Tensor) else getattr(b, "_device", "cpu")
        return Tensor._wrap(fn(x, y), dev)

    compare.__name__ = name
    compare.__doc__ = f"Elementwise {name} comparison (a bool tensor, no gradient)."
    return compare


eq = _compare(B.equal, "eq")
ne = _compare(B.not_equal, "ne")
lt = _compare(B.less, "lt")
le = _compare(B.less_equal, "le")
gt = _compare(B.greater, "gt")
ge = _compare(B.greater_equal, "ge")


def logical_not(a: Tensor) -> Tensor:
    """Elementwise not, of any dtype: True where ``a`` is zero (False), as a bool tensor."""
    return Tensor._wrap(B.equal(raw(a), 0), a._device)


def isnan(a: Tensor) -> Tensor:
    """Where values are NaN."""
    return Tensor._wrap(B.isnan(raw(a)), a._device)


def isinf(a: Tensor) -> Tensor:
    """Where values are infinite."""
    return Tensor._wrap(B.isinf(raw(a)), a._device)


def isfinite(a: Tensor) -> Tensor:
    """Where values are neither infinite nor NaN (every element of an integer tensor)."""
    return Tensor._wrap(B.isfinite(raw(a)), a._device)
