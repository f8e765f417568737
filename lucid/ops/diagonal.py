"""``diag``: a vector onto a diagonal of a new square matrix, or a matrix's diagonal as a vector
(PyTorch's ``diagonal`` offset convention: > 0 above the main diagonal, < 0 below)."""

from __future__ import annotations

import numbers

import numpy as np

from lucid import _backend as B
from lucid.ops._util import op, record
from lucid.tensor import Tensor


def _flat_positions(rows, cols, k):
    """Flat (row-major) positions of the k-th diagonal of a rows x cols matrix."""
    if k >= 0:
        m = max(0, min(rows, cols - k))
        r = np.arange(m)
        return r * cols + r + k
    m = max(0, min(rows + k, cols))
    r = np.arange(m)
    return (r - k) * cols + r


@op
def diag(input: Tensor, diagonal: int = 0) -> Tensor:
    """1-D input: a square matrix with ``input`` on diagonal ``diagonal``; 2-D input: that
    diagonal of the matrix as a vector."""
    if isinstance(diagonal, bool) or not isinstance(diagonal, numbers.Integral):
        raise TypeError(f"diag: diagonal must be an int, got {diagonal!r}")
    k = int(diagonal)
    xd = input.data
    if input.ndim == 1:
        n = input.shape[0] + abs(k)
        pos = B.asarray(_flat_positions(n, n, k).astype(np.int32))
        y = B.reshape(B.scatter_add((n * n,), pos, xd, xd.dtype), (n, n))
        return record(
            y,
            (input,),
            lambda g: (B.take(B.reshape(g, (-1,)), pos),),
            "Diag",
            adjoint=lambda _i, v: B.reshape(B.scatter_add((n * n,), pos, v, v.dtype), (n, n)),
        )
    if input.ndim == 2:
        rows, cols = input.shape
        pos = B.asarray(_flat_positions(rows, cols, k).astype(np.int32))
        y = B.take(B.reshape(xd, (-1,)), pos)

        def backward(g):
            return (B.reshape(B.scatter_add((rows * cols,), pos, g, g.dtype), (rows, cols)),)

        return record(
            y,
            (input,),
            backward,
            "Diag",
            adjoint=lambda _i, v: B.take(B.reshape(v, (-1,)), pos),
        )
    raise ValueError(f"diag: input must be 1-D or 2-D, got shape {input.shape}")
