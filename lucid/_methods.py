"""Binds the ops to ``Tensor`` as operators and methods (kept out of tensor.py so the class
stays free of op code)."""

from lucid import ops
from lucid.ops import activation as _activation
from lucid.tensor import Tensor


def _swap(fn):
    return lambda self, other: fn(other, self)


OPERATORS = {
    "__add__": ops.add, "__radd__": _swap(ops.add), "__sub__": ops.sub, "__rsub__": _swap(ops.sub),
    "__mul__": ops.mul, "__rmul__": _swap(ops.mul), "__truediv__": ops.div,
    "__rtruediv__": _swap(ops.div), "__floordiv__": ops.floordiv,
    "__rfloordiv__": _swap(ops.floordiv), "__pow__": ops.pow, "__rpow__": _swap(ops.pow),
    "__matmul__": ops.matmul, "__rmatmul__": _swap(ops.matmul), "__neg__": ops.neg,
    "__abs__": ops.abs, "__eq__": ops.eq, "__ne__": ops.ne, "__lt__": ops.lt, "__le__": ops.le,
    "__gt__": ops.gt, "__ge__": ops.ge, "__getitem__": ops.getitem, "__invert__": ops.logical_not,
}

METHODS = [
    "abs", "exp", "log", "log1p", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "square", "erf",
    "sign", "clip", "maximum", "minimum", "sum", "mean", "max", "min", "var", "std", "prod",
    "argmax", "argmin", "logsumexp", "all", "any", "reshape", "view", "flatten", "squeeze",
    "unsqueeze", "permute", "transpose", "swapaxes", "broadcast_to", "expand", "split", "chunk",
    "pad", "repeat", "tile", "astype", "matmul", "dot", "isnan", "isinf",
    "flip", "roll", "sort", "argsort", "topk", "cumsum", "cumprod", "clamp", "lerp", "diag",
    "bincount",
]


def _softmax_method(fn, name):
    def method(self, dim, dtype=None):
        return fn(self if dtype is None else self.astype(dtype), dim)

    method.__name__ = name
    method.__doc__ = f"``{name}`` along ``dim`` (computed in ``dtype`` when given)."
    return method



def bind() -> None:
    """Attach operators and methods to Tensor."""
    for name, fn in OPERATORS.items():
        setattr(Tensor, name, fn)
    for name in METHODS:
        setattr(Tensor, name, getattr(ops, name))
    Tensor.T = property(lambda self: ops.permute(self), doc="The tensor with its axes reversed.")
    Tensor.mT = property(lambda self: ops.swapaxes(self, -1, -2),
                         doc="The last two axes swapped.")
    Tensor.clamp = Tensor.clip
    Tensor.softmax = _softmax_method(_activation.softmax, "softmax")
    Tensor.log_softmax = _softmax_method(_activation.log_softmax, "log_softmax")
    Tensor.__hash__ = lambda self: id(self)
