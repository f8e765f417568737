"""Surface-distance metrics of one-hot segmentations: Hausdorff distance (and its percentiles),
average surface distance and normalized surface Dice, in physical units given the voxel
``spacing`` (MONAI's ``compute_hausdorff_distance``, ``compute_average_surface_distance``,
``compute_surface_dice``).

A mask's surface is its voxels that ``binary_erosion`` (face-connected, everything outside the
volume counted as background) removes: ``mask XOR erode(mask)``, as MONAI's
``get_mask_edges``. Distances from one surface to the other come from scipy's exact Euclidean
distance transform with anisotropic ``sampling=spacing`` (scipy: ``pip install lucid[metrics]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lucid.metrics._utils import Array, drop_background, like, per_sample_spacing, segmentation_pair

_METRICS = ("euclidean", "chessboard", "taxicab")


def _ndimage() -> Any:
    try:
        import scipy.ndimage as ndimage
    except ImportError as e:  # an optional extra: Lucid itself needs only mlx and numpy
        raise ImportError(
            "surface-distance metrics need scipy: pip install lucid[metrics] (or pip install scipy)"
        ) from e
    return ndimage


def _surface(mask: np.ndarray) -> np.ndarray:
    """The surface voxels of a bool mask: ``mask XOR erode(mask)`` with a face-connected
    structuring element, voxels outside the array counting as background (so a mask touching
    the border has a surface there), as ``scipy.ndimage.binary_erosion`` does by default."""
    if not mask.any():
        return mask.copy()
    padded = np.pad(mask, 1)
    core = tuple(slice(1, -1) for _ in range(mask.ndim))
    interior = mask.copy()
    for axis in range(mask.ndim):
        for step in (-1, 1):
            shifted = list(core)
            shifted[axis] = slice(1 + step, padded.shape[axis] - 1 + step)
            interior &= padded[tuple(shifted)]
    return mask & ~interior


def _crop_to_union(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both masks cut to the bounding box of their union: everything outside is background in
    both, so surfaces and the distances between them are unchanged, only cheaper."""
    union = a | b
    box = []
    for axis in range(a.ndim):
        other = tuple(i for i in range(a.ndim) if i != axis)
        hit = np.flatnonzero(union.any(axis=other))
        box.append(slice(hit[0], hit[-1] + 1))
    return a[tuple(box)], b[tuple(box)]


def _distances(
    src: np.ndarray, dst: np.ndarray, spacing: tuple | None, distance_metric: str
) -> np.ndarray:
    """Distance from each ``src`` surface voxel to the nearest ``dst`` surface voxel (float32),
    with MONAI's empty cases: an empty ``dst`` gives inf for each ``src`` voxel, an empty
    ``src`` against a non-empty ``dst`` gives inf for each ``dst`` voxel."""
    if not dst.any():
        return np.full(int(src.sum()), np.inf, np.float32)
    if not src.any():
        return np.full(int(dst.sum()), np.inf, np.float32)
    ndimage = _ndimage()
    if distance_metric == "euclidean":
        field = ndimage.distance_transform_edt(~dst, sampling=spacing)
    else:  # chamfer distances count voxel steps; MONAI ignores the spacing for them too
        field = ndimage.distance_transform_cdt(~dst, metric=distance_metric)
    # float32 like MONAI's, so thresholds compare on the same values
    return field[src].astype(np.float32)


def _surface_distances(
    y_pred: Array,
    y: Array,
    include_background: bool,
    spacing: Any,
    distance_metric: str,
    symmetric: bool,
) -> tuple[list, tuple[int, int]]:
    """For every (sample, class): the directed surface distances pred -> gt (and gt -> pred
    when ``symmetric``), with the (B, C) shape of the result."""
    if distance_metric not in _METRICS:
        raise ValueError(f"distance_metric must be one of {_METRICS}, got {distance_metric!r}")
    p, g = segmentation_pair(y_pred, y)
    p, g = drop_background(p, g, include_background)
    batch, classes = p.shape[:2]
    spacings = per_sample_spacing(spacing, batch, p.ndim - 2)
    out = []
    for b in range(batch):
        row = []
        for c in range(classes):
            pc, gc = p[b, c], g[b, c]
            if not (pc.any() or gc.any()):
                row.append([np.zeros(0, np.float32)] * (2 if symmetric else 1))
                continue
            ep, eg = (_surface(m) for m in _crop_to_union(pc, gc))
            d = [_distances(ep, eg, spacings[b], distance_metric)]
            if symmetric:
                d.append(_distances(eg, ep, spacings[b], distance_metric))
            row.append(d)
        out.append(row)
    return out, (batch, classes)


