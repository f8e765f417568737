"""Dictionary transforms that change a sample's voxel grid and update its affine:
``Spacing`` (resample to a voxel size) and ``Orientation`` (reorder and flip axes)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from lucid.transforms._grid import (
    MODES,
    PADDING_MODES,
    directions,
    orientation,
    parse_axcodes,
    resample,
    spacing,
)
from lucid.transforms.dictionary import MapTransform

__all__ = ["Spacing", "Orientation"]


def spacing_grid(
    affine: np.ndarray, spatial: Sequence[int], pixdim: Any
) -> tuple[tuple[int, ...], np.ndarray]:
    """The (shape, affine) of the grid with voxel size ``pixdim`` covering the grid
    (``spatial``, ``affine``): the axes keep their directions (shear removed) and voxel 0
    stays at the same world position; each axis spans the input's extent between its first
    and last voxel centres, ``round((n - 1) * old / new) + 1`` voxels."""
    new = directions(affine) @ np.diag(pixdim)
    corners = np.array(np.meshgrid(*[(0.0, n - 1.0) for n in spatial], indexing="ij"))
    corners = corners.reshape(3, -1)
    # corner positions in the new grid's voxel units (relative to the old voxel 0)
    pos = np.linalg.solve(new, affine[:3, :3] @ corners)
    lo, hi = pos.min(axis=1), pos.max(axis=1)
    shape = tuple(int(n) for n in np.maximum(np.rint(hi - lo + 1), 1))
    out = np.eye(4)
    out[:3, :3] = new
    out[:3, 3] = affine[:3, 3] + new @ lo
    return shape, out


class Spacing(MapTransform):
    """Resample the ``keys`` arrays to voxel size ``pixdim`` (a number or one per axis, in
    the affine's units, usually mm; entries <= 0 keep that axis's spacing), as MONAI's
    ``Spacingd`` with ``diagonal=False``: the axes keep their directions, voxel 0 keeps its
    world position, and the affine gets the new voxel size. ``mode`` is ``"bilinear"``
    (trilinear interpolation, for images) or ``"nearest"`` (for label maps: dtype and values
    kept), one for all keys or one per key; ``padding_mode`` ``"border"`` (default) repeats
    the edge where the new grid reaches past the old one, ``"zeros"`` reads 0. Records the
    old and new grids for ``invert``."""

    def __init__(
        self,
        keys: str | Sequence[str],
        pixdim: float | Sequence[float],
        mode: str | Sequence[str] = ("bilinear", "nearest"),
        padding_mode: str = "border",
        affine_key: str = "affine",
        allow_missing_keys: bool = False,
    ):
        super().__init__(keys, allow_missing_keys, affine_key)
        pix = (pixdim,) * 3 if isinstance(pixdim, numbers.Real) else tuple(pixdim)  # type: ignore[arg-type]
        if len(pix) != 3 or not all(isinstance(p, numbers.Real) for p in pix):
            raise ValueError(f"Spacing: pixdim must be a number or 3 numbers, got {pixdim}")
        self.pixdim = tuple(float(p) for p in pix)
        modes = (mode,) * len(self.keys) if isinstance(mode, str) else tuple(mode)
        if len(modes) != len(self.keys):
            raise ValueError(
                f"Spacing: mode has {len(modes)} entries for {len(self.keys)} keys "
                f"{self.keys}: give one mode for all keys or one per key"
            )
        if any(m not in MODES for m in modes):
            raise ValueError(f"Spacing: mode must be one of {MODES}, got {modes}")
        if padding_mode not in PADDING_MODES:
            raise ValueError(
                f"Spacing: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}"
            )
        self.mode = dict(zip(self.keys, modes))
        self.padding_mode = padding_mode

    def apply(self, sample: dict, keys: tuple[str, ...], rng: np.random.Generator) -> dict:
        """The sample resampled to ``pixdim``."""
        affine = self.affine(sample, required=True)
        assert affine is not None
        if not keys:
            return sample
        spatial = sample[keys[0]].shape[1:]
        pix = np.where(np.array(self.pixdim) > 0, self.pixdim, spacing(affine))
        shape, new = spacing_grid(affine, spatial, pix)
        for k in keys:
            sample[k] = resample(sample[k], affine, new, shape, self.mode[k], self.padding_mode)
        sample[self.affine_key] = new
        self.record(
            sample,
            {
                "keys": keys,
                "mode": {k: self.mode[k] for k in keys},
                "padding_mode": self.padding_mode,
                "shape_before": tuple(spatial),
                "affine_before": affine,
                "shape_after": shape,
                "affine_after": new,
            },
        )
        return sample


def orientation_plan(
    affine: np.ndarray, spatial: Sequence[int], target: Sequence[tuple[int, int]]
) -> tuple[tuple[int, ...], tuple[bool, ...], np.ndarray]:
    """How to bring the grid (``spatial``, ``affine``) to the orientation ``target``
    ((world axis, sign) per output axis): output axis b is input axis ``perm[b]``, reversed
    where ``flip[b]``; also the output grid's affine."""
    now = orientation(affine)
    perm = tuple(next(a for a, (w, _) in enumerate(now) if w == tw) for tw, _ in target)
    flip = tuple(now[a][1] != ts for a, (_, ts) in zip(perm, target))
    # output voxel u is input voxel v, v[perm[b]] = u[b] (or n - 1 - u[b] when flipped)
    to_input = np.zeros((4, 4))
    to_input[3, 3] = 1.0
    for b, (a, f) in enumerate(zip(perm, flip)):
        to_input[a, b] = -1.0 if f else 1.0
        to_input[a, 3] = spatial[a] - 1.0 if f else 0.0
    return perm, flip, affine @ to_input


