"""Sampling indices from weights: ``multinomial``. No gradient.

Both forms use the Gumbel trick: with ``G`` independent standard Gumbel noise, the index of the
largest ``log(p_i) + G_i`` is drawn with probability ``p_i / sum(p)``, and the ``k`` largest, in
order, are ``k`` draws without replacement (each draw proportional to the weights left). So
the weights need no normalising, and the draws stay on the device.
"""

from __future__ import annotations

import numbers

import numpy as np

from lucid import _backend as B
from lucid.ops._util import op
from lucid.ops.sort import topk
from lucid.tensor import Tensor

__all__ = ["multinomial"]

# Gumbel noise for at most this many (row, sample, category) entries at a time
_CHUNK = 1 << 24


def _gumbel(shape, dtype):
    """Standard Gumbel noise, ``-log(-log(U))``, in ``dtype``; U is kept off 0, whose -inf
    would tie a positive weight with the zero weights."""
    u = B.random_uniform(shape, "float32")
    u = B.maximum(u, np.finfo(np.float32).tiny)
    return B.cast(-B.log(-B.log(u)), dtype)


def _check(input, num_samples, replacement):
    if not isinstance(input, Tensor):
        raise TypeError(f"multinomial: input must be a Tensor, got {type(input).__name__}")
    if not input.is_floating_point():
        raise TypeError(f"multinomial: input must be floating point, got {input.dtype}")
    if input.ndim not in (1, 2):
        raise ValueError(f"multinomial: input must be 1-D or 2-D, got shape {input.shape}")
    if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral):
        raise TypeError(f"multinomial: num_samples must be an int, got {num_samples!r}")
    if num_samples <= 0:
        raise ValueError(f"multinomial: num_samples must be positive, got {num_samples}")
    n = input.shape[-1]
    if not replacement and num_samples > n:
        raise ValueError(
            f"multinomial: cannot draw {num_samples} samples from {n} categories without "
            "replacement"
        )
    weights = B.to_numpy(input.data)  # checked on the host, as PyTorch's CPU kernel does
    if weights.size and not (np.isfinite(weights).all() and (weights >= 0).all()):
        raise ValueError("multinomial: the weights must be finite and >= 0 (got inf, NaN or < 0)")
    rows = weights.reshape(input.shape[0] if input.ndim == 2 else 1, n)
    if rows.shape[0] and not (rows.sum(axis=-1, dtype=np.float64) > 0).all():
        raise ValueError("multinomial: every row of weights must have a positive sum")


@op
def multinomial(input: Tensor, num_samples: int, replacement: bool = False) -> Tensor:
    """``num_samples`` category indices drawn from each row of the weights ``input`` (1-D
    ``(n,)`` or 2-D ``(rows, n)``, non-negative, finite, each row with a positive sum; they need
    not sum to 1): an int64 tensor of shape ``(num_samples,)`` or ``(rows, num_samples)``.
    Without ``replacement`` a row's samples are distinct, in the order drawn; once its
    positive-weight categories are used up, the zero-weight ones follow (as in PyTorch). Bad
    weights raise ValueError (this reads ``input`` back to check them)."""
    _check(input, num_samples, replacement)
    x = input if input.ndim == 2 else input.reshape(1, -1)
    rows, n = x.shape
    if rows == 0:
        return Tensor._wrap(B.zeros((0, num_samples), dtype=B.DTYPES["int64"]), x._device)
    work = "float64" if x.dtype == "float64" else "float32"
    logp = B.log(B.cast(x.data, work))  # log 0 = -inf: a zero weight is never the largest
    if not replacement:
        keys = Tensor._wrap(logp + _gumbel((rows, n), work), x._device)
        out = topk(keys, num_samples, dim=-1).indices
    else:
        step = max(1, _CHUNK // max(rows * n, 1))
        parts = []
        for start in range(0, num_samples, step):
            m = min(step, num_samples - start)
            noisy = B.expand_dims(logp, 1) + _gumbel((rows, m, n), work)
            parts.append(B.argmax(noisy, axis=-1))
        data = parts[0] if len(parts) == 1 else B.concatenate(parts, axis=1)
        out = Tensor._wrap(B.cast(data, "int64"), x._device)
    return out if input.ndim == 2 else out.reshape(num_samples)
