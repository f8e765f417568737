"""Dictionary transforms: a sample is a dict such as ``{"image": (C, X, Y, Z), "label":
(1, X, Y, Z), "affine": 4x4}`` (what ``lucid.io.read_sample`` returns). ``keys=`` names the
arrays a transform acts on (MONAI's convention); every key shares one voxel grid, described by
the sample's ``"affine"``, which geometric transforms update so that the arrays and the affine
keep agreeing. Each geometric transform appends a record of what it did to the sample's
``"transforms"`` list, so that ``invert`` can map a prediction back onto the original scan."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from lucid.transforms._grid import check_affine
from lucid.transforms.base import Transform, as_generator

__all__ = [
    "MapTransform",
    "ScaleIntensityRange",
    "CropForeground",
    "RandCropByPosNegLabel",
    "TRACE_KEY",
]

TRACE_KEY = "transforms"  # the sample's list of records (one per geometric transform)


def _keys(keys: Any, name: str) -> tuple[str, ...]:
    out = (keys,) if isinstance(keys, str) else tuple(keys)
    if not out or not all(isinstance(k, str) for k in out):
        raise TypeError(f"{name}: keys must be a key or a sequence of keys, got {keys!r}")
    return out


def spatial3(value: Any, name: str) -> tuple[int, ...]:
    """An int or 3 ints as a 3-tuple of ints (one per spatial axis)."""
    value = (value,) * 3 if isinstance(value, numbers.Integral) else tuple(value)
    if len(value) != 3 or not all(isinstance(v, numbers.Integral) for v in value):
        raise ValueError(f"{name} must be an int or 3 ints (one per spatial axis), got {value}")
    return tuple(int(v) for v in value)


class MapTransform(Transform):
    """Base of the dictionary transforms: ``t(sample)`` returns a new dict (the input is not
    modified) with the arrays under ``keys`` transformed alike; a list of samples (as
    ``RandCropByPosNegLabel`` returns) is transformed sample by sample. Arrays are numpy
    (C, X, Y, Z), all with the same spatial size; ``allow_missing_keys`` skips absent keys.
    Randomness follows ``Transform``: ``rng=`` when given, else the transform's Generator
    seeded by ``seed``.

    Subclasses implement ``apply(sample, keys, rng)`` on a shallow copy of the sample."""

    def __init__(
        self,
        keys: str | Sequence[str],
        allow_missing_keys: bool = False,
        affine_key: str = "affine",
        seed: Any = None,
    ):
        super().__init__(seed)
        self.keys = _keys(keys, type(self).__name__)
        self.allow_missing_keys = allow_missing_keys
        self.affine_key = affine_key

    def apply(self, sample: dict, keys: tuple[str, ...], rng: np.random.Generator) -> Any:
        """Transform the arrays ``keys`` of ``sample`` (a shallow copy, safe to assign into);
        return the sample (or a list of samples)."""
        raise NotImplementedError

    def __call__(self, sample: Any, label: Any = None, *, rng: Any = None) -> Any:
        name = type(self).__name__
        if label is not None:
            raise TypeError(f"{name} is a dictionary transform: call it on one sample dict")
        rng = self.generator if rng is None else as_generator(rng)
        if isinstance(sample, list):
            out: list = []
            for s in sample:
                r = self(s, rng=rng)
                out.extend(r if isinstance(r, list) else [r])
            return out
        if not isinstance(sample, Mapping):
            raise TypeError(f"{name}: expected a sample dict, got {type(sample).__name__}")
        keys = self.present(sample, self.keys)
        return self.apply(dict(sample), keys, rng)

    def present(self, sample: Mapping, keys: Sequence[str]) -> tuple[str, ...]:
        """The ``keys`` found in ``sample`` (all of them unless ``allow_missing_keys``), each
        checked to be a (C, X, Y, Z) numpy array of one common spatial size."""
        name = type(self).__name__
        missing = [k for k in keys if k not in sample]
        if missing and not self.allow_missing_keys:
            raise KeyError(
                f"{name}: the sample has no {missing} (it has {sorted(map(str, sample))}); "
                "pass allow_missing_keys=True to skip absent keys"
            )
        found = tuple(k for k in keys if k in sample)
        spatial = None
        for k in found:
            x = sample[k]
            if not isinstance(x, np.ndarray):
                raise TypeError(f"{name}: sample[{k!r}] must be a numpy array, got {type(x)}")
            if x.ndim != 4:
                raise ValueError(
                    f"{name}: sample[{k!r}] must have shape (C, X, Y, Z), got {x.shape}"
                )
            if spatial is not None and x.shape[1:] != spatial:
                raise ValueError(
                    f"{name}: the arrays under {found} must share one spatial size, got "
                    f"{spatial} and {x.shape[1:]} (sample[{k!r}])"
                )
            spatial = x.shape[1:]
        return found

    def require(self, sample: Mapping, key: str, like: Sequence[str] = ()) -> np.ndarray:
        """``sample[key]``, which must be there (whatever ``allow_missing_keys``), checked as
        a (C, X, Y, Z) array with the spatial size of the ``like`` arrays."""
        name = type(self).__name__
        if key not in sample:
            raise KeyError(f"{name}: the sample has no {key!r} (it has {sorted(map(str, sample))})")
        x = sample[key]
        if not isinstance(x, np.ndarray) or x.ndim != 4:
            got = x.shape if isinstance(x, np.ndarray) else type(x).__name__
            raise ValueError(f"{name}: sample[{key!r}] must be a (C, X, Y, Z) array, got {got}")
        for k in like:
            if sample[k].shape[1:] != x.shape[1:]:
                raise ValueError(
                    f"{name}: sample[{key!r}] has spatial size {x.shape[1:]}, sample[{k!r}] "
                    f"{sample[k].shape[1:]}: they must share one grid"
                )
        return x

    def affine(self, sample: Mapping, required: bool) -> np.ndarray | None:
        """The sample's affine (float64 4x4), or None when absent and not ``required``."""
        if self.affine_key not in sample:
            if required:
                raise KeyError(
                    f"{type(self).__name__}: the sample has no {self.affine_key!r} (4x4 "
                    "voxel-to-world matrix); lucid.io.read_sample provides one"
                )
            return None
        return check_affine(sample[self.affine_key], type(self).__name__)

    def record(self, sample: dict, entry: dict) -> None:
        """Append ``entry`` to the sample's ``"transforms"`` list (a new list: samples that
        share the old one, such as the crops of one volume, stay apart)."""
        sample[TRACE_KEY] = list(sample.get(TRACE_KEY, [])) + [
            {"name": type(self).__name__, "affine_key": self.affine_key, **entry}
        ]


