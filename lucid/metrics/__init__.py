"""Evaluation metrics with MONAI's meanings, computed in numpy off the tape.

Segmentation metrics take binarized one-hot (B, C, spatial...) predictions and targets (lucid
Tensors or numpy arrays) and return one value per sample and class, (B, C): a lucid Tensor
when an input was one, else numpy. Classification metrics take class indices (``auroc``
scores). The cumulative objects (``DiceMetric``, ...) gather values over a validation loop.
Surface distances need scipy (``pip install lucid[metrics]``). See docs/metrics.md.

>>> import numpy as np
>>> from lucid import metrics
>>> y = np.zeros((1, 2, 4, 4), np.float32); y[0, 1, 1:3, 1:3] = 1; y[0, 0] = 1 - y[0, 1]
>>> metrics.dice(y, y, include_background=False)
array([[1.]], dtype=float32)
"""

from lucid.metrics.classification import accuracy, auroc, f1, precision, recall
from lucid.metrics.cumulative import (
    ConfusionMatrixMetric,
    DiceMetric,
    HausdorffDistanceMetric,
    MeanIoU,
    SurfaceDiceMetric,
    SurfaceDistanceMetric,
    do_metric_reduction,
)
from lucid.metrics.distance import average_surface_distance, hausdorff_distance, surface_dice
from lucid.metrics.segmentation import (
    compute_confusion_matrix_metric,
    confusion_matrix,
    dice,
    iou,
)

__all__ = [
    "dice",
    "iou",
    "confusion_matrix",
    "compute_confusion_matrix_metric",
    "hausdorff_distance",
    "average_surface_distance",
    "surface_dice",
    "accuracy",
    "precision",
    "recall",
    "f1",
    "auroc",
    "do_metric_reduction",
    "DiceMetric",
    "MeanIoU",
    "HausdorffDistanceMetric",
    "SurfaceDistanceMetric",
    "SurfaceDiceMetric",
    "ConfusionMatrixMetric",
]
