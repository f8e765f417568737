"""NIfTI volumes (.nii, .nii.gz) through nibabel, an optional extra (``pip install
lucid[nifti]``), imported only when a file is read or written.

The contract: a volume's array axes are the file's voxel axes, never reordered, so voxel
(i, j, k) of ``Volume.array`` sits at world position ``Volume.affine @ (i, j, k, 1)`` (the
position nibabel gives for it). Transforms that reorder axes (``lucid.transforms.Orientation``)
update the affine with them."""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from lucid.transforms._grid import axcodes, check_affine, spacing

__all__ = ["Volume", "read_volume", "write_volume", "read_sample"]

_EXTENSIONS = (".nii", ".nii.gz")


def _nibabel():
    try:
        import nibabel
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "lucid.io reads and writes NIfTI with nibabel, an optional extra: "
            "pip install lucid[nifti]"
        ) from err
    return nibabel


def _nifti_path(path: Any, name: str) -> pathlib.Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name}: path must be a str or os.PathLike, got {type(path).__name__}")
    p = pathlib.Path(path)
    if not p.name.lower().endswith(_EXTENSIONS):
        raise ValueError(
            f"{name}: unsupported file type {p.name!r}; lucid.io handles NIfTI "
            f"({', '.join(_EXTENSIONS)})"
        )
    return p


@dataclasses.dataclass
class Volume:
    """A volume and where it lies: ``array`` (X, Y, Z) or (X, Y, Z, C), in the file's voxel
    order, and ``affine``, the 4x4 voxel-to-world matrix (world in mm, RAS+ as nibabel
    reports it) that maps voxel (i, j, k) of ``array`` to its position."""

    array: np.ndarray
    affine: np.ndarray

    def __post_init__(self) -> None:
        if not isinstance(self.array, np.ndarray) or self.array.ndim not in (3, 4):
            got = self.array.shape if isinstance(self.array, np.ndarray) else type(self.array)
            raise ValueError(f"Volume: array must be a 3-D or 4-D numpy array, got {got}")
        self.affine = check_affine(self.affine, "Volume")

    @property
    def spacing(self) -> np.ndarray:
        """The voxel size along each array axis (mm): the lengths of the affine's columns."""
        return spacing(self.affine)

    @property
    def orientation(self) -> tuple[str, ...]:
        """Where each array axis points, e.g. ``("R", "A", "S")`` (nibabel's
        ``aff2axcodes``)."""
        return axcodes(self.affine)

    def channel_first(self) -> np.ndarray:
        """The array as (C, X, Y, Z), the layout of ``lucid.transforms``' samples: a 3-D
        volume gets C = 1, a 4-D one has its last axis moved first."""
        if self.array.ndim == 3:
            return self.array[None]
        return np.ascontiguousarray(np.moveaxis(self.array, -1, 0))


def read_volume(path: str | os.PathLike, dtype: Any = None) -> Volume:
    """Read a NIfTI file into a ``Volume``: the array in the file's voxel order and dtype
    (scaled to float when the header has a scale slope), cast to ``dtype`` when given, and
    the file's affine (float64)."""
    p = _nifti_path(path, "read_volume")
    if not p.is_file():
        raise FileNotFoundError(f"read_volume: no such file: {str(p)!r}")
    nib = _nibabel()
    img = nib.load(str(p))
    array = np.asanyarray(img.dataobj)
    if array.ndim not in (3, 4):
        raise ValueError(
            f"read_volume: {p.name} holds a {array.ndim}-D array of shape {array.shape}; "
            "lucid.io reads 3-D volumes and 4-D (X, Y, Z, C) ones"
        )
    if dtype is not None:
        array = array.astype(dtype)
    return Volume(np.ascontiguousarray(array), np.array(img.affine, dtype=np.float64))


def write_volume(
    path: str | os.PathLike,
    array: np.ndarray,
    affine: Any,
    channel_first: bool = False,
) -> None:
    """Write ``array`` (X, Y, Z) or (X, Y, Z, C) with its 4x4 ``affine`` as NIfTI-1, keeping
    its dtype (bool is written as uint8). With ``channel_first`` the array is (C, X, Y, Z),
    as a transformed sample or an inverted prediction holds it; C = 1 is written 3-D.

    NIfTI-1 stores the affine in float32: reading it back gives the affine exactly when its
    entries are float32 numbers, and within float32 rounding (~1e-7 relative) otherwise."""
    p = _nifti_path(path, "write_volume")
    if not isinstance(array, np.ndarray):
        raise TypeError(f"write_volume: array must be a numpy array, got {type(array).__name__}")
    if channel_first:
        if array.ndim != 4:
            raise ValueError(
                f"write_volume: a channel-first array must be (C, X, Y, Z), got {array.shape}"
            )
        array = array[0] if array.shape[0] == 1 else np.moveaxis(array, 0, -1)
    if array.ndim not in (3, 4):
        raise ValueError(
            f"write_volume: array must be (X, Y, Z) or (X, Y, Z, C), got shape {array.shape}"
        )
    a = np.asarray(affine)
    if a.shape != (4, 4):
        raise ValueError(f"write_volume: affine must be a 4x4 matrix, got shape {a.shape}")
    a = check_affine(a, "write_volume")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    nib = _nibabel()
    try:
        img = nib.Nifti1Image(np.ascontiguousarray(array), a, dtype=array.dtype)
    except nib.spatialimages.HeaderDataError as err:
        raise ValueError(f"write_volume: NIfTI cannot store dtype {array.dtype}: {err}") from err
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, str(p))


def read_sample(
    paths: Mapping[str, str | os.PathLike],
    dtypes: Mapping[str, Any] | None = None,
    atol: float = 1e-4,
) -> dict[str, Any]:
    """Read several files of one subject (e.g. ``{"image": ..., "label": ...}``) into a
    sample for ``lucid.transforms``' dictionary transforms: each key a (C, X, Y, Z) array
    (``Volume.channel_first``, cast to ``dtypes[key]`` when given) and ``"affine"``, the grid
    they share. The files must have the same spatial size and affines equal within ``atol``
    (mm), else ValueError: a label map drawn on another grid needs resampling first."""
    if not isinstance(paths, Mapping) or not paths:
        raise TypeError(
            f"read_sample: paths must be a non-empty dict of key -> file, got {paths!r}"
        )
    if "affine" in paths:
        raise ValueError("read_sample: 'affine' is the key of the sample's affine, not a file")
    dtypes = dict(dtypes or {})
    sample: dict[str, Any] = {}
    first: tuple[str, Volume] | None = None
    for key, path in paths.items():
        vol = read_volume(path, dtypes.get(key))
        if first is None:
            first = (key, vol)
        else:
            k0, v0 = first
            if vol.array.shape[:3] != v0.array.shape[:3]:
                raise ValueError(
                    f"read_sample: {key!r} has spatial size {vol.array.shape[:3]}, {k0!r} "
                    f"{v0.array.shape[:3]}"
                )
            if not np.allclose(vol.affine, v0.affine, rtol=0, atol=atol):
                raise ValueError(
                    f"read_sample: {key!r} and {k0!r} lie on different grids (affines differ "
                    f"by up to {np.abs(vol.affine - v0.affine).max():.3g} > atol={atol}):\n"
                    f"{vol.affine}\nvs\n{v0.affine}"
                )
        sample[key] = vol.channel_first()
    assert first is not None
    sample["affine"] = first[1].affine
    return sample
