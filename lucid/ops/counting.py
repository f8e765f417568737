"""Integer-valued results from index tensors: ``bincount`` and ``one_hot`` (no gradients, as in
PyTorch: their inputs are class indices)."""

from __future__ import annotations

import numpy as np

from lucid import _backend as B
from lucid.tensor import Tensor


def _index_tensor(t, name):
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} expects a Tensor, got {type(t).__name__}")
    if t.is_floating_point() or B.dtype_name(t.data.dtype) == "bool":
        raise TypeError(f"{name} needs an integer (index) tensor, got dtype {t.dtype}")
    return B.to_numpy(t.data).astype(np.int64)


def bincount(input: Tensor, weights=None, minlength: int = 0):
    """How often each value 0..max occurs in the 1-D non-negative int tensor ``input`` (int64), or
    the sum of ``weights`` per value (float64 for integer weights, the weights' dtype otherwise);
    at least ``minlength`` bins."""
    values = _index_tensor(input, "bincount")
    if values.ndim != 1:
        raise ValueError(f"bincount: input must be 1-D, got shape {input.shape}")
    if values.size and values.min() < 0:
        raise ValueError(f"bincount: input must be non-negative, got {int(values.min())}")
    if isinstance(minlength, bool) or not isinstance(minlength, int) or minlength < 0:
        raise ValueError(f"bincount: minlength must be a non-negative int, got {minlength!r}")
    if weights is None:
        counts, dtype = np.bincount(values, minlength=minlength), "int64"
    else:
        if not isinstance(weights, Tensor) or weights.shape != input.shape:
            raise ValueError(
                f"bincount: weights must be a Tensor of the input's shape "
                f"{input.shape}, got {getattr(weights, 'shape', weights)!r}"
            )
        dtype = B.dtype_name(weights.data.dtype) if weights.is_floating_point() else "float64"
        w = B.to_numpy(weights.data).astype(np.float64)
        counts = np.bincount(values, weights=w, minlength=minlength)
    return Tensor._wrap(B.asarray(counts, dtype), input._device)


def one_hot(tensor: Tensor, num_classes: int = -1):
    """int64 tensor of shape ``(*tensor.shape, num_classes)`` with a 1 at each index;
    ``num_classes=-1`` uses max + 1."""
    values = _index_tensor(tensor, "one_hot")
    if values.size and values.min() < 0:
        raise ValueError(f"one_hot: class values must be non-negative, got {int(values.min())}")
    if num_classes == -1:
        if not values.size:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor")
        num_classes = int(values.max()) + 1
    elif values.size and values.max() >= num_classes:
        raise ValueError(
            f"one_hot: class value {int(values.max())} must be smaller than "
            f"num_classes={num_classes}"
        )
    classes = B.arange(num_classes)
    out = B.expand_dims(tensor.data, -1) == classes
    return Tensor._wrap(out.astype(B.DTYPES["int64"]), tensor._device)
