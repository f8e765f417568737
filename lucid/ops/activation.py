"""Activation ops with dedicated, numerically stable backward passes.

Each also says how its gradient is differentiated again (``create_graph``): a ``rule`` (the
backward on Tensors) where the derivative depends on the input, ``adjoint=DIAGONAL`` where it is
a piecewise-constant mask (see ``lucid.autograd.graph``).
"""

from __future__ import annotations

import math

from lucid import _backend as B
from lucid.autograd.graph import DIAGONAL
from lucid.ops import elementwise as E, shape as S
from lucid.ops._util import dim_aliases, normalize_axes, op, record, single_dim
from lucid.tensor import Tensor


@dim_aliases
@op
def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``, computed stably."""
    ax = single_dim(dim, x.ndim, "dim")
    y = B.exp(_log_softmax(x.data, ax))

    def backward(g):
        return (y * (g - B.sum(g * y, axis=ax, keepdims=True)),)

    return record(y, (x,), backward, "Softmax", rule=_softmax_rule(ax))


def _softmax_rule(ax):
    def rule(g, y, _x):
        return (E.mul(y, E.sub(g, E.mul(g, y).sum(dim=ax, keepdim=True))),)

    return rule


@dim_aliases
@op
def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """x - logsumexp(x) along ``dim``."""
    ax = single_dim(dim, x.ndim, "dim")
    y = _log_softmax(x.data, ax)

    def backward(g):
        return (g - B.exp(y) * B.sum(g, axis=ax, keepdims=True),)

    return record(y, (x,), backward, "LogSoftmax", rule=_log_softmax_rule(ax))


def _log_softmax_rule(ax):
    def rule(g, y, _x):
        return (E.sub(g, E.mul(E.exp(y), g.sum(dim=ax, keepdim=True))),)

    return rule


# Pointwise activations: one tape node each (instead of the handful a composite would record),
# which keeps memory down on large 3D feature maps.
_SQRT_2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_C = 0.044715


@op
def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x where x > 0, else negative_slope * x."""
    xd = x.data
    pos = xd > 0
    y = B.where(pos, xd, xd * negative_slope)
    return record(
        y, (x,), lambda g: (B.where(pos, g, g * negative_slope),), "LeakyRelu", adjoint=DIAGONAL
    )


@op
def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x where x > 0, else alpha * (exp(x) - 1)."""
    xd = x.data
    pos = xd > 0
    neg = alpha * (B.exp(B.minimum(xd, 0)) - 1)  # minimum: no overflow for large positive x
    y = B.where(pos, xd, neg)
    return record(
        y, (x,), lambda g: (B.where(pos, g, g * (neg + alpha)),), "Elu", rule=_elu_rule(alpha)
    )


def _elu_rule(alpha):
    def rule(g, y, x):  # on the negative branch the derivative alpha * exp(x) is y + alpha
        return (E.where(x > 0, g, E.mul(g, y + alpha)),)

    return rule


@op
def gelu(x: Tensor, approximate="none") -> Tensor:
    """x * Phi(x) with Phi the standard normal CDF; ``approximate="tanh"`` uses
    0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))."""
    xd = x.data
    if approximate == "none":
        cdf = 0.5 * (1 + B.erf(xd / _SQRT_2))
        y = xd * cdf

        def backward(g):
            return (g * (cdf + xd * _INV_SQRT_2PI * B.exp(-0.5 * xd * xd)),)
    elif approximate == "tanh":
        t = B.tanh(_SQRT_2_OVER_PI * (xd + _GELU_C * xd * xd * xd))
        y = 0.5 * xd * (1 + t)

        def backward(g):
            du = _SQRT_2_OVER_PI * (1 + 3 * _GELU_C * xd * xd)
            return (g * (0.5 * (1 + t) + 0.5 * xd * (1 - t * t) * du),)
    else:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    rule = _gelu_rule if approximate == "none" else _gelu_tanh_rule
    return record(y, (x,), backward, "Gelu", rule=rule)


def _gelu_rule(g, _y, x):
    cdf = (E.erf(x * (1 / _SQRT_2)) + 1) * 0.5
    return (E.mul(g, cdf + E.mul(x, E.exp(E.mul(x, x) * -0.5)) * _INV_SQRT_2PI),)


def _gelu_tanh_rule(g, _y, x):
    x2 = E.mul(x, x)
    t = E.tanh((E.mul(x2, x) * _GELU_C + x) * _SQRT_2_OVER_PI)
    du = (x2 * (3 * _GELU_C) + 1) * _SQRT_2_OVER_PI
    return (E.mul(g, (t + 1) * 0.5 + E.mul(E.mul(x, 1 - E.mul(t, t)), du) * 0.5),)


@op
def silu(x: Tensor) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    xd = x.data
    s = B.sigmoid(xd)
    return record(xd * s, (x,), lambda g: (g * s * (1 + xd * (1 - s)),), "Silu", rule=_silu_rule)


def _silu_rule(g, _y, x):
    s = E.sigmoid(x)
    return (E.mul(E.mul(g, s), E.mul(x, 1 - s) + 1),)


@op
def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta, computed stably; linear (x) where beta * x > threshold."""
    if beta <= 0:
        raise ValueError(f"softplus: beta must be positive, got {beta}")
    xd = x.data
    z = xd * beta
    linear = z > threshold
    smooth = (B.maximum(z, 0) + B.log1p(B.exp(-B.abs(z)))) / beta
    y = B.where(linear, xd, smooth)
    return record(
        y,
        (x,),
        lambda g: (B.where(linear, g, g * B.sigmoid(z)),),
        "Softplus",
        rule=_softplus_rule(beta, threshold),
    )


