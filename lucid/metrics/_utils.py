"""Input conversion and checks shared by the metric modules (numpy in, numpy or Tensor out)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lucid.tensor import Tensor

Array = Any  # a lucid Tensor or a numpy array


def to_numpy(x: Array, name: str) -> np.ndarray:
    """``x`` as a numpy array: a lucid Tensor (detached, copied) or a numpy array as it is."""
    if isinstance(x, Tensor):
        return x.detach().numpy()
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{name} must be a lucid Tensor or a numpy array, got {type(x).__name__}")


def device_of(*inputs: Any) -> str | None:
    """The device of the first lucid Tensor among ``inputs``; None when all are numpy."""
    for x in inputs:
        if isinstance(x, Tensor):
            return str(x.device)
    return None


def output(values: Any, device: str | None) -> Any:
    """float32 ``values`` as a lucid Tensor on ``device``, or as numpy when ``device`` is None
    (a numpy scalar for a 0-d result)."""
    out = np.asarray(values, dtype=np.float32)
    if device is not None:
        return Tensor(out, dtype="float32", device=device)
    return out[()] if out.ndim == 0 else out


def like(values: Any, *inputs: Any) -> Any:
    """float32 ``values`` in the kind the caller passed: a lucid Tensor (on its device) when any
    input was one, else numpy."""
    return output(values, device_of(*inputs))


def binary(x: np.ndarray, name: str) -> np.ndarray:
    """A 0/1 (or bool) array as bool; anything else is an error, not a silent threshold."""
    if x.dtype == np.bool_:
        return x
    if not np.issubdtype(x.dtype, np.number):
        raise TypeError(f"{name} must hold numbers or booleans, got dtype {x.dtype}")
    ok = (x == 0) | (x == 1)
    if not ok.all():
        bad = np.unique(x[~ok])[:5]
        raise ValueError(
            f"{name} must be binarized one-hot (values 0 and 1 only), found values {bad.tolist()} "
            "(threshold, or argmax then one_hot, first)"
        )
    return x == 1


def segmentation_pair(y_pred: Array, y: Array, min_ndim: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(y_pred, y) as bool arrays of one shape (B, C, spatial...), checked."""
    p, g = to_numpy(y_pred, "y_pred"), to_numpy(y, "y")
    if p.ndim < min_ndim:
        what = "(B, C, spatial...)" if min_ndim == 3 else "(B, C, ...)"
        raise ValueError(f"y_pred must have shape {what} (one-hot), got shape {p.shape}")
    if p.shape != g.shape:
        raise ValueError(
            f"y_pred and y must have the same one-hot shape, got {p.shape} and {g.shape}"
        )
    return binary(p, "y_pred"), binary(g, "y")


def drop_background(p: np.ndarray, g: np.ndarray, include_background: bool) -> tuple:
    """Without channel 0 when ``include_background`` is False (a single channel is kept, as
    MONAI's ``ignore_background`` does)."""
    if include_background or p.shape[1] == 1:
        return p, g
    return p[:, 1:], g[:, 1:]


def per_sample_spacing(spacing: Any, batch: int, ndim: int) -> list:
    """MONAI's ``prepare_spacing``: None or a number (isotropic), a sequence of ``ndim`` numbers
    (every sample), or ``batch`` sequences of ``ndim`` numbers (one per sample) -> one entry
    per sample, each None or a tuple of ``ndim`` positive floats."""

    def one(s: Any) -> tuple[float, ...] | None:
        if s is None:
            return None
        values = np.broadcast_to(np.asarray(s, dtype=np.float64), (ndim,))
        if not (np.all(np.isfinite(values)) and np.all(values > 0)):
            raise ValueError(f"spacing must be positive and finite, got {s}")
        return tuple(float(v) for v in values)

    if spacing is None or isinstance(spacing, (int, float, np.number)):
        return [one(spacing)] * batch
    if isinstance(spacing, Tensor):
        spacing = spacing.numpy()
    if not isinstance(spacing, (Sequence, np.ndarray)):
        raise TypeError(f"spacing must be a number or a sequence, got {type(spacing).__name__}")
    arr = np.asarray(spacing, dtype=np.float64)
    if arr.ndim == 1 and len(arr) == ndim:
        return [one(arr)] * batch
    if arr.ndim == 2 and arr.shape == (batch, ndim):
        return [one(row) for row in arr]
    raise ValueError(
        f"spacing must be a number, {ndim} numbers (one per spatial axis) or {batch} such "
        f"sequences (one per sample), got shape {arr.shape}"
    )
