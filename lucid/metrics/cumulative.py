"""Metric objects that gather per-sample values over a validation loop, then reduce them (MONAI's
``DiceMetric``, ``MeanIoU``, ``HausdorffDistanceMetric``, ``SurfaceDistanceMetric``,
``SurfaceDiceMetric``, ``ConfusionMatrixMetric`` and ``do_metric_reduction``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lucid.metrics import distance, segmentation
from lucid.metrics._utils import Array, device_of, like, output, to_numpy

REDUCTIONS = ("mean", "sum", "mean_batch", "sum_batch", "mean_channel", "sum_channel", "none")


def _check_reduction(reduction: str) -> str:
    reduction = str(getattr(reduction, "value", reduction)).lower()  # MONAI's enum works too
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def do_metric_reduction(f: Array, reduction: str = "mean") -> tuple[Array, Array]:
    """Reduce (B, C, ...) per-sample, per-class values, skipping NaN; returns ``(values,
    not_nans)``, ``not_nans`` counting the values that entered each result.

    "mean": each sample's mean over its non-NaN classes, then the mean over the samples that
    had any (0 where nothing was valid); "sum": the sum of all non-NaN values;
    "mean_batch"/"sum_batch": per class over the batch; "mean_channel"/"sum_channel": per
    sample over the classes; "none": ``f`` as it is. As MONAI's ``do_metric_reduction``.
    """
    reduction = _check_reduction(reduction)
    x = to_numpy(f, "f").astype(np.float64)
    if x.ndim < 2:
        raise ValueError(f"f must have shape (B, C, ...), got {x.shape}")
    valid = ~np.isnan(x)
    if reduction == "none":
        return like(x, f), like(valid, f)
    x = np.where(valid, x, 0.0)

    def mean(total: np.ndarray, count: np.ndarray) -> np.ndarray:
        return np.divide(total, count, out=np.zeros_like(total), where=count > 0)

    if reduction == "mean":
        count = valid.sum(1)
        per_sample = mean(x.sum(1), count)
        samples = (count > 0).sum(0)
        out, not_nans = mean(per_sample.sum(0), samples), samples
    elif reduction == "sum":
        out, not_nans = x.sum((0, 1)), valid.sum((0, 1))
    elif reduction in ("mean_batch", "sum_batch"):
        not_nans = valid.sum(0)
        out = x.sum(0) if reduction == "sum_batch" else mean(x.sum(0), not_nans)
    else:  # per sample, over the channels
        not_nans = valid.sum(1)
        out = x.sum(1) if reduction == "sum_channel" else mean(x.sum(1), not_nans)
    return like(out, f), like(not_nans, f)


def _batch_list(x: Any) -> list:
    """A batch-first array/Tensor as one item, or a list of channel-first ones as batches of 1."""
    if isinstance(x, (list, tuple)):
        return [v[None] if isinstance(v, np.ndarray) else v.unsqueeze(0) for v in x]
    return [x]


class _CumulativeMetric:
    """Shared machinery: ``__call__``/``update`` compute a batch's (B, C[, 4]) values and keep
    them; ``aggregate`` reduces everything kept since the last ``reset``."""

    _keywords: tuple[str, ...] = ()  # the keyword arguments a call takes (MONAI's **kwargs)

    def __init__(self, reduction: str = "mean", get_not_nans: bool = False) -> None:
        self.reduction = _check_reduction(reduction)
        self.get_not_nans = get_not_nans
        self._buffer: list[np.ndarray] = []
        self._device: str | None = None  # where results go: a Tensor input's device, or numpy

    def _compute(self, y_pred: Array, y: Array, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, y_pred: Array, y: Array, **kwargs: Any) -> Array:
        """Compute this batch's per-sample, per-class values, keep them, and return them.
        ``y_pred``/``y``: batch-first one-hot arrays or Tensors, or lists of channel-first
        ones (each sample may then have its own size)."""
        unknown = set(kwargs) - set(self._keywords)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword arguments {sorted(unknown)}"
                + (f" (it takes {', '.join(self._keywords)}=)" if self._keywords else "")
            )
        preds, targets = _batch_list(y_pred), _batch_list(y)
        if len(preds) != len(targets):
            raise ValueError(f"got {len(preds)} predictions but {len(targets)} targets")
        values = [
            np.asarray(self._compute(p, t, **kwargs), np.float32) for p, t in zip(preds, targets)
        ]
        out = np.concatenate(values)
        if self._buffer and out.shape[1:] != self._buffer[0].shape[1:]:
            raise ValueError(
                f"this batch gives values of shape {out.shape[1:]} per sample, earlier "
                f"batches {self._buffer[0].shape[1:]} (a different number of classes?)"
            )
        self._buffer.append(out)
        self._device = device_of(*preds, *targets)
        return output(out, self._device)

    def update(self, y_pred: Array, y: Array, **kwargs: Any) -> Array:
        """The same as calling the metric: add a batch, return its values."""
        return self(y_pred, y, **kwargs)

    def get_buffer(self) -> Array:
        """Every value kept since the last ``reset``, concatenated over the batches."""
        if not self._buffer:
            raise RuntimeError(f"{type(self).__name__} holds no values: call it on a batch first")
        return output(np.concatenate(self._buffer), self._device)

    def __len__(self) -> int:
        return sum(len(b) for b in self._buffer)

    def reset(self) -> None:
        """Forget the kept values (at the start of each validation pass)."""
        self._buffer = []

    def aggregate(self, reduction: str | None = None) -> Any:
        """The kept values reduced with ``reduction`` (default: the one given at construction);
        ``(values, not_nans)`` when ``get_not_nans``."""
        f, not_nans = do_metric_reduction(self.get_buffer(), reduction or self.reduction)
        return (f, not_nans) if self.get_not_nans else f


class DiceMetric(_CumulativeMetric):
    """Dice over a validation pass: each call adds :func:`dice` values of a batch, ``aggregate``
    reduces them (NaN skipped)."""

    def __init__(
        self,
        include_background: bool = True,
        reduction: str = "mean",
        get_not_nans: bool = False,
        ignore_empty: bool = True,
    ) -> None:
        super().__init__(reduction, get_not_nans)
        self.include_background, self.ignore_empty = include_background, ignore_empty

    def _compute(self, y_pred: Array, y: Array, **kwargs: Any) -> np.ndarray:
        return segmentation.dice(
            to_numpy(y_pred, "y_pred"), to_numpy(y, "y"), self.include_background, self.ignore_empty
        )


class MeanIoU(_CumulativeMetric):
    """IoU over a validation pass (:func:`iou` per batch, reduced by ``aggregate``)."""

    def __init__(
        self,
        include_background: bool = True,
        reduction: str = "mean",
        get_not_nans: bool = False,
        ignore_empty: bool = True,
    ) -> None:
        super().__init__(reduction, get_not_nans)
        self.include_background, self.ignore_empty = include_background, ignore_empty

    def _compute(self, y_pred: Array, y: Array, **kwargs: Any) -> np.ndarray:
        return segmentation.iou(
            to_numpy(y_pred, "y_pred"), to_numpy(y, "y"), self.include_background, self.ignore_empty
        )


class _DistanceMetric(_CumulativeMetric):
    """A surface-distance metric: ``spacing`` is given at construction (Lucid's addition) or
    per call as ``metric(y_pred, y, spacing=...)`` (as MONAI)."""

    def __init__(
        self,
        include_background: bool,
        distance_metric: str,
        reduction: str,
        get_not_nans: bool,
        spacing: Any,
    ) -> None:
        super().__init__(reduction, get_not_nans)
        self.include_background = include_background
        self.distance_metric = distance_metric
        self.spacing = spacing

    _keywords = ("spacing",)

    def _spacing(self, kwargs: dict) -> Any:
        return kwargs.get("spacing", self.spacing)


class HausdorffDistanceMetric(_DistanceMetric):
    """Hausdorff distance (or its ``percentile``, e.g. 95) over a validation pass
    (:func:`hausdorff_distance` per batch). Infinite values (an empty mask) are not skipped
    by the reductions: only NaN is."""

    def __init__(
        self,
        include_background: bool = False,
        distance_metric: str = "euclidean",
        percentile: float | None = None,
        directed: bool = False,
        reduction: str = "mean",
        get_not_nans: bool = False,
        spacing: Any = None,
    ) -> None:
        super().__init__(include_background, distance_metric, reduction, get_not_nans, spacing)
        distance._check_percentile(percentile)
        self.percentile, self.directed = percentile, directed

    def _compute(self, y_pred: Array, y: Array, **kwargs: Any) -> np.ndarray:
        return distance.hausdorff_distance(
            to_numpy(y_pred, "y_pred"),
            to_numpy(y, "y"),
            self.include_background,
            self.distance_metric,
            self.percentile,
            self.directed,
            self._spacing(kwargs),
        )


class SurfaceDistanceMetric(_DistanceMetric):
    """Average surface distance (``symmetric``: both directions) over a validation pass
    (:func:`average_surface_distance` per batch)."""

    def __init__(
        self,
        include_background: bool = False,
        symmetric: bool = False,
        distance_metric: str = "euclidean",
        reduction: str = "mean",
        get_not_nans: bool = False,
        spacing: Any = None,
    ) -> None:
        super().__init__(include_background, distance_metric, reduction, get_not_nans, spacing)
        self.symmetric = symmetric

    def _compute(self, y_pred: Array, y: Array, **kwargs: Any) -> np.ndarray:
        return distance.average_surface_distance(
            to_numpy(y_pred, "y_pred"),
            to_numpy(y, "y"),
            self.include_background,
            self.symmetric,
            self.distance_metric,
            self._spacing(kwargs),
        )


class SurfaceDiceMetric(_DistanceMetric):
    """Normalized surface Dice with per-class tolerances ``class_thresholds`` over a
    validation pass (:func:`surface_dice` per batch)."""

    def __init__(
        self,
        class_thresholds: Sequence[float],
        include_background: bool = False,
        distance_metric: str = "euclidean",
        reduction: str = "mean",
        get_not_nans: bool = False,
        spacing: Any = None,
    ) -> None:
        super().__init__(include_background, distance_metric, reduction, get_not_nans, spacing)
        self.class_thresholds = class_thresholds

    def _compute(self, y_pred: Array, y: Array, **kwargs: Any) -> np.ndarray:
        return distance.surface_dice(
            to_numpy(y_pred, "y_pred"),
            to_numpy(y, "y"),
            self.class_thresholds,
            self.include_background,
            self.distance_metric,
            self._spacing(kwargs),
        )


class ConfusionMatrixMetric(_CumulativeMetric):
    """Confusion-matrix metrics (``metric_name``: "sensitivity", "precision", "f1 score",
    "accuracy", ... or a list of them) over a validation pass. Each call adds the batch's
    (B, C, 4) ``[tp, fp, tn, fn]``; ``aggregate`` returns a list with one result per name,
    from the reduced counts, or with ``compute_sample`` from each sample's metric, reduced."""

    def __init__(
        self,
        include_background: bool = True,
        metric_name: str | Sequence[str] = "hit_rate",
        compute_sample: bool = False,
        reduction: str = "mean",
        get_not_nans: bool = False,
    ) -> None:
        super().__init__(reduction, get_not_nans)
        self.include_background, self.compute_sample = include_background, compute_sample
        names = (metric_name,) if isinstance(metric_name, str) else tuple(metric_name)
        for name in names:
            segmentation.metric_key(name)  # an unknown name fails here, not at aggregate
        self.metric_name = names

    def _compute(self, y_pred: Array, y: Array, **kwargs: Any) -> np.ndarray:
        return segmentation.confusion_matrix(
            to_numpy(y_pred, "y_pred"), to_numpy(y, "y"), self.include_background
        )

    def aggregate(self, compute_sample: bool = False, reduction: str | None = None) -> list:  # type: ignore[override]
        """One result per metric name (each ``(values, not_nans)`` when ``get_not_nans``)."""
        data = self.get_buffer()
        results: list = []
        for name in self.metric_name:
            if compute_sample or self.compute_sample:
                per_sample = segmentation.compute_confusion_matrix_metric(name, data)
                f, not_nans = do_metric_reduction(per_sample, reduction or self.reduction)
            else:
                f, not_nans = do_metric_reduction(data, reduction or self.reduction)
                f = segmentation.compute_confusion_matrix_metric(name, f)
            results.append((f, not_nans) if self.get_not_nans else f)
        return results