def _softplus_rule(beta, threshold):
    def rule(g, _y, x):
        z = x * beta
        return (E.where(z > threshold, g, E.mul(g, E.sigmoid(z))),)

    return rule


def _log_softmax(xd, ax):
    # subtract the max first (exact for the largest logits), not logsumexp: x - logsumexp(x)
    # cancels two large numbers and loses the low bits when logits are in the thousands
    if xd.size == 0:  # nothing to normalise (and MLX cannot max-reduce an empty axis)
        return xd
    shifted = xd - B.max(xd, axis=ax, keepdims=True)
    return shifted - B.log(B.sum(B.exp(shifted), axis=ax, keepdims=True))


# --- PyTorch's further activations. Gradients at kinks follow PyTorch: a clamp passes no gradient
# at its bounds (hardtanh, relu6), a shrink none at +-lambd, threshold none at the threshold.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _pointwise(x, y, dydx, name, derivative=None):
    """Record y = f(x) whose gradient is g * dydx (an array, or a bool mask for 0/1);
    ``derivative(x, y)`` is dydx on Tensors (recorded, for higher-order gradients), None when
    dydx is piecewise constant (a mask, its own adjoint)."""
    if dydx.dtype == B.DTYPES["bool"]:
        return record(y, (x,), lambda g: (B.where(dydx, g, 0),), name, adjoint=DIAGONAL)
    if derivative is None:
        return record(y, (x,), lambda g: (g * dydx,), name, adjoint=DIAGONAL)
    return record(y, (x,), lambda g: (g * dydx,), name, rule=_chain(derivative))


def _chain(derivative):
    """The rule g * derivative(x, y) of a pointwise op."""

    def rule(g, y, x):
        return (E.mul(g, derivative(x, y)),)

    return rule


