"""Lucid's differentiable ops, one module per family, each forward beside its backward.

``__all__`` is what ``lucid.*`` exports; lucid/_methods.py lists every op with its surfaces.
"""

from lucid.ops import activation, elementwise, index, linalg, logical, reduce, shape  # noqa: F401
from lucid.ops.activation import log_softmax, softmax  # noqa: F401
from lucid.ops.elementwise import (abs, add, cos, div, eq, erf, exp, floordiv, ge, gt,  # noqa: F401
                                   isinf, isnan, le, log, log1p, logical_not, lt, maximum,
                                   minimum, mul, ne, neg, pow, relu, sigmoid, sign, sin, sqrt,
                                   square, sub, tanh, where)
from lucid.ops.index import (gather, getitem, index_select, masked_fill,  # noqa: F401
                             masked_fill_, scatter, scatter_, scatter_add, scatter_add_)
from lucid.ops.linalg import dot, matmul  # noqa: F401
from lucid.ops.logical import (bitwise_and, bitwise_not, bitwise_or, bitwise_xor,  # noqa: F401
                               logical_and, logical_or, logical_xor)
from lucid.ops.reduce import (all, amax, amin, any, argmax, argmin, logsumexp, max, mean,  # noqa: F401
                              min, prod, std, sum, values_indices, var)
from lucid.ops.shape import (astype, broadcast_to, cat, chunk, concat, concatenate,  # noqa: F401
                             expand, expand_dims, flatten, pad, permute, permute_dims, repeat,
                             repeat_interleave, reshape, split, squeeze, stack, swapaxes,
                             swapdims, t, tile, to_device, transpose, unsqueeze, view)
from lucid.ops.counting import bincount  # noqa: F401
from lucid.ops.diagonal import diag  # noqa: F401
from lucid.ops.einsum import einsum  # noqa: F401
from lucid.ops.grid import meshgrid  # noqa: F401
from lucid.ops.reorder import flip, roll  # noqa: F401
from lucid.ops.scan import cumprod, cumsum  # noqa: F401
from lucid.ops.sort import argsort, sort, topk  # noqa: F401
from lucid.ops.ternary import clamp, clip, lerp  # noqa: F401  (PyTorch: clip = clamp)

floor_divide = floordiv

# ``repeat`` (Tensor.repeat, tiling) and ``view``/``expand`` are methods only, as in PyTorch.
__all__ = [
    'abs', 'add', 'all', 'amax', 'amin', 'any', 'argmax', 'argmin', 'astype', 'bitwise_and',
    'bitwise_not', 'bitwise_or', 'bitwise_xor', 'broadcast_to', 'cat', 'chunk', 'clamp', 'clip',
    'concat', 'concatenate', 'cos', 'div', 'dot', 'eq', 'erf', 'exp', 'expand_dims', 'flatten',
    'floor_divide', 'ge', 'gt', 'isinf', 'isnan', 'le', 'log', 'log1p', 'log_softmax',
    'logical_and', 'logical_not', 'logical_or', 'logical_xor', 'logsumexp', 'lt', 'matmul',
    'max', 'maximum', 'mean', 'min', 'minimum', 'mul', 'ne', 'neg', 'pad', 'permute',
    'permute_dims', 'pow', 'prod', 'relu', 'repeat_interleave', 'reshape', 'sigmoid', 'sign',
    'sin', 'softmax', 'split', 'sqrt', 'square', 'squeeze', 'stack', 'std', 'sub', 'sum',
    'swapaxes', 'swapdims', 't', 'tanh', 'tile', 'to_device', 'transpose', 'unsqueeze', 'var',
    'where',
    'argsort', 'bincount', 'cumprod', 'cumsum', 'diag', 'einsum', 'flip', 'lerp',
    'meshgrid', 'roll', 'sort', 'topk',
    'gather', 'index_select', 'masked_fill', 'scatter', 'scatter_add',
]
