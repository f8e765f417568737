"""Gradient clipping, applied in place to ``param.grad`` between ``backward()`` and
``optimizer.step()``. Plain backend arithmetic: nothing is recorded on the tape."""

from __future__ import annotations

import math

from lucid import _backend as B
from lucid.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    out = []
    for p in parameters:
        if not isinstance(p, Tensor):
            raise TypeError(f"expected Tensors (parameters), got {type(p).__name__}")
        if p.grad is not None:
            out.append(p.grad)
    return out


def clip_grad_norm_(
    parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False
) -> Tensor:
    """Scale the gradients so that their joint ``norm_type``-norm (over all of them, as if
    concatenated) is at most ``max_norm``; ``norm_type`` may be ``inf`` (the largest absolute
    entry). Returns the total norm before clipping as a 0-d Tensor.

    The scale is ``min(1, max_norm / (total + 1e-6))``, applied without a host sync, so the
    step stays lazy; ``error_if_nonfinite`` checks the norm and raises a RuntimeError if it is
    NaN or infinite (which forces evaluation).
    """
    norm_type = float(norm_type)
    if not norm_type > 0:  # also rejects NaN and -inf
        raise ValueError(f"norm_type must be positive or inf, got {norm_type}")
    grads = _grads(parameters)
    acc = (
        "float64"
        if grads and all(g.data.dtype == B.DTYPES["float64"] for g in grads)
        else "float32"
    )
    if not grads:
        return Tensor._wrap(B.zeros((), dtype=B.DTYPES[acc]))
    # on the gradients' stream: MLX's default (a Mac's GPU) cannot run float64 CPU gradients
    with B.device_scope(grads[0]._device):
        if math.isinf(norm_type):
            total = B.max(B.stack([B.max(B.abs(B.cast(g.data, acc))) for g in grads]))
        else:
            parts = [B.sum(B.power(B.abs(B.cast(g.data, acc)), norm_type)) for g in grads]
            total = B.power(B.sum(B.stack(parts)), 1.0 / norm_type)
        if error_if_nonfinite and not math.isfinite(B.item(total)):
            raise RuntimeError(
                f"the total norm of order {norm_type} of the gradients is "
                f"{total.item()}: not finite, so they cannot be clipped"
            )
        scale = B.minimum(max_norm / (total + 1e-6), 1.0)
        for g in grads:
            g.data = g.data * B.cast(scale, B.dtype_name(g.data.dtype))
    return Tensor._wrap(total, grads[0]._device)


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient entry into ``[-clip_value, clip_value]`` in place."""
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_value must be >= 0, got {clip_value}")
    grads = _grads(parameters)
    for g in grads:
        g.data = B.clip(g.data, -clip_value, clip_value)