def _check_percentile(percentile: float | None) -> None:
    if percentile is not None and not 0 <= percentile <= 100:
        raise ValueError(f"percentile must be between 0 and 100, got {percentile}")


def _hausdorff(d: np.ndarray, percentile: float | None) -> float:
    if d.size == 0:
        return np.nan
    if not percentile:  # MONAI takes the maximum for None and for 0 alike
        return float(d.max())
    if np.isinf(d).all():  # inf - inf in the interpolation: NaN, as torch.quantile gives
        return np.nan
    return float(np.percentile(d.astype(np.float64), percentile))


def hausdorff_distance(
    y_pred: Array,
    y: Array,
    include_background: bool = False,
    distance_metric: str = "euclidean",
    percentile: float | None = None,
    directed: bool = False,
    spacing: Any = None,
) -> Array:
    """Hausdorff distance between the surfaces of ``y_pred`` and ``y``, per sample and class:
    shape (B, C), in the units of ``spacing``.

    ``y_pred``/``y``: binarized one-hot (B, C, spatial...) arrays or Tensors. ``percentile``
    (e.g. 95) takes that percentile of each direction's distances instead of the maximum;
    ``directed`` measures pred -> gt only. ``spacing``: None (1 per axis), a number, one value
    per spatial axis, or one such sequence per sample. Empty masks as MONAI: an empty
    prediction or ground truth gives inf (NaN with a percentile), both empty NaN.
    """
    _check_percentile(percentile)
    dists, shape = _surface_distances(
        y_pred, y, include_background, spacing, distance_metric, not directed
    )
    out = np.empty(shape, np.float64)
    for b, row in enumerate(dists):
        for c, ds in enumerate(row):
            # np.max keeps a NaN, as MONAI's torch.max over the two directions does
            out[b, c] = np.max([_hausdorff(d, percentile) for d in ds])
    return like(out, y_pred, y)


def average_surface_distance(
    y_pred: Array,
    y: Array,
    include_background: bool = False,
    symmetric: bool = False,
    distance_metric: str = "euclidean",
    spacing: Any = None,
) -> Array:
    """Mean distance from the surface of ``y_pred`` to that of ``y`` per sample and class,
    shape (B, C); ``symmetric`` averages the distances of both directions together (average
    symmetric surface distance). Inputs and ``spacing`` as :func:`hausdorff_distance`; an empty
    prediction or ground truth gives inf, both empty NaN.
    """
    dists, shape = _surface_distances(
        y_pred, y, include_background, spacing, distance_metric, symmetric
    )
    out = np.empty(shape, np.float64)
    for b, row in enumerate(dists):
        for c, ds in enumerate(row):
            d = np.concatenate(ds)
            out[b, c] = np.nan if d.size == 0 else d.astype(np.float64).mean()
    return like(out, y_pred, y)


def surface_dice(
    y_pred: Array,
    y: Array,
    class_thresholds: Any,
    include_background: bool = False,
    distance_metric: str = "euclidean",
    spacing: Any = None,
) -> Array:
    """Normalized surface Dice per sample and class, shape (B, C): the share of both surfaces'
    voxels lying within ``class_thresholds[c]`` (in the units of ``spacing``, e.g. mm) of the
    other surface. One threshold per class after dropping the background when
    ``include_background`` is False. A class in only one of prediction and ground truth gives
    0, in neither NaN (MONAI's ``compute_surface_dice`` without subvoxels).
    """
    thresholds = np.asarray(class_thresholds, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(thresholds)) or np.any(thresholds < 0):
        raise ValueError(f"class_thresholds must be finite and >= 0, got {class_thresholds}")
    dists, shape = _surface_distances(y_pred, y, include_background, spacing, distance_metric, True)
    if len(thresholds) != shape[1]:
        raise ValueError(
            f"class_thresholds has {len(thresholds)} values but there are {shape[1]} classes "
            f"(include_background={include_background})"
        )
    # MONAI compares float32 distances with the threshold in float32
    limits = thresholds.astype(np.float32)
    out = np.empty(shape, np.float64)
    for b, row in enumerate(dists):
        for c, (to_gt, to_pred) in enumerate(row):
            total = to_gt.size + to_pred.size
            within = int((to_gt <= limits[c]).sum() + (to_pred <= limits[c]).sum())
            out[b, c] = np.nan if total == 0 else within / total
    return like(out, y_pred, y)
