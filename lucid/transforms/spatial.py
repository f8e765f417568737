"""Geometric transforms: flips, crops, padding, 90-degree rotations, affine warps, resizing.
Each moves a label map with its image (nearest-neighbour where it resamples)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from lucid._typing import IntOrSeq
from lucid.transforms.base import Transform, check_p, triple
from lucid.transforms.resample import resize_axis, sample

__all__ = [
    "RandomFlip",
    "CenterCrop",
    "RandomCrop",
    "PadToSize",
    "RandomRotate90",
    "Affine",
    "RandomAffine",
    "Resize",
]


def _size(size, name):
    size = triple(size, name, positive=True)
    if not all(float(s).is_integer() for s in size):
        raise ValueError(f"{name} must hold whole numbers of voxels, got {size}")
    return tuple(int(s) for s in size)


class RandomFlip(Transform):
    """Flip each spatial axis in ``axes`` (0 = D, 1 = H, 2 = W) independently with
    probability ``p``."""

    is_random = True

    def __init__(self, axes: Sequence[int] = (0, 1, 2), p: float = 0.5, seed: Any = None):
        super().__init__(seed)
        self.axes = tuple(axes)
        if not all(a in (0, 1, 2) for a in self.axes):
            raise ValueError(f"RandomFlip: axes must be spatial axes 0, 1, 2, got {self.axes}")
        self.p = check_p(p)

    def draw(self, rng: np.random.Generator, spatial: tuple[int, ...]) -> tuple[int, ...]:
        """The axes flipped this time."""
        return tuple(a for a in self.axes if rng.random() < self.p)

    def image(self, image, axes):
        """The image with ``axes`` reversed."""
        return np.ascontiguousarray(np.flip(image, [a + 1 for a in axes])) if axes else image

    label = image


def _crop(x, start, size):
    return np.ascontiguousarray(
        x[
            :,
            start[0] : start[0] + size[0],
            start[1] : start[1] + size[1],
            start[2] : start[2] + size[2],
        ]
    )


class CenterCrop(Transform):
    """Cut the central ``size`` (int or (D, H, W)) block; the volume must be at least that big
    (pad first with ``PadToSize``)."""

    def __init__(self, size: IntOrSeq):
        super().__init__()
        self.size = _size(size, "size")

    def _check(self, spatial):
        if any(s < c for s, c in zip(spatial, self.size)):
            raise ValueError(
                f"{type(self).__name__}: volume {spatial} is smaller than the crop "
                f"{self.size}; pad it first (PadToSize)"
            )

    def draw(self, rng: np.random.Generator, spatial: tuple[int, ...]) -> tuple[int, ...]:
        """The crop's start corner."""
        self._check(spatial)
        return tuple((s - c) // 2 for s, c in zip(spatial, self.size))

    def image(self, image, start):
        """The cropped block."""
        return _crop(image, start, self.size)

    label = image


class RandomCrop(CenterCrop):
    """Cut a ``size`` block at a uniformly random position."""

    is_random = True

    def __init__(self, size: IntOrSeq, seed: Any = None):
        super().__init__(size)
        Transform.__init__(self, seed)

    def draw(self, rng: np.random.Generator, spatial: tuple[int, ...]) -> tuple[int, ...]:
        """The crop's random start corner."""
        self._check(spatial)
        return tuple(int(rng.integers(0, s - c + 1)) for s, c in zip(spatial, self.size))


class PadToSize(Transform):
    """Pad each spatial axis shorter than ``size`` to that length, evenly on both sides (the
    odd voxel at the end); longer axes stay as they are. Images are padded with ``value``,
    label maps with 0 (background)."""

    def __init__(self, size: IntOrSeq, value: float = 0.0):
        super().__init__()
        self.size, self.value = _size(size, "size"), value

    def draw(self, rng: np.random.Generator, spatial: tuple[int, ...]) -> list[tuple[int, int]]:
        """(before, after) padding per axis."""
        extra = [max(c - s, 0) for s, c in zip(spatial, self.size)]
        return [(0, 0)] + [(e // 2, e - e // 2) for e in extra]

    def image(self, image: np.ndarray, pads: list[tuple[int, int]]) -> np.ndarray:
        """The padded image."""
        return np.pad(image, pads, constant_values=self.value)

    def label(self, label: np.ndarray, pads: list[tuple[int, int]]) -> np.ndarray:
        """The label map padded with 0."""
        return np.pad(label, pads, constant_values=0)


class RandomRotate90(Transform):
    """With probability ``p``, rotate by k * 90 degrees (k uniform in 1..max_k) in ``plane``
    (two spatial axes, default (1, 2): H-W), like ``np.rot90``."""

    is_random = True

    def __init__(
        self, plane: Sequence[int] = (1, 2), p: float = 0.5, max_k: int = 3, seed: Any = None
    ):
        super().__init__(seed)
        plane = tuple(plane)
        if len(plane) != 2 or plane[0] == plane[1] or not all(a in (0, 1, 2) for a in plane):
            raise ValueError(
                f"RandomRotate90: plane must be two different spatial axes of 0, 1, 2, got {plane}"
            )
        if max_k not in (1, 2, 3):
            raise ValueError(f"RandomRotate90: max_k must be 1, 2 or 3, got {max_k}")
        self.plane, self.p, self.max_k = plane, check_p(p), max_k

    def draw(self, rng: np.random.Generator, spatial: tuple[int, ...]) -> int:
        """The number of quarter turns."""
        return int(rng.integers(1, self.max_k + 1)) if rng.random() < self.p else 0

    def image(self, image, k):
        """The rotated image."""
        axes = (self.plane[0] + 1, self.plane[1] + 1)
        return np.ascontiguousarray(np.rot90(image, k, axes)) if k else image

    label = image


def _rotation(angles):
    """R = R_dh(c) @ R_dw(b) @ R_hw(a): rotations (radians) in the H-W, D-W and D-H planes."""
    a, b, c = angles
    r_hw = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
    r_dw = np.array([[math.cos(b), 0, -math.sin(b)], [0, 1, 0], [math.sin(b), 0, math.cos(b)]])
    r_dh = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return r_dh @ r_dw @ r_hw


def affine_coords(
    spatial: Sequence[int],
    rotation: npt.ArrayLike,
    scale: npt.ArrayLike,
    translation: npt.ArrayLike,
) -> np.ndarray:
    """Source positions (3, D, H, W) of every output voxel for the warp
    ``out = R S (in - c) + c + t`` about the volume centre ``c``."""
    rotation, scale, translation = (
        np.asarray(v, np.float64) for v in (rotation, scale, translation)
    )
    centre = (np.array(spatial, np.float64) - 1) / 2
    inverse = np.linalg.inv(_rotation(rotation) @ np.diag(scale))
    grid = np.stack(np.meshgrid(*[np.arange(s, dtype=np.float64) for s in spatial], indexing="ij"))
    shifted = grid - (centre + translation).reshape(3, 1, 1, 1)
    if np.array_equal(inverse, np.eye(3)):  # exact for pure translations
        return shifted + centre.reshape(3, 1, 1, 1)
    return np.einsum("ij,j...->i...", inverse, shifted) + centre.reshape(3, 1, 1, 1)


class Affine(Transform):
    """A fixed affine warp about the volume centre: ``rotation`` (radians, in the H-W, D-W and
    D-H planes), ``scale`` (> 1 enlarges the content) and ``translation`` (voxels, positive
    moves content towards higher indices), each a number or one per axis (D, H, W). Images are
    resampled trilinearly, label maps nearest-neighbour; outside the volume reads ``cval``
    (label maps: 0)."""

    def __init__(
        self,
        rotation: float | Sequence[float] = 0.0,
        scale: float | Sequence[float] = 1.0,
        translation: float | Sequence[float] = 0.0,
        cval: float = 0.0,
    ):
        super().__init__()
        self.rotation = triple(rotation, "rotation")
        self.scale = triple(scale, "scale", positive=True)
        self.translation = triple(translation, "translation")
        self.cval = cval

    def draw(self, rng: np.random.Generator, spatial: tuple[int, ...]) -> np.ndarray | None:
        """The source coordinates of every output voxel."""
        return affine_coords(spatial, self.rotation, self.scale, self.translation)

    def image(self, image: np.ndarray, coords: np.ndarray) -> np.ndarray:
        """The image resampled trilinearly."""
        return sample(image, coords, 1, self.cval)

    def label(self, label: np.ndarray, coords: np.ndarray) -> np.ndarray:
        """The label map resampled nearest-neighbour (its values stay a subset of the input's)."""
        return sample(label, coords, 0, 0)


class RandomAffine(Affine):
    """With probability ``p``, a random affine warp: rotation angles uniform in
    ``+-degrees`` (per plane), an isotropic scale uniform in ``scale`` (a (low, high) range),
    a translation uniform in ``+-translate`` voxels per axis; resampling as in ``Affine``."""

    is_random = True

    def __init__(
        self,
        degrees: float | Sequence[float] = 15.0,
        scale: Sequence[float] = (0.9, 1.1),
        translate: float | Sequence[float] = 0.0,
        p: float = 1.0,
        cval: float = 0.0,
        seed: Any = None,
    ):
        super().__init__(cval=cval)
        Transform.__init__(self, seed)
        self.degrees = triple(degrees, "degrees")
        self.scale_range = tuple(float(s) for s in scale)
        if len(self.scale_range) != 2 or not 0 < self.scale_range[0] <= self.scale_range[1]:
            raise ValueError(
                f"RandomAffine: scale must be a (low, high) range with 0 < low <= high, got {scale}"
            )
        self.translate = triple(translate, "translate")
        self.p = check_p(p)

    def draw(self, rng, spatial):
        """Source coordinates of one random warp (identity positions when not applied)."""
        if rng.random() >= self.p:
            return None
        rotation = [math.radians(rng.uniform(-d, d)) for d in self.degrees]
        scale = rng.uniform(*self.scale_range)
        translation = [rng.uniform(-t, t) for t in self.translate]
        return affine_coords(spatial, rotation, (scale,) * 3, translation)

    def image(self, image: np.ndarray, coords: np.ndarray | None) -> np.ndarray:
        """The warped image (unchanged when not applied)."""
        return image if coords is None else super().image(image, coords)

    def label(self, label: np.ndarray, coords: np.ndarray | None) -> np.ndarray:
        """The warped label map (unchanged when not applied)."""
        return label if coords is None else super().label(label, coords)


class Resize(Transform):
    """Resample to spatial ``size`` (int or (D, H, W)): images trilinearly with half-voxel
    centres (as ``F.interpolate(mode="trilinear", align_corners=False)``), label maps
    nearest (as ``mode="nearest"``)."""

    def __init__(self, size: IntOrSeq):
        super().__init__()
        self.size = _size(size, "size")

    def _resize(self, x, linear):
        for axis, n in enumerate(self.size):
            x = resize_axis(x, axis + 1, n, linear)
        return x

    def image(self, image: np.ndarray, params: Any) -> np.ndarray:
        """The resized image (float)."""
        out = self._resize(image, True)
        return out.astype(image.dtype if image.dtype.kind == "f" else np.float32)

    def label(self, label: np.ndarray, params: Any) -> np.ndarray:
        """The resized label map (nearest: same dtype, no new values)."""
        return self._resize(label, False)
