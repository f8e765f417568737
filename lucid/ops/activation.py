"""Activation ops with dedicated, numerically stable backward passes."""

from __future__ import annotations

import math

from lucid import _backend as B
from lucid.ops._util import dim_aliases, op, record, single_dim


@dim_aliases
@op
def softmax(x, dim=-1):
    """exp(x) / sum(exp(x)) along ``dim``, computed stably."""
    ax = single_dim(dim, x.ndim, "dim")
    y = B.exp(_log_softmax(x.data, ax))

    def backward(g):
        return (y * (g - B.sum(g * y, axis=ax, keepdims=True)),)

    return record(y, (x,), backward, "Softmax")


@dim_aliases
@op
def log_softmax(x, dim=-1):
    """x - logsumexp(x) along ``dim``."""
    ax = single_dim(dim, x.ndim, "dim")
    y = _log_softmax(x.data, ax)

    def backward(g):
        return (g - B.exp(y) * B.sum(g, axis=ax, keepdims=True),)

    return record(y, (x,), backward, "LogSoftmax")


# Pointwise activations: one tape node each (instead of the handful a composite would record),
# which keeps memory down on large 3D feature maps.
_SQRT_2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_C = 0.044715


@op
def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, else negative_slope * x."""
    xd = x.data
    pos = xd > 0
    y = B.where(pos, xd, xd * negative_slope)
    return record(y, (x,), lambda g: (B.where(pos, g, g * negative_slope),), "LeakyRelu")


@op
def elu(x, alpha=1.0):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    xd = x.data
    pos = xd > 0
    neg = alpha * (B.exp(B.minimum(xd, 0)) - 1)  # minimum: no overflow for large positive x
    y = B.where(pos, xd, neg)
    return record(y, (x,), lambda g: (B.where(pos, g, g * (neg + alpha)),), "Elu")


@op
def gelu(x, approximate="none"):
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
    return record(y, (x,), backward, "Gelu")


@op
def silu(x):
    """x * sigmoid(x) (also called swish)."""
    xd = x.data
    s = B.sigmoid(xd)
    return record(xd * s, (x,), lambda g: (g * s * (1 + xd * (1 - s)),), "Silu")


@op
def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * x)) / beta, computed stably; linear (x) where beta * x > threshold."""
    if beta <= 0:
        raise ValueError(f"softplus: beta must be positive, got {beta}")
    xd = x.data
    z = xd * beta
    linear = z > threshold
    smooth = (B.maximum(z, 0) + B.log1p(B.exp(-B.abs(z)))) / beta
    y = B.where(linear, xd, smooth)
    return record(y, (x,), lambda g: (B.where(linear, g, g * B.sigmoid(z)),), "Softplus")


def _log_softmax(xd, ax):
    # subtract the max first (exact for the largest logits), not logsumexp: x - logsumexp(x)
    # cancels two large numbers and loses the low bits when logits are in the thousands
    if xd.size == 0:  # nothing to normalise (and MLX cannot max-reduce an empty axis)
        return xd
    shifted = xd - B.max(xd, axis=ax, keepdims=True)
    return shifted - B.log(B.sum(B.exp(shifted), axis=ax, keepdims=True))
