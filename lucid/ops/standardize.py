"""Normalisation op: standardise over some axes, with its fused backward.

Batch, instance, group and layer normalisation all reduce to ``(x - mean) / sqrt(var + eps)`` over
a set of axes followed by an elementwise affine map. Recording the standardisation as one op keeps
the tape to a single node and its backward to one closed formula,
``dx = rstd * (g - mean(g) - y * mean(g * y))``, instead of a dozen broadcast nodes.
"""

from __future__ import annotations

from lucid import _backend as B
from lucid.ops import elementwise as E, reduce as R
from lucid.ops._util import normalize_axes, op, record
from lucid.tensor import Tensor

__all__ = ["standardize"]

_HALF = ("float16", "bfloat16")


@op
def standardize(x: Tensor, axis: int, eps: float = 1e-5):
    """``((x - mean) / sqrt(var + eps), mean, var)`` over ``axis``: the first a Tensor on the tape,
    the biased batch statistics (keepdims shape, float32 for half inputs) plain backend arrays for
    running-statistics bookkeeping. Half-precision inputs are standardised in float32."""
    axes = normalize_axes(axis, x.ndim)  # no elements on ``axes``: y is empty, stats NaN
    name = B.dtype_name(x.data.dtype)
    xd = B.cast(x.data, "float32") if name in _HALF else x.data
    mean = B.accurate_mean(xd, axes, True)
    centered = xd - mean
    var = B.accurate_mean(centered * centered, axes, True)
    rstd = 1.0 / B.sqrt(var + eps)
    y = centered * rstd

    def backward(g):
        g = B.cast(g, B.dtype_name(y.dtype))
        mean_g = B.accurate_mean(g, axes, True)
        mean_gy = B.accurate_mean(g * y, axes, True)
        return (B.cast(rstd * (g - mean_g - y * mean_gy), name),)

    y_tensor = record(B.cast(y, name), (x,), backward, "Standardize", rule=_rule(axes, eps))
    return y_tensor, mean, var


def _rule(axes, eps):
    """The backward on Tensors (``create_graph``): ``y`` is the output, ``rstd`` recomputed."""

    def rule(g, y, x):
        centered = E.sub(x, R.mean(x, axes, keepdim=True))
        rstd = 1.0 / E.sqrt(R.mean(E.mul(centered, centered), axes, keepdim=True) + eps)
        mean_g = R.mean(g, axes, keepdim=True)
        mean_gy = R.mean(E.mul(g, y), axes, keepdim=True)
        return (E.mul(rstd, E.sub(E.sub(g, mean_g), E.mul(y, mean_gy))),)

    return rule
