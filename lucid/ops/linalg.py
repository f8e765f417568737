"""Matrix products."""

from __future__ import annotations

import numpy as np

from lucid import _backend as B
from lucid._typing import TensorOrScalar
from lucid.autograd.graph import unbroadcast
from lucid.ops._util import as_tensor, op, record
from lucid.tensor import Tensor


@op
def matmul(a, b):
    """Matrix product with numpy's rules (1-D operands, broadcast batch dimensions)."""
    a, b = as_tensor(a), as_tensor(b, a)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul needs at least 1-D operands, got shapes {a.shape} and {b.shape}")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned ({ka} != {kb})")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(
            f"matmul: the batch dimensions of shapes {a.shape} and {b.shape} cannot "
            "be broadcast together"
        ) from None
    ad, bd = a.data, b.data
    a2 = ad if ad.ndim > 1 else B.reshape(ad, (1, -1))
    b2 = bd if bd.ndim > 1 else B.reshape(bd, (-1, 1))
    dev = a._device
    out2 = B.matmul_on(a2, b2, dev)
    out_shape = out2.shape
    out = out2
    if ad.ndim == 1:
        out = B.reshape(out, out.shape[:-2] + out.shape[-1:])
    if bd.ndim == 1:
        out = B.reshape(out, out.shape[:-1])

    def backward(g):
        g2 = B.reshape(g, out_shape)
        ga = B.matmul_on(g2, B.swapaxes(b2, -1, -2), dev)
        gb = B.matmul_on(B.swapaxes(a2, -1, -2), g2, dev)
        ga = B.reshape(unbroadcast(ga, a2.shape), ad.shape)
        gb = B.reshape(unbroadcast(gb, b2.shape), bd.shape)
        return ga, gb

    return record(out, (a, b), backward, "MatMul")


def dot(a, b: TensorOrScalar) -> Tensor:
    """Inner product of two 1-D tensors (matmul otherwise)."""
    return matmul(a, b)
