"""The op table: every public op listed once, with its surfaces and its autocast policy.

``OPS`` maps an op's name to ``Op(fn, surfaces, autocast)``:

- ``fn``: the op, a function in its family module (``lucid/ops/<family>.py``);
- ``surfaces``: ``"T"`` (a ``Tensor`` method), ``"L"`` (a ``lucid.*`` function, exported by
  ``lucid.ops.__all__``) and/or ``"F"`` (a ``lucid.nn.functional`` function: ``fn`` itself,
  or nn.functional's own function of that name taking the same leading arguments);
- ``autocast``: ``HALF`` (run in the autocast dtype), ``FP32`` (run in float32) or None (run
  in the inputs' dtype) inside a ``lucid.amp.autocast`` region. It is set on ``fn`` as its
  ``autocast`` attribute, which the autocast hook reads.

Names follow PyTorch and mean what they mean there; numpy names kept for numpy behaviour
(``permute_dims``, ``repeat_interleave``, ``astype``, ``expand_dims``, ``clip``) are listed too.

What the table implies is generated, never hand-written: ``python -m lucid._gen_methods``
rewrites the Tensor methods (lucid/tensor.py), the imports and ``__all__`` of lucid/ops and the
re-exports of lucid.nn.functional, each between marker comments. tests/test_surface.py fails
with that command when a generated block is stale. CONTRIBUTING.md walks through adding an op.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any, NamedTuple

from lucid.nn.functional import loss as f_loss, normalization as f_norm
from lucid.ops import (
    activation,
    compare,
    conv,
    counting,
    diagonal,
    elementwise,
    grid,
    index,
    linalg,
    logical,
    loss,
    padding,
    reduce,
    reorder,
    scan,
    shape,
    ternary,
)
from lucid.tensor import Tensor

# lucid.ops.einsum and lucid.ops.sort name the functions: the modules by their full names
einsum_ops, sorting = import_module("lucid.ops.einsum"), import_module("lucid.ops.sort")

TLF, TL, LF, T, L, F = "TLF", "TL", "LF", "T", "L", "F"
NONE = ""  # no surface of its own: listed for its autocast policy (nn.functional calls it)
HALF, FP32 = "half", "float32"  # autocast policies (see lucid/amp/autocast.py)


class Op(NamedTuple):
    """One row of the op table."""

    fn: Callable[..., Any]
    surfaces: str
    autocast: str | None = None


_TABLE: dict[str, tuple[Any, ...]] = {
    # elementwise
    "abs": (elementwise.abs, TL),
    "neg": (elementwise.neg, TL),
    "exp": (elementwise.exp, TL),
    "log": (elementwise.log, TL),
    "log1p": (elementwise.log1p, TL),
    "sqrt": (elementwise.sqrt, TL),
    "sin": (elementwise.sin, TL),
    "cos": (elementwise.cos, TL),
    "tanh": (elementwise.tanh, TLF),
    "sigmoid": (elementwise.sigmoid, TLF),
    "relu": (elementwise.relu, TLF),
    "square": (elementwise.square, TL),
    "erf": (elementwise.erf, TL),
    "sign": (elementwise.sign, TL),
    "clamp": (ternary.clamp, TL),
    "clip": (ternary.clip, TL),
    "lerp": (ternary.lerp, TL),
    "maximum": (elementwise.maximum, TL),
    "minimum": (elementwise.minimum, TL),
    "add": (elementwise.add, TL),
    "sub": (elementwise.sub, TL),
    "mul": (elementwise.mul, TL),
    "div": (elementwise.div, TL),
    "pow": (elementwise.pow, TL),
    "floor_divide": (elementwise.floordiv, TL),
    "where": (elementwise.where, L),
    "eq": (elementwise.eq, TL),
    "ne": (elementwise.ne, TL),
    "lt": (elementwise.lt, TL),
    "le": (elementwise.le, TL),
    "gt": (elementwise.gt, TL),
    "ge": (elementwise.ge, TL),
    "isnan": (elementwise.isnan, TL),
    "isinf": (elementwise.isinf, TL),
    "isfinite": (elementwise.isfinite, TL),
    "round": (elementwise.round, TL),
    "floor": (elementwise.floor, TL),
    "ceil": (elementwise.ceil, TL),
    "trunc": (elementwise.trunc, TL),
    "logical_not": (elementwise.logical_not, TL),
    "logical_and": (logical.logical_and, TL),
    "logical_or": (logical.logical_or, TL),
    "logical_xor": (logical.logical_xor, TL),
    "bitwise_and": (logical.bitwise_and, TL),
    "bitwise_or": (logical.bitwise_or, TL),
    "bitwise_xor": (logical.bitwise_xor, TL),
    "bitwise_not": (logical.bitwise_not, TL),
    # reductions
    "sum": (reduce.sum, TL, FP32),
    "mean": (reduce.mean, TL, FP32),
    "max": (reduce.max, TL),
    "min": (reduce.min, TL),
    "amax": (reduce.amax, TL),
    "amin": (reduce.amin, TL),
    "var": (reduce.var, TL, FP32),
    "std": (reduce.std, TL),
    "prod": (reduce.prod, TL, FP32),
    "argmax": (reduce.argmax, TL),
    "argmin": (reduce.argmin, TL),
    "logsumexp": (reduce.logsumexp, TL, FP32),
    "all": (reduce.all, TL),
    "any": (reduce.any, TL),
    # shapes
    "reshape": (shape.reshape, TL),
    "view": (shape.view, T),
    "flatten": (shape.flatten, TL),
    "squeeze": (shape.squeeze, TL),
    "unsqueeze": (shape.unsqueeze, TL),
    "expand_dims": (shape.expand_dims, L),
    "permute": (shape.permute, TL),
    "permute_dims": (shape.permute_dims, L),
    "transpose": (shape.transpose, TL),
    "swapaxes": (shape.swapaxes, TL),
    "swapdims": (shape.swapdims, TL),
    "t": (shape.t, TL),
    "broadcast_to": (shape.broadcast_to, TL),
    "expand": (shape.expand, T),
    "cat": (shape.cat, L),
    "concatenate": (shape.concatenate, L),
    "concat": (shape.concat, L),
    "stack": (shape.stack, L),
    "split": (shape.split, TL),
    "chunk": (shape.chunk, TL),
    "repeat": (shape.repeat, T),
    "repeat_interleave": (shape.repeat_interleave, TL),
    "tile": (shape.tile, TL),
    "astype": (shape.astype, TL),
    "to_device": (shape.to_device, L),
    "pad": (padding.pad, LF),
    "flip": (reorder.flip, TL),
    "roll": (reorder.roll, TL),
    "diag": (diagonal.diag, TL),
    "meshgrid": (grid.meshgrid, L),
    # indexing
    "gather": (index.gather, TL),
    "index_select": (index.index_select, TL),
    "masked_fill": (index.masked_fill, TL),
    "masked_fill_": (index.masked_fill_, T),
    "scatter": (index.scatter, TL),
    "scatter_": (index.scatter_, T),
    "scatter_add": (index.scatter_add, TL),
    "scatter_add_": (index.scatter_add_, T),
    "nonzero": (index.nonzero, TL),
    "one_hot": (counting.one_hot, F),
    # sorting, scans, counting
    "sort": (sorting.sort, TL),
    "argsort": (sorting.argsort, TL),
    "topk": (sorting.topk, TL),
    "cumsum": (scan.cumsum, TL),
    "cumprod": (scan.cumprod, TL),
    "bincount": (counting.bincount, TL),
    # comparisons of whole tensors
    "isclose": (compare.isclose, TL),
    "allclose": (compare.allclose, TL),
    "equal": (compare.equal, TL),
    # linear algebra, activations
    "matmul": (linalg.matmul, TL, HALF),
    "dot": (linalg.dot, TL),
    "einsum": (einsum_ops.einsum, L),
    "norm": (linalg.norm, TL, FP32),
    "softmax": (activation.softmax, TLF, FP32),
    "log_softmax": (activation.log_softmax, TLF, FP32),
    # ops nn.functional builds its layers on (keyed family.name: no surface of their own)
    "conv.conv": (conv.conv, NONE, HALF),
    "conv.conv_transpose": (conv.conv_transpose, NONE, HALF),
    "loss.cross_entropy": (loss.cross_entropy, NONE, FP32),
    "loss.nll_loss": (loss.nll_loss, NONE, FP32),
    "loss.binary_cross_entropy": (loss.binary_cross_entropy, NONE, FP32),
    "loss.binary_cross_entropy_with_logits": (loss.binary_cross_entropy_with_logits, NONE, FP32),
    # nn.functional's own ops (decorated with ``op`` there) that have an autocast policy
    "layer_norm": (f_norm.layer_norm, F, FP32),
    "group_norm": (f_norm.group_norm, F, FP32),
    "cross_entropy": (f_loss.cross_entropy, F, FP32),
    "nll_loss": (f_loss.nll_loss, F, FP32),
    "binary_cross_entropy": (f_loss.binary_cross_entropy, F, FP32),
    "binary_cross_entropy_with_logits": (f_loss.binary_cross_entropy_with_logits, F, FP32),
    "mse_loss": (f_loss.mse_loss, F, FP32),
    "l1_loss": (f_loss.l1_loss, F, FP32),
    "smooth_l1_loss": (f_loss.smooth_l1_loss, F, FP32),
    "huber_loss": (f_loss.huber_loss, F, FP32),
    "kl_div": (f_loss.kl_div, F, FP32),
}

OPS: dict[str, Op] = {name: Op(*row) for name, row in _TABLE.items()}


def _set_autocast(fn: Any, policy: str | None) -> None:
    # on every layer of the op's decorators: the op decorator's autocast hook is handed the
    # function it wraps, which may lie under further decorators (``dim_aliases``...)
    while fn is not None:
        fn.autocast = policy
        fn = getattr(fn, "__wrapped__", None)


for _op in OPS.values():
    _set_autocast(_op.fn, _op.autocast)


def is_tensor(obj) -> bool:
    """True when ``obj`` is a ``lucid.Tensor``."""
    return isinstance(obj, Tensor)


def numel(input) -> int:
    """Number of elements of a tensor."""
    return input.numel()
