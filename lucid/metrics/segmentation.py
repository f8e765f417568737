"""Overlap metrics of one-hot segmentations: Dice, IoU and the per-class confusion matrix
(MONAI's ``compute_dice``, ``compute_iou``, ``get_confusion_matrix``,
``compute_confusion_matrix_metric``)."""

from __future__ import annotations

import numpy as np

from lucid.metrics._utils import Array, drop_background, like, segmentation_pair, to_numpy


def _counts(p: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(|P & G|, |P|, |G|) per sample and channel, summed over the spatial axes (exact ints)."""
    axes = tuple(range(2, p.ndim))
    return (p & g).sum(axes), p.sum(axes), g.sum(axes)


def dice(
    y_pred: Array, y: Array, include_background: bool = True, ignore_empty: bool = True
) -> Array:
    """Dice score ``2|P & G| / (|P| + |G|)`` per sample and class, shape (B, C).

    ``y_pred`` and ``y`` are binarized one-hot (B, C, spatial...) arrays or Tensors. Where the
    ground truth of a class is empty: NaN when ``ignore_empty`` (the reductions skip it), else
    1 if the prediction is empty too and 0 if not (MONAI's ``compute_dice``).
    """
    p, g = segmentation_pair(y_pred, y)
    p, g = drop_background(p, g, include_background)
    inter, n_pred, n_gt = _counts(p, g)
    with np.errstate(invalid="ignore", divide="ignore"):
        score = 2.0 * inter / (n_pred + n_gt)
    empty = n_gt == 0
    fill = np.nan if ignore_empty else np.where(n_pred == 0, 1.0, 0.0)
    return like(np.where(empty, fill, score), y_pred, y)


def iou(
    y_pred: Array, y: Array, include_background: bool = True, ignore_empty: bool = True
) -> Array:
    """Intersection over union ``|P & G| / |P | G|`` per sample and class, shape (B, C): the
    values MONAI's ``compute_iou`` returns and ``MeanIoU`` averages.

    Inputs as for :func:`dice`. Empty ground truth: NaN when ``ignore_empty``, else 1 if the
    prediction is empty too and 0 if not.
    """
    p, g = segmentation_pair(y_pred, y)
    p, g = drop_background(p, g, include_background)
    inter, n_pred, n_gt = _counts(p, g)
    union = n_pred + n_gt - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        score = inter / union
    if ignore_empty:
        out = np.where(n_gt > 0, score, np.nan)
    else:
        out = np.where(union > 0, score, 1.0)
    return like(out, y_pred, y)


def confusion_matrix(y_pred: Array, y: Array, include_background: bool = True) -> Array:
    """Per sample and class ``[tp, fp, tn, fn]`` counts, shape (B, C, 4), as MONAI's
    ``get_confusion_matrix``: binarized one-hot (B, C, ...) inputs; (B, C) is a classification
    batch (each sample one "voxel"), (B, C, spatial...) a segmentation.
    """
    p, g = segmentation_pair(y_pred, y, min_ndim=2)
    p, g = drop_background(p, g, include_background)
    axes = tuple(range(2, p.ndim))
    tp = (p & g).sum(axes)
    fp = (p & ~g).sum(axes)
    tn = (~p & ~g).sum(axes)
    fn = (~p & g).sum(axes)
    return like(np.stack([tp, fp, tn, fn], axis=-1), y_pred, y)


# MONAI's names for the confusion-matrix metrics, and the aliases it accepts
_ALIASES = {
    "tpr": ("sensitivity", "recall", "hit_rate", "true_positive_rate", "tpr"),
    "tnr": ("specificity", "selectivity", "true_negative_rate", "tnr"),
    "ppv": ("precision", "positive_predictive_value", "ppv"),
    "npv": ("negative_predictive_value", "npv"),
    "fnr": ("miss_rate", "false_negative_rate", "fnr"),
    "fpr": ("fall_out", "false_positive_rate", "fpr"),
    "fdr": ("false_discovery_rate", "fdr"),
    "for": ("false_omission_rate", "for"),
    "pt": ("prevalence_threshold", "pt"),
    "ts": ("threat_score", "critical_success_index", "ts", "csi"),
    "acc": ("accuracy", "acc"),
    "ba": ("balanced_accuracy", "ba"),
    "f1": ("f1_score", "f1"),
    "mcc": ("matthews_correlation_coefficient", "mcc"),
    "fm": ("fowlkes_mallows_index", "fm"),
    "bm": ("informedness", "bookmaker_informedness", "bm", "youden_index", "youden"),
    "mk": ("markedness", "deltap", "mk"),
}
_CANONICAL = {alias: key for key, names in _ALIASES.items() for alias in names}


def metric_key(metric_name: str) -> str:
    """The short key ("tpr", "ppv", ...) of a confusion-matrix metric name or alias."""
    key = _CANONICAL.get(str(metric_name).replace(" ", "_").lower())
    if key is None:
        raise ValueError(
            f"unknown confusion-matrix metric {metric_name!r}; expected one of {sorted(_CANONICAL)}"
        )
    return key


def compute_confusion_matrix_metric(metric_name: str, confusion_matrix: Array) -> Array:
    """A metric ("sensitivity", "precision", "f1 score", "accuracy", ... or a MONAI alias) from
    ``[tp, fp, tn, fn]`` counts in the last axis (shape (..., 4)); NaN where its denominator
    is 0, as MONAI's ``compute_confusion_matrix_metric``."""
    key = metric_key(metric_name)
    cm = to_numpy(confusion_matrix, "confusion_matrix").astype(np.float64)
    if cm.ndim == 1:
        cm = cm[None]
    if cm.shape[-1] != 4:
        raise ValueError(f"confusion_matrix must have 4 values in its last axis, got {cm.shape}")
    tp, fp, tn, fn = cm[..., 0], cm[..., 1], cm[..., 2], cm[..., 3]
    p, n = tp + fn, fp + tn

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den != 0, num / np.where(den != 0, den, 1.0), np.nan)

    with np.errstate(invalid="ignore"):
        fractions = {
            "tpr": (tp, p),
            "tnr": (tn, n),
            "ppv": (tp, tp + fp),
            "npv": (tn, tn + fn),
            "fnr": (fn, p),
            "fpr": (fp, n),
            "fdr": (fp, fp + tp),
            "for": (fn, fn + tn),
            "ts": (tp, tp + fn + fp),
            "acc": (tp + tn, p + n),
            "f1": (2.0 * tp, 2.0 * tp + fn + fp),
            "mcc": (tp * tn - fp * fn, np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))),
        }
        if key in fractions:
            out = ratio(*fractions[key])
        else:
            tpr, tnr = ratio(tp, p), ratio(tn, n)
            ppv, npv = ratio(tp, tp + fp), ratio(tn, tn + fn)
            if key == "pt":
                out = ratio(np.sqrt(tpr * (1.0 - tnr)) + tnr - 1.0, tpr + tnr - 1.0)
            elif key == "ba":
                out = (tpr + tnr) / 2.0
            elif key == "fm":
                out = np.sqrt(ppv * tpr)
            elif key == "bm":
                out = tpr + tnr - 1.0
            else:  # "mk"
                out = ppv + npv - 1.0
    return like(out, confusion_matrix)
