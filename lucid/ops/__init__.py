"""Lucid's differentiable ops, one module per family, each forward beside its backward."""

from lucid.ops import elementwise, index, linalg, reduce, shape  # noqa: F401
from lucid.ops.elementwise import (abs, add, clip, cos, div, eq, erf, exp, floordiv, ge, gt,  # noqa: F401
                                   isinf, isnan, le, log, log1p, logical_not, lt, maximum,
                                   minimum, mul, ne, neg, pow, relu, sigmoid, sign, sin, sqrt,
                                   square, sub, tanh, where)
from lucid.ops.index import getitem  # noqa: F401
from lucid.ops.linalg import dot, matmul  # noqa: F401
from lucid.ops.reduce import (all, any, argmax, argmin, logsumexp, max, mean, min, prod, std,  # noqa: F401
                              sum, var)
from lucid.ops.shape import (astype, broadcast_to, cat, chunk, concatenate, expand,  # noqa: F401
                             expand_dims, flatten, pad, permute, repeat, reshape, split, squeeze,
                             stack, swapaxes, tile, to_device, transpose, unsqueeze, view)
from lucid.ops.counting import bincount  # noqa: F401
from lucid.ops.diagonal import diag  # noqa: F401
from lucid.ops.einsum import einsum  # noqa: F401
from lucid.ops.grid import meshgrid  # noqa: F401
from lucid.ops.reorder import flip, roll  # noqa: F401
from lucid.ops.scan import cumprod, cumsum  # noqa: F401
from lucid.ops.sort import argsort, sort, topk  # noqa: F401
from lucid.ops.ternary import clamp, clip, lerp  # noqa: F401,F811  (PyTorch: clip = clamp)

__all__ = [
    'abs', 'add', 'all', 'any', 'argmax', 'argmin', 'astype', 'broadcast_to', 'cat', 'chunk',
    'clip', 'concatenate', 'cos', 'div', 'dot', 'eq', 'erf', 'exp', 'expand', 'expand_dims',
    'flatten', 'floordiv', 'ge', 'getitem', 'gt', 'isinf', 'isnan', 'le', 'log', 'log1p',
    'logical_not', 'logsumexp', 'lt', 'matmul', 'max', 'maximum', 'mean', 'min', 'minimum',
    'mul', 'ne', 'neg', 'pad', 'permute', 'pow', 'prod', 'relu', 'repeat', 'reshape',
    'sigmoid', 'sign', 'sin', 'split', 'sqrt', 'square', 'squeeze', 'stack', 'std', 'sub',
    'sum', 'swapaxes', 'tanh', 'tile', 'to_device', 'transpose', 'unsqueeze', 'var', 'view',
    'where',
    'argsort', 'bincount', 'clamp', 'cumprod', 'cumsum', 'diag', 'einsum', 'flip', 'lerp',
    'meshgrid', 'roll', 'sort', 'topk',
]
