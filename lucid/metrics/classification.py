"""Classification metrics: accuracy, precision, recall and F1 from predicted class indices, and
the area under the ROC curve from scores (MONAI's ``compute_roc_auc``)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from lucid.metrics._utils import Array, like, to_numpy

_AVERAGES = ("macro", "micro", "weighted", "none", "binary")


def _indices(x: Any, name: str) -> np.ndarray:
    """Class indices as a flat int64 array (a Tensor, numpy array or list)."""
    a = to_numpy(x, name) if not isinstance(x, (list, tuple)) else np.asarray(x)
    if not (np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_):
        raise TypeError(
            f"{name} must hold class indices (an integer dtype), got dtype {a.dtype}; "
            "take argmax(dim=1) of scores first"
        )
    a = a.astype(np.int64).reshape(-1)
    if a.size and a.min() < 0:
        raise ValueError(f"{name} holds a negative class index ({a.min()})")
    return a


def _pair(y_pred: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    p, g = _indices(y_pred, "y_pred"), _indices(y, "y")
    if p.shape != g.shape:
        raise ValueError(f"y_pred and y must hold as many class indices, got {p.size} and {g.size}")
    return p, g


def accuracy(y_pred: Array, y: Array) -> Array:
    """The share of ``y_pred`` class indices equal to ``y`` (any shape, the same in both);
    NaN for no samples."""
    p, g = _pair(y_pred, y)
    return like(np.nan if p.size == 0 else float((p == g).mean()), y_pred, y)


def _scores(y_pred: Any, y: Any, num_classes: int | None, average: str | None, which: str) -> Array:
    """Precision, recall or F1 from per-class counts, averaged as asked (0 where undefined)."""
    average = "none" if average is None else average
    if average not in _AVERAGES:
        raise ValueError(f"average must be one of {_AVERAGES} or None, got {average!r}")
    p, g = _pair(y_pred, y)
    seen = int(max(p.max(initial=-1), g.max(initial=-1))) + 1
    k = seen if num_classes is None else int(num_classes)
    if seen > k:
        raise ValueError(f"a class index {seen - 1} is not below num_classes={k}")
    if average == "binary" and k > 2:
        raise ValueError(f"average='binary' needs class indices 0 and 1 only, found up to {k - 1}")
    tp = np.bincount(g[p == g], minlength=k).astype(np.float64)
    pred_count = np.bincount(p, minlength=k).astype(np.float64)
    true_count = np.bincount(g, minlength=k).astype(np.float64)
    fp, fn = pred_count - tp, true_count - tp
    if average == "micro":
        tp, fp, fn = tp.sum(keepdims=True), fp.sum(keepdims=True), fn.sum(keepdims=True)
    num = {"precision": tp, "recall": tp, "f1": 2 * tp}[which]
    den = {"precision": tp + fp, "recall": tp + fn, "f1": 2 * tp + fp + fn}[which]
    # a class never predicted (precision) or never present (recall) scores 0, as scikit-learn's
    # default zero_division and torchmetrics do
    per_class = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    if average == "micro":
        return like(per_class[0], y_pred, y)
    if average == "none":
        return like(per_class, y_pred, y)
    if average == "binary":
        return like(per_class[1] if k > 1 else 0.0, y_pred, y)
    if average == "weighted":
        total = true_count.sum()
        value = np.nan if total == 0 else float((per_class * true_count).sum() / total)
        return like(value, y_pred, y)
    present = (pred_count + true_count) > 0  # macro: over the classes that occur at all
    return like(per_class[present].mean() if present.any() else np.nan, y_pred, y)


def precision(
    y_pred: Array, y: Array, num_classes: int | None = None, average: str | None = "macro"
) -> Array:
    """Precision ``tp / (tp + fp)`` from class indices. ``average``: "macro" (mean over the
    classes occurring in ``y_pred`` or ``y``), "micro" (from the summed counts), "weighted"
    (by each class's count in ``y``), "binary" (class 1 of a 0/1 problem), or "none"/None (one
    value per class 0..num_classes-1). A class never predicted scores 0."""
    return _scores(y_pred, y, num_classes, average, "precision")


def recall(
    y_pred: Array, y: Array, num_classes: int | None = None, average: str | None = "macro"
) -> Array:
    """Recall (sensitivity) ``tp / (tp + fn)`` from class indices; ``average`` as in
    :func:`precision`. A class absent from ``y`` scores 0."""
    return _scores(y_pred, y, num_classes, average, "recall")


def f1(
    y_pred: Array, y: Array, num_classes: int | None = None, average: str | None = "macro"
) -> Array:
    """F1 score ``2 tp / (2 tp + fp + fn)`` from class indices; ``average`` as in
    :func:`precision`."""
    return _scores(y_pred, y, num_classes, average, "f1")


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC of one 0/1 column: the Mann-Whitney statistic with tied scores counted half
    (the area of MONAI's and scikit-learn's trapezoid ROC curve)."""
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        warnings.warn(
            f"y values are all {int(labels[0]) if labels.size else '(none)'}: the AUC is "
            "undefined, returning NaN",
            RuntimeWarning,
            stacklevel=3,
        )
        return np.nan
    order = np.argsort(scores, kind="stable")
    ordered = scores[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    ranks = np.empty(ordered.size)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)  # average 1-based ranks
    return float((ranks[labels == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def auroc(y_pred: Array, y: Array, average: str = "macro") -> Array:
    """Area under the ROC curve, as MONAI's ``compute_roc_auc``. Binary: ``y_pred`` scores (N,)
    or (N, 1) and ``y`` 0/1 labels of that shape. Multi-class: ``y_pred`` scores (N, C) and ``y``
    one-hot (N, C) or class indices (N,); ``average`` "macro", "weighted" (by class count),
    "micro" (all columns pooled) or "none" (C values). NaN where a column holds one class only.
    """
    s = to_numpy(y_pred, "y_pred") if not isinstance(y_pred, (list, tuple)) else np.asarray(y_pred)
    t = to_numpy(y, "y") if not isinstance(y, (list, tuple)) else np.asarray(y)
    if s.ndim not in (1, 2) or t.ndim not in (1, 2):
        raise ValueError(f"y_pred and y must be (N,) or (N, C), got {s.shape} and {t.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError("y_pred holds NaN or infinite scores")
    s = s[:, 0] if s.ndim == 2 and s.shape[1] == 1 else s
    t = t[:, 0] if t.ndim == 2 and t.shape[1] == 1 else t
    if s.ndim == 2 and t.ndim == 1:  # class indices -> one-hot
        idx = _indices(t, "y")
        if idx.size and idx.max() >= s.shape[1]:
            raise ValueError(f"y holds class {idx.max()} but y_pred has {s.shape[1]} columns")
        t = np.eye(s.shape[1], dtype=np.int64)[idx]
    if s.shape != t.shape:
        raise ValueError(f"y_pred and y shapes do not match: {s.shape} and {t.shape}")
    if not np.all((t == 0) | (t == 1)):
        raise ValueError(f"y must be 0/1 labels (or class indices), found {np.unique(t)[:5]}")
    t = t.astype(np.int64)
    s = s.astype(np.float64)
    if s.ndim == 1:
        return like(_auc(s, t), y_pred, y)
    if average not in ("macro", "weighted", "micro", "none"):
        raise ValueError(f"average must be macro, weighted, micro or none, got {average!r}")
    if average == "micro":
        return like(_auc(s.reshape(-1), t.reshape(-1)), y_pred, y)
    per_class = np.array([_auc(s[:, c], t[:, c]) for c in range(s.shape[1])])
    if average == "none":
        return like(per_class, y_pred, y)
    if average == "weighted":
        return like(np.average(per_class, weights=t.sum(0)), y_pred, y)
    return like(per_class.mean(), y_pred, y)