class ScaleIntensityRange(MapTransform):
    """Map the values in [a_min, a_max] linearly onto [b_min, b_max] (by default [0, 1]),
    e.g. a CT window; with ``clip`` values outside are clipped to [b_min, b_max]. Integer
    arrays come out float32, float arrays keep their dtype. Records nothing (``invert``
    undoes geometry only)."""

    def __init__(
        self,
        keys: str | Sequence[str],
        a_min: float,
        a_max: float,
        b_min: float | None = None,
        b_max: float | None = None,
        clip: bool = False,
        allow_missing_keys: bool = False,
    ):
        super().__init__(keys, allow_missing_keys)
        if a_max == a_min:
            raise ValueError(f"ScaleIntensityRange: a_min and a_max must differ, got {a_min}")
        self.a_min, self.a_max = float(a_min), float(a_max)
        self.b_min = 0.0 if b_min is None else float(b_min)
        self.b_max = 1.0 if b_max is None else float(b_max)
        self.clip = clip

    def apply(self, sample: dict, keys: tuple[str, ...], rng: np.random.Generator) -> dict:
        """The sample with the ``keys`` arrays rescaled."""
        for k in keys:
            x = sample[k]
            unit = (x.astype(np.float64) - self.a_min) / (self.a_max - self.a_min)
            out = unit * (self.b_max - self.b_min) + self.b_min
            if self.clip:
                out = np.clip(out, min(self.b_min, self.b_max), max(self.b_min, self.b_max))
            sample[k] = out.astype(x.dtype if x.dtype.kind == "f" else np.float32)
        return sample


