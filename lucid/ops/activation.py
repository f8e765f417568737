"""Activation ops with dedicated, numerically stable backward passes."""

from __future__ import annotations

from lucid import _backend as B
from lucid.ops._util import normalize_axes, op, record


@op
def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``, computed stably."""
    (ax,) = normalize_axes(axis, x.ndim)
    xd = x.data
    y = B.exp(xd - B.logsumexp(xd, axis=ax, keepdims=True))

    def backward(g):
        return (y * (g - B.sum(g * y, axis=ax, keepdims=True)),)

    return record(y, (x,), backward, "Softmax")


@op
def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis``."""
    (ax,) = normalize_axes(axis, x.ndim)
    xd = x.data
    y = xd - B.logsumexp(xd, axis=ax, keepdims=True)

    def backward(g):
        return (g - B.exp(y) * B.sum(g, axis=ax, keepdims=True),)

    return record(y, (x,), backward, "LogSoftmax")
