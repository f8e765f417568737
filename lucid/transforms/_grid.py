"""Voxel grids described by an affine: spacing, orientation codes, and resampling one grid's
values onto another. Numpy only (the dictionary transforms and ``invert`` share these)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lucid.transforms.resample import sample

# each world axis of RAS+ space and the letters for its positive / negative direction
_CODES = (("R", "L"), ("A", "P"), ("S", "I"))
MODES = ("bilinear", "nearest")
PADDING_MODES = ("border", "zeros")


def check_affine(affine: Any, name: str) -> np.ndarray:
    """``affine`` as a float64 4x4 voxel-to-world matrix whose 3x3 part is invertible."""
    a = np.asarray(affine, dtype=np.float64) if not isinstance(affine, np.ndarray) else affine
    if a.shape != (4, 4):
        raise ValueError(f"{name}: the affine must be a 4x4 matrix, got shape {a.shape}")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: the affine has non-finite entries:\n{a}")
    if abs(np.linalg.det(a[:3, :3])) < 1e-12:
        raise ValueError(f"{name}: the affine's 3x3 part is singular (no voxel size):\n{a}")
    return a


def spacing(affine: np.ndarray) -> np.ndarray:
    """The voxel size along each array axis: the length of each column of the 3x3 part."""
    return np.sqrt((affine[:3, :3] ** 2).sum(axis=0))


def directions(affine: np.ndarray) -> np.ndarray:
    """The 3x3 rotation nearest the affine's direction cosines (shear removed): ``Q`` of the
    QR decomposition of the 3x3 part, signs chosen so that ``R`` has a positive diagonal."""
    q, r = np.linalg.qr(affine[:3, :3])
    return q * np.sign(np.diag(r))


def orientation(affine: np.ndarray) -> list[tuple[int, int]]:
    """For each array axis, the world axis it runs along (0 = x/R, 1 = y/A, 2 = z/S) and the
    sign (+1 towards R/A/S), as nibabel's ``io_orientation``: the directions are
    orthogonalised (polar decomposition, so an oblique scan gets its closest axes), then the
    array axes, the most clearly aligned first, each take the free world axis they lean on
    most."""
    cols = affine[:3, :3] / spacing(affine)
    u, _, vt = np.linalg.svd(cols)
    rot = u @ vt
    out = [(0, 0)] * 3
    for axis in np.argsort(-np.abs(rot).max(axis=0), kind="stable"):
        col = rot[:, axis]
        world = int(np.argmax(np.abs(col)))
        out[axis] = (world, 1 if col[world] > 0 else -1)
        rot[world, :] = 0  # each world axis is taken once
    return out


def axcodes(affine: np.ndarray) -> tuple[str, ...]:
    """The orientation codes of the array axes, e.g. ``("R", "A", "S")``: the direction each
    axis's index increases towards (the convention of nibabel's ``aff2axcodes``)."""
    return tuple(_CODES[w][0 if s > 0 else 1] for w, s in orientation(affine))


def parse_axcodes(codes: Any, name: str) -> list[tuple[int, int]]:
    """``"RAS"``-style codes as (world axis, sign) per array axis; one letter of each pair."""
    if not isinstance(codes, str) and not (
        isinstance(codes, Sequence) and all(isinstance(c, str) for c in codes)
    ):
        raise TypeError(f"{name}: axcodes must be a string like 'RAS', got {codes!r}")
    letters = [c.upper() for c in codes]
    out = []
    for c in letters:
        match = [(w, 1 if c == p else -1) for w, (p, n) in enumerate(_CODES) if c in (p, n)]
        if not match:
            raise ValueError(f"{name}: axcodes letters are R/L, A/P, S/I, got {codes!r}")
        out.append(match[0])
    if len(out) != 3 or sorted(w for w, _ in out) != [0, 1, 2]:
        raise ValueError(
            f"{name}: axcodes must name each of the three axes once (one of R/L, A/P, S/I), "
            f"got {codes!r}"
        )
    return out


def _resample_axis(x, axis, coord, mode, padding_mode):
    """Values of ``x`` along ``axis`` at the (float) positions ``coord``."""
    n = x.shape[axis]
    if padding_mode == "border":
        coord = np.clip(coord, 0, n - 1)
    shape = [-1 if a == axis else 1 for a in range(x.ndim)]
    if mode == "nearest":
        idx = np.rint(coord).astype(np.int64)  # ties to even, as grid_sample's nearest
        inside = (idx >= 0) & (idx < n)
        out = np.take(x, np.clip(idx, 0, n - 1), axis=axis)
        return out if inside.all() else np.where(inside.reshape(shape), out, 0)
    lo = np.floor(coord).astype(np.int64)
    w = (coord - lo).reshape(shape)
    out = 0.0
    for idx, weight in ((lo, 1.0 - w), (lo + 1, w)):
        inside = ((idx >= 0) & (idx < n)).reshape(shape)  # a corner outside reads 0 ("zeros")
        out = out + np.where(inside, np.take(x, np.clip(idx, 0, n - 1), axis=axis), 0) * weight
    return out


def resample(
    x: np.ndarray,
    src_affine: np.ndarray,
    dst_affine: np.ndarray,
    dst_shape: Sequence[int],
    mode: str,
    padding_mode: str = "border",
) -> np.ndarray:
    """``x`` (C, X, Y, Z) on the grid ``src_affine`` resampled onto the grid (``dst_shape``,
    ``dst_affine``): each output voxel reads the input at its own world position. ``mode``
    ``"bilinear"`` interpolates (trilinear in 3-D; integer inputs come out float32),
    ``"nearest"`` takes the closest voxel (dtype and values kept). Outside the input,
    ``"border"`` repeats the edge and ``"zeros"`` reads 0."""
    # output voxel u sits at input voxel inv(src) @ dst @ u = m @ u + b
    rel = np.linalg.solve(src_affine, dst_affine)
    m, b = rel[:3, :3], rel[:3, 3]
    ranges = [np.arange(n, dtype=np.float64) for n in dst_shape]
    if np.allclose(m - np.diag(np.diag(m)), 0, atol=1e-9):
        # axis-aligned (the usual case): separable, one axis at a time, no coordinate volume
        out = x
        for axis in range(3):
            coord = m[axis, axis] * ranges[axis] + b[axis]
            out = _resample_axis(out, axis + 1, coord, mode, padding_mode)
    else:
        grid = np.stack(np.meshgrid(*ranges, indexing="ij"))
        coords = np.einsum("ij,j...->i...", m, grid) + b.reshape(3, 1, 1, 1)
        hi = np.array(x.shape[1:], np.float64).reshape(3, 1, 1, 1) - 1
        if padding_mode == "border":
            coords = np.clip(coords, 0, hi)
        if mode == "nearest":
            out = sample(x, np.rint(coords), 0, 0)
        else:
            out = sample(x.astype(np.float64), coords, 1, 0.0)
    if mode == "nearest":
        return np.ascontiguousarray(out, dtype=x.dtype)
    return np.ascontiguousarray(out, dtype=x.dtype if x.dtype.kind == "f" else np.float32)