def crop(sample: dict, keys: Sequence[str], start: Sequence[int], stop: Sequence[int]) -> None:
    """Cut the box [start, stop) out of each ``keys`` array in place of it; parts of the box
    outside the array are padded with 0."""
    for k in keys:
        x = sample[k]
        size = [b - a for a, b in zip(start, stop)]
        out = np.zeros((x.shape[0], *size), x.dtype)
        src, dst = [], []
        for a, b, n in zip(start, stop, x.shape[1:]):
            lo, hi = max(a, 0), min(b, n)
            src.append(slice(lo, max(hi, lo)))
            dst.append(slice(lo - a, lo - a + max(hi - lo, 0)))
        out[tuple([slice(None), *dst])] = x[tuple([slice(None), *src])]
        sample[k] = out


def crop_affine(affine: np.ndarray, start: Sequence[int]) -> np.ndarray:
    """The affine of the box whose voxel 0 is voxel ``start`` of the grid ``affine``."""
    shift = np.eye(4)
    shift[:3, 3] = start
    return affine @ shift


class _Crop(MapTransform):
    def crop_sample(
        self,
        sample: dict,
        keys: tuple[str, ...],
        spatial: Sequence[int],
        start: Sequence[int],
        stop: Sequence[int],
    ) -> dict:
        affine = self.affine(sample, required=False)
        crop(sample, keys, start, stop)
        entry: dict[str, Any] = {
            "keys": keys,
            "shape_before": tuple(spatial),
            "shape_after": tuple(b - a for a, b in zip(start, stop)),
            "start": tuple(int(s) for s in start),
        }
        if affine is not None:
            sample[self.affine_key] = crop_affine(affine, start)
            entry["affine_before"] = affine
            entry["affine_after"] = sample[self.affine_key]
        self.record(sample, entry)
        return sample


