"""The op table: every public op listed once with the surfaces it appears on.

``OPS`` maps an op's name to ``(function, surfaces)``, where ``surfaces`` holds ``"T"`` (a
``Tensor`` method), ``"L"`` (a ``lucid.*`` function) and/or ``"F"`` (a ``lucid.nn.functional``
function). Names follow PyTorch and mean what they mean there; numpy names kept for numpy
behaviour (``permute_dims``, ``repeat_interleave``, ``astype``, ``expand_dims``, ``clip``) are
listed too. Tensor methods are written out in lucid/tensor.py (so IDEs see them) and
tests/test_surface.py checks all three surfaces against this table: same function, same
signature (``dim``/``keepdim``, with ``axis``/``keepdims`` aliases), nothing missing or extra.

A new op registers by adding one line here and exporting it from ``lucid.ops.__all__`` (for "L");
for "T", a thin wrapper goes in tensor.py's "op methods" block: tests/test_surface.py prints the
exact source to paste when it is missing (the function's signature minus its first parameter).
"""

from lucid import ops, tensor as _tensor_module

TLF, TL, LF, T, L, F = "TLF", "TL", "LF", "T", "L", "F"

OPS = {
    # elementwise
    "abs": (ops.abs, TL),
    "neg": (ops.neg, TL),
    "exp": (ops.exp, TL),
    "log": (ops.log, TL),
    "log1p": (ops.log1p, TL),
    "sqrt": (ops.sqrt, TL),
    "sin": (ops.sin, TL),
    "cos": (ops.cos, TL),
    "tanh": (ops.tanh, TLF),
    "sigmoid": (ops.sigmoid, TLF),
    "relu": (ops.relu, TLF),
    "square": (ops.square, TL),
    "erf": (ops.erf, TL),
    "sign": (ops.sign, TL),
    "clamp": (ops.clamp, TL),
    "clip": (ops.clip, TL),
    "lerp": (ops.lerp, TL),
    "maximum": (ops.maximum, TL),
    "minimum": (ops.minimum, TL),
    "add": (ops.add, TL),
    "sub": (ops.sub, TL),
    "mul": (ops.mul, TL),
    "div": (ops.div, TL),
    "pow": (ops.pow, TL),
    "floor_divide": (ops.floordiv, TL),
    "where": (ops.where, L),
    "eq": (ops.eq, TL),
    "ne": (ops.ne, TL),
    "lt": (ops.lt, TL),
    "le": (ops.le, TL),
    "gt": (ops.gt, TL),
    "ge": (ops.ge, TL),
    "isnan": (ops.isnan, TL),
    "isinf": (ops.isinf, TL),
    "isfinite": (ops.isfinite, TL),
    "round": (ops.round, TL),
    "floor": (ops.floor, TL),
    "ceil": (ops.ceil, TL),
    "trunc": (ops.trunc, TL),
    "logical_not": (ops.logical_not, TL),
    "logical_and": (ops.logical_and, TL),
    "logical_or": (ops.logical_or, TL),
    "logical_xor": (ops.logical_xor, TL),
    "bitwise_and": (ops.bitwise_and, TL),
    "bitwise_or": (ops.bitwise_or, TL),
    "bitwise_xor": (ops.bitwise_xor, TL),
    "bitwise_not": (ops.bitwise_not, TL),
    # reductions
    "sum": (ops.sum, TL),
    "mean": (ops.mean, TL),
    "max": (ops.max, TL),
    "min": (ops.min, TL),
    "amax": (ops.amax, TL),
    "amin": (ops.amin, TL),
    "var": (ops.var, TL),
    "std": (ops.std, TL),
    "prod": (ops.prod, TL),
    "argmax": (ops.argmax, TL),
    "argmin": (ops.argmin, TL),
    "logsumexp": (ops.logsumexp, TL),
    "all": (ops.all, TL),
    "any": (ops.any, TL),
    # shapes
    "reshape": (ops.reshape, TL),
    "view": (ops.view, T),
    "flatten": (ops.flatten, TL),
    "squeeze": (ops.squeeze, TL),
    "unsqueeze": (ops.unsqueeze, TL),
    "expand_dims": (ops.expand_dims, L),
    "permute": (ops.permute, TL),
    "permute_dims": (ops.permute_dims, L),
    "transpose": (ops.transpose, TL),
    "swapaxes": (ops.swapaxes, TL),
    "swapdims": (ops.swapdims, TL),
    "t": (ops.t, TL),
    "broadcast_to": (ops.broadcast_to, TL),
    "expand": (ops.expand, T),
    "cat": (ops.cat, L),
    "concatenate": (ops.concatenate, L),
    "concat": (ops.concat, L),
    "stack": (ops.stack, L),
    "split": (ops.split, TL),
    "chunk": (ops.chunk, TL),
    "repeat": (ops.repeat, T),
    "repeat_interleave": (ops.repeat_interleave, TL),
    "tile": (ops.tile, TL),
    "astype": (ops.astype, TL),
    "to_device": (ops.to_device, L),
    "pad": (ops.pad, LF),
    "flip": (ops.flip, TL),
    "roll": (ops.roll, TL),
    "diag": (ops.diag, TL),
    "meshgrid": (ops.meshgrid, L),
    # indexing
    "gather": (ops.gather, TL),
    "index_select": (ops.index_select, TL),
    "masked_fill": (ops.masked_fill, TL),
    "masked_fill_": (ops.masked_fill_, T),
    "scatter": (ops.scatter, TL),
    "scatter_": (ops.scatter_, T),
    "scatter_add": (ops.scatter_add, TL),
    "scatter_add_": (ops.scatter_add_, T),
    "nonzero": (ops.nonzero, TL),
    # sorting, scans, counting
    "sort": (ops.sort, TL),
    "argsort": (ops.argsort, TL),
    "topk": (ops.topk, TL),
    "cumsum": (ops.cumsum, TL),
    "cumprod": (ops.cumprod, TL),
    "bincount": (ops.bincount, TL),
    # comparisons of whole tensors
    "isclose": (ops.isclose, TL),
    "allclose": (ops.allclose, TL),
    "equal": (ops.equal, TL),
    # linear algebra, activations
    "matmul": (ops.matmul, TL),
    "dot": (ops.dot, TL),
    "einsum": (ops.einsum, L),
    "norm": (ops.norm, TL),
    "softmax": (ops.softmax, TLF),
    "log_softmax": (ops.log_softmax, TLF),
}


def is_tensor(obj) -> bool:
    """True when ``obj`` is a ``lucid.Tensor``."""
    return isinstance(obj, _tensor_module.Tensor)


def numel(input) -> int:
    """Number of elements of a tensor."""
    return input.numel()


def bind() -> None:
    """Give the Tensor methods (defined in lucid/tensor.py) their ops."""
    _tensor_module._ops = ops