def reorient(x: np.ndarray, perm: Sequence[int], flip: Sequence[bool]) -> np.ndarray:
    """A (C, X, Y, Z) array with its spatial axes taken in order ``perm`` and flipped where
    ``flip`` (exact: no interpolation)."""
    out = np.transpose(x, (0, *(a + 1 for a in perm)))
    axes = [b + 1 for b, f in enumerate(flip) if f]
    return np.ascontiguousarray(np.flip(out, tuple(axes)) if axes else out)


class Orientation(MapTransform):
    """Reorder and flip the spatial axes of the ``keys`` arrays so that they run along
    ``axcodes`` (default ``"RAS"``: the first axis towards Right, then Anterior, Superior,
    nibabel's convention), as MONAI's ``Orientationd``. Each axis is matched to the world axis
    it is closest to, so an oblique scan stays oblique; voxels are moved, never interpolated,
    and the affine is updated to match. Records the old and new grids for ``invert``."""

    def __init__(
        self,
        keys: str | Sequence[str],
        axcodes: str = "RAS",
        affine_key: str = "affine",
        allow_missing_keys: bool = False,
    ):
        super().__init__(keys, allow_missing_keys, affine_key)
        self.target = parse_axcodes(axcodes, "Orientation")
        self.axcodes = "".join(axcodes)

    def apply(self, sample: dict, keys: tuple[str, ...], rng: np.random.Generator) -> dict:
        """The sample reoriented to ``axcodes``."""
        affine = self.affine(sample, required=True)
        assert affine is not None
        if not keys:
            return sample
        spatial = sample[keys[0]].shape[1:]
        perm, flip, new = orientation_plan(affine, spatial, self.target)
        for k in keys:
            sample[k] = reorient(sample[k], perm, flip)
        sample[self.affine_key] = new
        self.record(
            sample,
            {
                "keys": keys,
                "perm": perm,
                "flip": flip,
                "shape_before": tuple(spatial),
                "affine_before": affine,
                "shape_after": tuple(spatial[a] for a in perm),
                "affine_after": new,
            },
        )
        return sample
