"""Affine maps: ``linear`` (x @ W^T + b) and ``embedding`` (a row lookup, i.e. one-hot @ W)."""

from __future__ import annotations

import numpy as np

from lucid import _backend as B, ops
from lucid.ops.index import check_range, take_rows
from lucid.tensor import Tensor

__all__ = ["linear", "embedding"]


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None):
    """``x @ weight.T + bias`` for ``x`` of shape ``(..., in)``, ``weight`` ``(out, in)`` and
    ``bias`` ``(out,)``; the result has shape ``(..., out)``."""
    for name, t in (("input", x), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"linear: {name} must be a Tensor, got {type(t).__name__}")
    if weight.ndim != 2:
        raise ValueError(
            f"linear: weight must have shape (out_features, in_features), got {weight.shape}"
        )
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {x.shape} must end with in_features="
            f"{weight.shape[1]} (weight shape {weight.shape})"
        )
    out = ops.matmul(x, ops.permute(weight, 1, 0))
    if bias is not None:
        if tuple(bias.shape) != (weight.shape[0],):
            raise ValueError(
                f"linear: bias must have shape ({weight.shape[0]},), got {tuple(bias.shape)}"
            )
        out = out + bias
    return out


def embedding(
    indices,
    weight,
    padding_idx=None,
    max_norm=None,
    norm_type=2.0,
    scale_grad_by_freq=False,
    sparse=False,
):
    """Rows of ``weight`` (``(num_embeddings, dim)``) picked by integer ``indices`` of any
    shape; the result has shape ``indices.shape + (dim,)``. Repeated indices accumulate their
    gradients; rows picked at ``padding_idx`` receive no gradient. Indices outside
    ``[0, num_embeddings)`` raise IndexError: at once for host data (lists, numpy), at the
    next host read for a Tensor (its rows are NaN meanwhile; see ``lucid.check_indices``).
    With ``max_norm``, the looked-up rows whose ``norm_type``-norm exceeds it are first
    rescaled to norm ``max_norm`` in ``weight`` itself (in place, untracked), as PyTorch does.
    With ``scale_grad_by_freq``, the gradient of each occurrence of an id is divided by the
    number of times that id occurs in ``indices``. ``sparse=True`` is not supported."""
    if sparse:
        raise NotImplementedError("embedding: sparse gradients are not supported")
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ValueError(
            f"embedding: weight must be a 2-D Tensor, got "
            f"{getattr(weight, 'shape', type(weight).__name__)}"
        )
    if isinstance(indices, Tensor):  # on the device: checked without a host read
        ids = indices.data
        if B.is_floating(ids.dtype) or ids.dtype == B.DTYPES["bool"]:
            raise TypeError(f"embedding: indices must be integers, got dtype {indices.dtype}")
    else:  # on the host: checked at once
        ids = np.asarray(indices)
        if ids.dtype.kind not in "iu":
            raise TypeError(f"embedding: indices must be integers, got dtype {ids.dtype}")
        check_range(ids, weight.shape[0], "embedding: ", negative=False)
        ids = B.asarray(ids, "int32")
    if max_norm is not None:
        _renorm_rows(
            weight, indices.numpy() if isinstance(indices, Tensor) else indices, max_norm, norm_type
        )
    pad = None if padding_idx is None else padding_idx % weight.shape[0]
    return take_rows(weight, ids, pad, scale_grad_by_freq=bool(scale_grad_by_freq))


def _renorm_rows(weight, ids, max_norm, norm_type):
    """Scale the rows ``ids`` of ``weight`` whose norm exceeds ``max_norm`` down to it, in place
    and outside the tape (PyTorch's ``embedding_renorm_``: factor max_norm / (norm + 1e-7))."""
    from lucid.autograd import no_grad

    rows = np.unique(np.asarray(ids).reshape(-1)).astype(np.int64)
    if rows.size == 0:
        return
    w = weight.numpy()[rows].astype(np.float64)
    norms = np.linalg.norm(w, ord=norm_type, axis=1)
    over = norms > max_norm
    if not over.any():
        return
    scaled = w[over] * (max_norm / (norms[over] + 1e-7))[:, None]
    with no_grad():
        weight[rows[over]] = Tensor(scaled, dtype=weight.dtype)