class CropForeground(_Crop):
    """Crop the ``keys`` arrays to the bounding box of the foreground of ``source_key``:
    voxels where ``select_fn(source)`` holds in any of ``channel_indices`` (default
    ``source > 0``, all channels), grown by ``margin`` voxels per side, then grown evenly to
    a multiple of ``k_divisible``. With ``allow_smaller=False`` (MONAI's default) a box that
    reaches past the volume is padded with 0; with True it stops at the volume's edges. The
    affine moves to the box's corner. A volume with no foreground is left whole (MONAI
    returns an empty crop)."""

    def __init__(
        self,
        keys: str | Sequence[str],
        source_key: str,
        select_fn: Callable[[np.ndarray], np.ndarray] | None = None,
        channel_indices: int | Sequence[int] | None = None,
        margin: int | Sequence[int] = 0,
        allow_smaller: bool = False,
        k_divisible: int | Sequence[int] = 1,
        allow_missing_keys: bool = False,
    ):
        super().__init__(keys, allow_missing_keys)
        self.source_key = source_key
        self.select_fn = select_fn
        self.channel_indices = channel_indices
        self.margin = spatial3(margin, "CropForeground: margin")
        if min(self.margin) < 0:
            raise ValueError(f"CropForeground: margin must be >= 0, got {self.margin}")
        self.allow_smaller = allow_smaller
        self.k_divisible = spatial3(k_divisible, "CropForeground: k_divisible")
        if min(self.k_divisible) < 1:
            raise ValueError(f"CropForeground: k_divisible must be >= 1, got {self.k_divisible}")

    def box(self, source: np.ndarray) -> tuple[list[int], list[int]]:
        """The crop box [start, stop) for a (C, X, Y, Z) source array."""
        ci = self.channel_indices
        if ci is not None:
            source = source[[int(ci)] if isinstance(ci, (int, np.integer)) else list(ci)]
        fg = np.asarray(source > 0 if self.select_fn is None else self.select_fn(source))
        if fg.shape != source.shape:
            raise ValueError(
                f"CropForeground: select_fn must return a mask of the source's shape "
                f"{source.shape}, got {fg.shape}"
            )
        fg = np.asarray(fg.any(axis=0))
        spatial = fg.shape
        if not fg.any():
            return [0, 0, 0], list(spatial)
        start, stop = [], []
        for axis in range(3):
            hit = np.flatnonzero(fg.any(axis=tuple(a for a in range(3) if a != axis)))
            lo, hi = int(hit[0]) - self.margin[axis], int(hit[-1]) + 1 + self.margin[axis]
            if self.allow_smaller:
                lo, hi = max(lo, 0), min(hi, spatial[axis])
            k = self.k_divisible[axis]
            size = -(-(hi - lo) // k) * k
            lo -= (size - (hi - lo)) // 2
            start.append(lo)
            stop.append(lo + size)
        return start, stop

    def apply(self, sample: dict, keys: tuple[str, ...], rng: np.random.Generator) -> dict:
        """The sample cropped to the foreground box."""
        source = self.require(sample, self.source_key, keys)
        start, stop = self.box(source)
        return self.crop_sample(sample, keys, source.shape[1:], start, stop)


class RandCropByPosNegLabel(_Crop):
    """``num_samples`` random crops of ``spatial_size`` (an int or 3; entries <= 0 take the
    whole axis), each centred on a foreground voxel of ``label_key`` (label > 0) with
    probability ``pos / (pos + neg)``, else on a background voxel, then moved inside the
    volume. With ``image_key``, only voxels where that image exceeds ``image_threshold`` are
    candidates (e.g. inside the body). Returns a list of ``num_samples`` samples, each with
    its own affine and record. Draws come from ``rng=`` or the transform's Generator: one
    Bernoulli (foreground or not) and one uniform voxel index per crop."""

    is_random = True

    def __init__(
        self,
        keys: str | Sequence[str],
        label_key: str,
        spatial_size: int | Sequence[int],
        pos: float = 1.0,
        neg: float = 1.0,
        num_samples: int = 1,
        image_key: str | None = None,
        image_threshold: float = 0.0,
        allow_missing_keys: bool = False,
        seed: Any = None,
    ):
        super().__init__(keys, allow_missing_keys)
        Transform.__init__(self, seed)
        self.label_key, self.image_key = label_key, image_key
        self.spatial_size = spatial3(spatial_size, "RandCropByPosNegLabel: spatial_size")
        if pos < 0 or neg < 0 or pos + neg == 0:
            raise ValueError(
                f"RandCropByPosNegLabel: pos and neg must be >= 0 and not both 0, got "
                f"pos={pos}, neg={neg}"
            )
        if not isinstance(num_samples, numbers.Integral) or num_samples < 1:
            raise ValueError(f"RandCropByPosNegLabel: num_samples must be >= 1, got {num_samples}")
        self.pos: float = float(pos)
        self.neg: float = float(neg)
        self.num_samples: int = int(num_samples)
        self.image_threshold: float = image_threshold

    def candidates(self, sample: Mapping) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices of the foreground and of the background voxels to centre crops on."""
        label = self.require(sample, self.label_key)
        fg = (label > 0).any(axis=0)
        bg = ~fg
        if self.image_key is not None:
            image = self.require(sample, self.image_key, [self.label_key])
            body = (image > self.image_threshold).any(axis=0)
            fg, bg = fg & body, bg & body
        return np.flatnonzero(fg), np.flatnonzero(bg)

    def apply(self, sample: dict, keys: tuple[str, ...], rng: np.random.Generator) -> list:
        """``num_samples`` cropped copies of the sample."""
        spatial = self.require(sample, self.label_key, keys).shape[1:]
        size = [s if s > 0 else n for s, n in zip(self.spatial_size, spatial)]
        if any(s > n for s, n in zip(size, spatial)):
            raise ValueError(
                f"RandCropByPosNegLabel: spatial_size {tuple(size)} is larger than the volume "
                f"{spatial}; pad it first (e.g. lucid.transforms.PadToSize)"
            )
        fg, bg = self.candidates(sample)
        if fg.size == 0 and bg.size == 0:
            raise ValueError(
                "RandCropByPosNegLabel: no voxel to centre a crop on (the image is at or below "
                f"image_threshold={self.image_threshold} everywhere)"
            )
        out = []
        for _ in range(self.num_samples):
            want_fg = rng.random() < self.pos / (self.pos + self.neg)
            pool = fg if (want_fg and fg.size) or bg.size == 0 else bg
            centre = np.unravel_index(pool[int(rng.integers(pool.size))], spatial)
            # the crop around the centre, moved inside the volume
            start = [min(max(int(c) - s // 2, 0), n - s) for c, s, n in zip(centre, size, spatial)]
            stop = [a + s for a, s in zip(start, size)]
            out.append(self.crop_sample(dict(sample), keys, spatial, start, stop))
        return out