@op
def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """x clamped to [min_val, max_val]; gradient 1 strictly inside, 0 at and beyond the bounds."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} must not exceed max_val {max_val}")
    xd = x.data
    inside = (xd > min_val) & (xd < max_val)
    return _pointwise(x, B.clip(xd, min_val, max_val), inside, "Hardtanh")


def relu6(x: Tensor) -> Tensor:
    """min(max(x, 0), 6) (hardtanh(x, 0, 6))."""
    return hardtanh(x, 0.0, 6.0)


def _elu_like(x, alpha, input_scale, output_scale, name):
    """output_scale * (x if x > 0 else alpha * (exp(x * input_scale) - 1)); PyTorch's ELU family
    (elu, selu, celu) takes the negative branch's slope at 0."""
    xd = x.data
    pos = xd > 0
    e = B.exp(B.minimum(xd, 0) * input_scale)
    y = output_scale * B.where(pos, xd, alpha * (e - 1))
    dydx = output_scale * B.where(pos, 1.0, alpha * input_scale * e)
    return _pointwise(
        x, y, dydx.astype(xd.dtype), name, _elu_like_derivative(alpha, input_scale, output_scale)
    )


def _elu_like_derivative(alpha, input_scale, output_scale):
    def derivative(x, y):  # on the negative branch: input_scale * (y + output_scale * alpha)
        return E.where(x > 0, output_scale, (y + output_scale * alpha) * input_scale)

    return derivative


@op
def selu(x: Tensor) -> Tensor:
    """scale * (x if x > 0 else alpha * (exp(x) - 1)) with PyTorch's alpha and scale."""
    return _elu_like(x, _SELU_ALPHA, 1.0, _SELU_SCALE, "Selu")


@op
def celu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x if x > 0 else alpha * (exp(x / alpha) - 1)."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0")
    return _elu_like(x, alpha, 1.0 / alpha, 1.0, "Celu")


def _softplus_array(xd):
    return B.maximum(xd, 0) + B.log1p(B.exp(-B.abs(xd)))


@op
def mish(x: Tensor) -> Tensor:
    """x * tanh(softplus(x))."""
    xd = x.data
    t = B.tanh(_softplus_array(xd))
    return _pointwise(x, xd * t, t + xd * B.sigmoid(xd) * (1 - t * t), "Mish", _mish_derivative)


def _mish_derivative(x, _y):
    t = E.tanh(softplus(x))
    return t + E.mul(E.mul(x, E.sigmoid(x)), 1 - E.mul(t, t))


@op
def hardswish(x: Tensor) -> Tensor:
    """x * relu6(x + 3) / 6; gradient 0 up to -3, x / 3 + 1/2 strictly between, 1 from 3 on."""
    xd = x.data
    y = xd * B.clip(xd + 3, 0, 6) / 6
    dydx = B.where(xd <= -3, 0.0, B.where(xd < 3, xd / 3 + 0.5, 1.0)).astype(xd.dtype)
    return _pointwise(x, y, dydx, "Hardswish", _hardswish_derivative)


def _hardswish_derivative(x, _y):
    return E.where(x <= -3, 0.0, E.where(x < 3, x * (1 / 3) + 0.5, 1.0))


@op
def hardsigmoid(x: Tensor) -> Tensor:
    """relu6(x + 3) / 6; gradient 1/6 strictly inside (-3, 3)."""
    xd = x.data
    inside = ((xd > -3) & (xd < 3)).astype(xd.dtype)
    return _pointwise(x, B.clip(xd + 3, 0, 6) / 6, inside / 6, "Hardsigmoid")


@op
def logsigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)) = min(x, 0) - log(1 + exp(-|x|)), stable for large |x|."""
    xd = x.data
    y = B.minimum(xd, 0) - B.log1p(B.exp(-B.abs(xd)))
    return _pointwise(x, y, B.sigmoid(-xd), "LogSigmoid", _logsigmoid_derivative)


def _logsigmoid_derivative(x, _y):
    return E.sigmoid(-x)


@op
def softsign(x: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    xd = x.data
    d = 1 + B.abs(xd)
    return _pointwise(x, xd / d, 1 / (d * d), "Softsign", _softsign_derivative)


def _softsign_derivative(x, _y):
    d = E.abs(x) + 1
    return 1 / E.mul(d, d)


@op
def tanhshrink(x: Tensor) -> Tensor:
    """x - tanh(x)."""
    xd = x.data
    t = B.tanh(xd)
    return _pointwise(x, xd - t, t * t, "Tanhshrink", _tanhshrink_derivative)


def _tanhshrink_derivative(x, _y):
    t = E.tanh(x)
    return E.mul(t, t)


@op
def hardshrink(x: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0."""
    xd = x.data
    keep = (xd > lambd) | (xd < -lambd)
    return _pointwise(x, B.where(keep, xd, 0), keep, "Hardshrink")


