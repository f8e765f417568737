"""Activation functions (PyTorch's ``F.relu``, ``F.gelu``, ``F.softmax(x, dim)``, ...)."""

from __future__ import annotations

from lucid.ops import activation as _act
from lucid.ops import elementwise as _ew
from lucid.tensor import Tensor

__all__ = ["relu", "leaky_relu", "elu", "gelu", "silu", "sigmoid", "tanh", "softmax",
           "log_softmax", "softplus"]


def _check(x, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} expects a Tensor, got {type(x).__name__}")


def relu(x, inplace: bool = False):
    """max(x, 0). ``inplace`` is accepted for compatibility and ignored (arrays are immutable)."""
    _check(x, "relu")
    return _ew.relu(x)


def leaky_relu(x, negative_slope: float = 0.01, inplace: bool = False):
    """x for x > 0, ``negative_slope * x`` otherwise."""
    _check(x, "leaky_relu")
    return _act.leaky_relu(x, float(negative_slope))


def elu(x, alpha: float = 1.0, inplace: bool = False):
    """x for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""
    _check(x, "elu")
    return _act.elu(x, float(alpha))


def gelu(x, approximate: str = "none"):
    """Gaussian error linear unit x * Phi(x); ``approximate="tanh"`` for the tanh formula."""
    _check(x, "gelu")
    return _act.gelu(x, approximate)


def silu(x, inplace: bool = False):
    """x * sigmoid(x)."""
    _check(x, "silu")
    return _act.silu(x)


def sigmoid(x):
    """1 / (1 + exp(-x))."""
    _check(x, "sigmoid")
    return _ew.sigmoid(x)


def tanh(x):
    """Hyperbolic tangent."""
    _check(x, "tanh")
    return _ew.tanh(x)


def softmax(x, dim: int = -1, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim`` (computed in ``dtype`` when given)."""
    _check(x, "softmax")
    if dtype is not None:
        x = x.astype(dtype)
    return _act.softmax(x, dim)


def log_softmax(x, dim: int = -1, dtype=None):
    """log(softmax(x)) along ``dim``, computed stably."""
    _check(x, "log_softmax")
    if dtype is not None:
        x = x.astype(dtype)
    return _act.log_softmax(x, dim)


def softplus(x, beta: float = 1.0, threshold: float = 20.0):
    """log(1 + exp(beta * x)) / beta; x itself where beta * x > threshold."""
    _check(x, "softplus")
    return _act.softplus(x, float(beta), float(threshold))
