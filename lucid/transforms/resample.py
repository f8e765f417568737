"""Resampling a (C, D, H, W) volume at arbitrary coordinates: trilinear or nearest."""

from __future__ import annotations

import itertools

import numpy as np


def sample(volume, coords, order, cval=0.0):
    """Values of ``volume`` (C, D, H, W) at ``coords`` (3, *out) voxel positions.

    ``order`` 1 interpolates trilinearly (for images), 0 takes the nearest voxel (for label
    maps: no new values appear). Positions outside the volume read ``cval``.
    """
    spatial = np.array(volume.shape[1:]).reshape(3, *([1] * (coords.ndim - 1)))
    if order == 0:
        idx = np.floor(coords + 0.5).astype(np.int64)  # ties round up, not to even
        inside = np.all((idx >= 0) & (idx < spatial), axis=0)
        idx = np.clip(idx, 0, spatial - 1)
        out = volume[:, idx[0], idx[1], idx[2]]
        return np.where(inside, out, np.asarray(cval, volume.dtype))
    base = np.floor(coords).astype(np.int64)
    frac = coords - base
    out = np.zeros((volume.shape[0],) + coords.shape[1:], np.float64)
    for corner in itertools.product((0, 1), repeat=3):
        offset = np.array(corner).reshape(3, *([1] * (coords.ndim - 1)))
        idx = base + offset
        weight = np.prod(np.where(offset == 1, frac, 1.0 - frac), axis=0)
        inside = np.all((idx >= 0) & (idx < spatial), axis=0)
        idx = np.clip(idx, 0, spatial - 1)
        out += weight * np.where(inside, volume[:, idx[0], idx[1], idx[2]], cval)
    return out.astype(volume.dtype if volume.dtype.kind == "f" else np.float32)


def resize_axis(x, axis, n_out, linear):
    """Resize one axis of ``x`` to ``n_out`` samples with half-pixel centres (PyTorch's
    ``align_corners=False``): linear interpolation clamped at the edges, or nearest
    (``floor(i * n_in / n_out)``, PyTorch's ``'nearest'``)."""
    n_in = x.shape[axis]
    if n_in == n_out:
        return x
    scale = n_in / n_out
    if not linear:
        idx = np.minimum(np.floor(np.arange(n_out) * scale).astype(np.int64), n_in - 1)
        return np.take(x, idx, axis=axis)
    pos = np.clip((np.arange(n_out) + 0.5) * scale - 0.5, 0, n_in - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    w = (pos - lo).reshape([-1 if a == axis else 1 for a in range(x.ndim)])
    return np.take(x, lo, axis=axis) * (1 - w) + np.take(x, hi, axis=axis) * w