@op
def softshrink(x: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd above lambd, x + lambd below -lambd, else 0."""
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be non-negative, got {lambd}")
    xd = x.data
    keep = (xd > lambd) | (xd < -lambd)
    y = B.where(xd > lambd, xd - lambd, B.where(xd < -lambd, xd + lambd, 0))
    return _pointwise(x, y.astype(xd.dtype), keep, "Softshrink")


@op
def threshold(x, threshold, value):
    """x where x > threshold, else ``value`` (no gradient there)."""
    xd = x.data
    keep = xd > threshold
    y = B.where(keep, xd, value).astype(xd.dtype)
    return _pointwise(x, y, keep, "Threshold")


@op
def glu(x: Tensor, axis: int = -1) -> Tensor:
    """a * sigmoid(b) where a, b are the two halves of ``x`` along ``axis``."""
    if x.ndim == 0:
        raise ValueError("glu: a 0-d tensor has no dimension to halve")
    (ax,) = normalize_axes(axis, x.ndim)
    n = x.shape[ax]
    if n % 2:
        raise ValueError(f"glu: dimension {ax} must have an even size to halve, got {n}")
    index = [slice(None)] * x.ndim
    index[ax] = slice(0, n // 2)
    a = x.data[tuple(index)]
    index[ax] = slice(n // 2, n)
    b = x.data[tuple(index)]
    s = B.sigmoid(b)

    def backward(g):
        return (B.concatenate([g * s, g * a * s * (1 - s)], axis=ax),)

    return record(a * s, (x,), backward, "Glu", rule=_glu_rule(ax))


def _glu_rule(ax):
    def rule(g, _y, x):
        a, b = S.chunk(x, 2, ax)
        s = E.sigmoid(b)
        return (S.cat([E.mul(g, s), E.mul(E.mul(g, a), E.mul(s, 1 - s))], ax),)

    return rule


@op
def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, else weight * x; ``weight`` has one value, or one per channel (dim 1; an
    input of fewer than 2 dims has one channel)."""
    xd, w = x.data, weight.data
    if weight.ndim > 1:
        raise ValueError(f"prelu: weight must be 0-D or 1-D, got shape {weight.shape}")
    channels = x.shape[1] if x.ndim >= 2 else 1
    if weight.numel() not in (1, channels):
        raise ValueError(
            f"prelu: weight has {weight.numel()} values; expected 1 or the {channels} "
            f"channels of input shape {x.shape}"
        )
    shape = [1] * x.ndim
    if weight.numel() > 1:
        shape[1] = weight.numel()
    wb = B.reshape(w, tuple(shape)) if x.ndim else B.reshape(w, ())
    pos = xd > 0

    def backward(g):
        gw = B.where(pos, 0, xd * g)
        if weight.numel() == 1:
            gw = B.reshape(B.sum(gw), w.shape)
        else:
            axes = [i for i in range(x.ndim) if shape[i] == 1]
            gw = B.reshape(B.sum(gw, axis=axes), w.shape)
        return B.where(pos, g, wb * g), gw

    return record(
        B.where(pos, xd, wb * xd), (x, weight), backward, "Prelu", rule=_prelu_rule(shape)
    )


def _prelu_rule(shape):
    def rule(g, _y, x, weight):
        pos = x > 0
        wb = S.reshape(weight, tuple(shape))
        gw = E.where(pos, 0.0, E.mul(x, g))
        axes = tuple(i for i in range(x.ndim) if weight.numel() == 1 or shape[i] == 1)
        gw = S.reshape(gw.sum(dim=axes) if axes else gw, tuple(weight.shape))
        return E.where(pos, g, E.mul(wb, g)), gw

    return rule
