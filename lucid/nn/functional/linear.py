"""Affine maps: ``linear`` (x @ W^T + b) and ``embedding`` (a row lookup, i.e. one-hot @ W)."""

from __future__ import annotations

import numpy as np

from lucid import ops
from lucid.tensor import Tensor

__all__ = ["linear", "embedding"]


def linear(x, weight, bias=None):
    """``x @ weight.T + bias`` for ``x`` of shape ``(..., in)``, ``weight`` ``(out, in)`` and
    ``bias`` ``(out,)``; the result has shape ``(..., out)``."""
    for name, t in (("input", x), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"linear: {name} must be a Tensor, got {type(t).__name__}")
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must have shape (out_features, in_features), got "
                         f"{weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {x.shape} must end with in_features="
                         f"{weight.shape[1]} (weight shape {weight.shape})")
    out = ops.matmul(x, ops.permute(weight, 1, 0))
    if bias is not None:
        if tuple(bias.shape) != (weight.shape[0],):
            raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got "
                             f"{tuple(bias.shape)}")
        out = out + bias
    return out


def embedding(indices, weight, padding_idx=None):
    """Rows of ``weight`` (``(num_embeddings, dim)``) picked by integer ``indices`` of any
    shape; the result has shape ``indices.shape + (dim,)``. Repeated indices accumulate their
    gradients; rows picked at ``padding_idx`` receive no gradient."""
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ValueError(f"embedding: weight must be a 2-D Tensor, got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    idx = indices.numpy() if isinstance(indices, Tensor) else np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got dtype {idx.dtype}")
    n = weight.shape[0]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"embedding: index out of range for {n} embeddings (got values in "
                         f"[{idx.min()}, {idx.max()}])")
    idx = np.where(idx < 0, idx + n, idx)
    out = weight[idx]
    if padding_idx is not None:
        pad = padding_idx + n if padding_idx < 0 else padding_idx
        keep = (idx == pad)[..., None]
        if keep.any():  # same values, but the padding positions come from a detached copy
            out = ops.where(Tensor(keep), weight.detach()[idx], out)
    return out
