"""Activation functions (PyTorch's ``F.relu``, ``F.gelu``, ``F.softmax(x, dim)``, ...)."""

from __future__ import annotations

import warnings

from lucid._typing import Dims, DTypeLike
from lucid.ops import activation as _act, elementwise as _ew
from lucid.tensor import Tensor

__all__ = [
    "relu",
    "leaky_relu",
    "elu",
    "gelu",
    "silu",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "softplus",
    "hardtanh",
    "relu6",
    "selu",
    "celu",
    "mish",
    "hardswish",
    "hardsigmoid",
    "logsigmoid",
    "softsign",
    "glu",
    "softmin",
    "hardshrink",
    "softshrink",
    "tanhshrink",
    "threshold",
    "prelu",
]


def _check(x, name):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} expects a Tensor, got {type(x).__name__}")


def relu(x: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0). ``inplace`` is accepted for compatibility and ignored (arrays are immutable)."""
    _check(x, "relu")
    return _ew.relu(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, ``negative_slope * x`` otherwise."""
    _check(x, "leaky_relu")
    return _act.leaky_relu(x, float(negative_slope))


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, ``alpha * (exp(x) - 1)`` otherwise."""
    _check(x, "elu")
    return _act.elu(x, float(alpha))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit x * Phi(x); ``approximate="tanh"`` for the tanh formula."""
    _check(x, "gelu")
    return _act.gelu(x, approximate)


def silu(x: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x)."""
    _check(x, "silu")
    return _act.silu(x)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x))."""
    _check(x, "sigmoid")
    return _ew.sigmoid(x)


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent."""
    _check(x, "tanh")
    return _ew.tanh(x)


def _softmax_dim(x, dim, name):
    """``dim``, or PyTorch's legacy implicit choice when it is None (0 for 0-, 1- and 3-D input,
    else 1), with PyTorch's warning."""
    if dim is not None:
        return dim
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to "
        "include dim=X as an argument.",
        UserWarning,
        stacklevel=3,
    )
    return 0 if x.ndim in (0, 1, 3) else 1


def softmax(x: Tensor, dim: Dims = None, _stacklevel: int = 3, dtype: DTypeLike = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (computed in ``dtype`` when given)."""
    _check(x, "softmax")
    dim = _softmax_dim(x, dim, "softmax")
    if dtype is not None:
        x = x.astype(dtype)
    return _act.softmax(x, dim)


def log_softmax(
    x: Tensor, dim: Dims = None, _stacklevel: int = 3, dtype: DTypeLike = None
) -> Tensor:
    """log(softmax(x)) along ``dim``, computed stably."""
    _check(x, "log_softmax")
    dim = _softmax_dim(x, dim, "log_softmax")
    if dtype is not None:
        x = x.astype(dtype)
    return _act.log_softmax(x, dim)


def softmin(x: Tensor, dim: Dims = None, _stacklevel: int = 3, dtype: DTypeLike = None) -> Tensor:
    """softmax(-x) along ``dim``."""
    _check(x, "softmin")
    dim = _softmax_dim(x, dim, "softmin")
    if dtype is not None:
        x = x.astype(dtype)
    return _act.softmax(-x, dim)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta * x)) / beta; x itself where beta * x > threshold."""
    _check(x, "softplus")
    return _act.softplus(x, float(beta), float(threshold))


def hardtanh(
    x: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> Tensor:
    """x clamped to [min_val, max_val] (gradient 0 at the bounds, as PyTorch)."""
    _check(x, "hardtanh")
    return _act.hardtanh(x, float(min_val), float(max_val))


def relu6(x: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6)."""
    _check(x, "relu6")
    return _act.relu6(x)


def selu(x: Tensor, inplace: bool = False) -> Tensor:
    """Scaled ELU with the self-normalising constants (alpha ~ 1.6733, scale ~ 1.0507)."""
    _check(x, "selu")
    return _act.selu(x)


def celu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""
    _check(x, "celu")
    return _act.celu(x, float(alpha))


def mish(x: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x))."""
    _check(x, "mish")
    return _act.mish(x)


def hardswish(x: Tensor, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6."""
    _check(x, "hardswish")
    return _act.hardswish(x)


def hardsigmoid(x: Tensor, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6."""
    _check(x, "hardsigmoid")
    return _act.hardsigmoid(x)


def logsigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)), computed stably."""
    _check(x, "logsigmoid")
    return _act.logsigmoid(x)


def softsign(x: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    _check(x, "softsign")
    return _act.softsign(x)


def glu(x: Tensor, dim: int = -1) -> Tensor:
    """a * sigmoid(b), a and b the halves of ``x`` along ``dim`` (its size must be even)."""
    _check(x, "glu")
    return _act.glu(x, dim)


def hardshrink(x: Tensor, lambd: float = 0.5) -> Tensor:
    """x where |x| > lambd, else 0."""
    _check(x, "hardshrink")
    return _act.hardshrink(x, float(lambd))


def softshrink(x: Tensor, lambd: float = 0.5) -> Tensor:
    """x - lambd above lambd, x + lambd below -lambd, else 0."""
    _check(x, "softshrink")
    return _act.softshrink(x, float(lambd))


def tanhshrink(x: Tensor) -> Tensor:
    """x - tanh(x)."""
    _check(x, "tanhshrink")
    return _act.tanhshrink(x)


def threshold(x: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else ``value``."""
    _check(x, "threshold")
    return _act.threshold(x, threshold, value)


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """x where x > 0, else weight * x; ``weight`` holds 1 value or one per channel (dim 1)."""
    _check(x, "prelu")
    _check(weight, "prelu (weight)")
    return _act.prelu(x, weight)
