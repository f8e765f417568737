"""lucid.metrics against MONAI (the oracle, skipped when missing) on random one-hot volumes with
anisotropic spacing and every empty-mask case, plus hand-computed cases that need no oracle."""

import warnings

import numpy as np
import pytest

import lucid
from lucid import metrics as M

REDUCTIONS = ["mean", "sum", "mean_batch", "sum_batch", "mean_channel", "sum_channel", "none"]


def one_hot_volumes(rng, batch, classes, shape, block=3):
    """Random blocky label maps (regions of ``block`` voxels) as one-hot float32 (B, C, ...)."""
    coarse = rng.integers(0, classes, (batch, *(-(-s // block) for s in shape)))
    labels = coarse
    for axis in range(1, labels.ndim):
        labels = labels.repeat(block, axis=axis)
    labels = labels[(slice(None), *(slice(0, s) for s in shape))]
    return np.moveaxis(np.eye(classes, dtype=np.float32)[labels], -1, 1)


def with_empty_cases(pred, gt):
    """Sample 0's classes 1, 2, 3 become: empty prediction, empty ground truth, both empty."""
    pred, gt = pred.copy(), gt.copy()
    pred[0, 1] = 0
    gt[0, 2] = 0
    pred[0, 3] = gt[0, 3] = 0
    return pred, gt


@pytest.fixture(scope="module")
def cases():
    rng = np.random.default_rng(0)
    out = []
    for shape, spacing in [((12, 10, 9), (2.0, 0.8, 1.3)), ((20, 17), (0.7, 1.5))]:
        pred = one_hot_volumes(rng, 3, 4, shape)
        gt = one_hot_volumes(rng, 3, 4, shape)
        gt[1] = pred[1]  # one sample predicted perfectly
        pred, gt = with_empty_cases(pred, gt)
        out.append((pred, gt, spacing))
    return out


@pytest.fixture
def monai():
    pytest.importorskip("torch")
    monai = pytest.importorskip("monai")
    warnings.filterwarnings("ignore", module="monai")  # its empty-mask warnings
    return monai


def close(ours, theirs, rtol=1e-5):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    if ours.shape == () and theirs.shape == (1,):  # MONAI's "mean" gives shape (1,), Lucid's ()
        theirs = theirs.reshape(())
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    # NaN and inf where MONAI has them, exactly
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_array_equal(np.isposinf(ours), np.isposinf(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=1e-6)


def t(x):
    import torch

    return torch.from_numpy(np.ascontiguousarray(x))


# ----------------------------------------------------------------------------- overlap
@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("ignore_empty", [True, False])
def test_dice_and_iou_match_monai(cases, monai, include_background, ignore_empty):
    from monai.metrics import compute_dice, compute_iou

    for pred, gt, _ in cases:
        kw = dict(include_background=include_background, ignore_empty=ignore_empty)
        close(M.dice(pred, gt, **kw), compute_dice(t(pred), t(gt), **kw).numpy())
        close(M.iou(pred, gt, **kw), compute_iou(t(pred), t(gt), **kw).numpy())


@pytest.mark.parametrize("include_background", [True, False])
def test_confusion_matrix_matches_monai(cases, monai, include_background):
    from monai.metrics import get_confusion_matrix

    for pred, gt, _ in cases:
        ours = M.confusion_matrix(pred, gt, include_background=include_background)
        theirs = get_confusion_matrix(t(pred), t(gt), include_background=include_background)
        np.testing.assert_array_equal(ours, theirs.numpy())
    # a classification batch (B, C)
    rng = np.random.default_rng(1)
    p, g = (np.eye(3, dtype=np.float32)[rng.integers(0, 3, 10)] for _ in range(2))
    np.testing.assert_array_equal(M.confusion_matrix(p, g), get_confusion_matrix(t(p), t(g)))


def test_every_confusion_matrix_metric_matches_monai(monai):
    from monai.metrics import compute_confusion_matrix_metric
    from monai.metrics.confusion_matrix import check_confusion_matrix_metric_name

    rng = np.random.default_rng(2)
    cm = rng.integers(0, 5, (6, 3, 4)).astype(np.float32)
    cm[0, 0] = 0  # every denominator 0
    cm[1, 1] = [0, 0, 3, 2]  # no positive predictions
    names = ["sensitivity", "specificity", "precision", "negative predictive value", "miss rate",
             "fall out", "false discovery rate", "false omission rate", "prevalence threshold",
             "threat score", "accuracy", "balanced accuracy", "f1 score",
             "matthews correlation coefficient", "fowlkes mallows index", "informedness",
             "markedness", "youden", "CSI"]  # fmt: skip
    for name in names:
        check_confusion_matrix_metric_name(name)  # a name MONAI knows
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = compute_confusion_matrix_metric(name, t(cm)).numpy()
        close(M.compute_confusion_matrix_metric(name, cm), theirs)
    with pytest.raises(ValueError, match="unknown confusion-matrix metric"):
        M.compute_confusion_matrix_metric("sensitivty", cm)


# ----------------------------------------------------------------------------- distances
@pytest.mark.parametrize("percentile", [None, 95])
@pytest.mark.parametrize("directed", [False, True])
def test_hausdorff_matches_monai(cases, monai, percentile, directed):
    pytest.importorskip("scipy")
    from monai.metrics import compute_hausdorff_distance

    for pred, gt, spacing in cases:
        for sp in (None, spacing):
            kw = dict(percentile=percentile, directed=directed, spacing=sp)
            theirs = compute_hausdorff_distance(t(pred), t(gt), **kw).numpy()
            close(M.hausdorff_distance(pred, gt, **kw), theirs)
    pred, gt, spacing = cases[0]
    kw = dict(include_background=True, percentile=percentile, spacing=spacing)
    theirs = compute_hausdorff_distance(t(pred), t(gt), **kw).numpy()
    close(M.hausdorff_distance(pred, gt, **kw), theirs)


@pytest.mark.parametrize("symmetric", [False, True])
def test_average_surface_distance_matches_monai(cases, monai, symmetric):
    pytest.importorskip("scipy")
    from monai.metrics import compute_average_surface_distance

    for pred, gt, spacing in cases:
        for include_background in (False, True):
            kw = dict(include_background=include_background, symmetric=symmetric, spacing=spacing)
            theirs = compute_average_surface_distance(t(pred), t(gt), **kw).numpy()
            close(M.average_surface_distance(pred, gt, **kw), theirs)


def test_surface_dice_matches_monai(cases, monai):
    pytest.importorskip("scipy")
    from monai.metrics import compute_surface_dice

    for pred, gt, spacing in cases:
        # thresholds on exact distances (a spacing, twice one) test the <= comparison
        thresholds = [spacing[0], 2 * spacing[1], 1.0]
        for sp in (None, spacing):
            theirs = compute_surface_dice(t(pred), t(gt), thresholds, spacing=sp).numpy()
            close(M.surface_dice(pred, gt, thresholds, spacing=sp), theirs)
        theirs = compute_surface_dice(t(pred), t(gt), [0.5] + thresholds, True, spacing=spacing)
        close(M.surface_dice(pred, gt, [0.5] + thresholds, True, spacing=spacing), theirs.numpy())
    # 3 voxels of 0.1 mm: 0.30000000000000004 in float64, 0.3 in float32, where MONAI compares
    a = np.zeros((1, 1, 5, 2), np.float32)
    b = a.copy()
    a[0, 0, 0, 0] = b[0, 0, 3, 0] = 1
    kw = dict(include_background=True, spacing=(0.1, 1.0))
    theirs = compute_surface_dice(t(a), t(b), [0.3], **kw).numpy()
    assert theirs[0, 0] == 1.0
    close(M.surface_dice(a, b, [0.3], **kw), theirs)


@pytest.mark.parametrize("metric", ["chessboard", "taxicab"])
def test_chamfer_distances_match_monai(cases, monai, metric):
    pytest.importorskip("scipy")
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance

    pred, gt, _ = cases[0]
    theirs = compute_hausdorff_distance(t(pred), t(gt), distance_metric=metric).numpy()
    close(M.hausdorff_distance(pred, gt, distance_metric=metric), theirs)
    theirs = compute_average_surface_distance(t(pred), t(gt), distance_metric=metric).numpy()
    close(M.average_surface_distance(pred, gt, distance_metric=metric), theirs)


def test_per_sample_spacing_matches_monai(cases, monai):
    pytest.importorskip("scipy")
    from monai.metrics import compute_hausdorff_distance

    pred, gt, _ = cases[0]
    spacing = [[1.0, 2.0, 0.5], [0.3, 0.3, 3.0], [1.0, 1.0, 1.0]]
    theirs = compute_hausdorff_distance(t(pred), t(gt), spacing=spacing).numpy()
    close(M.hausdorff_distance(pred, gt, spacing=spacing), theirs)


# ----------------------------------------------------------------------------- cumulative
def batches(cases):
    pred, gt, spacing = cases[0]
    rng = np.random.default_rng(3)
    more = [one_hot_volumes(rng, 2, 4, pred.shape[2:]) for _ in range(4)]
    return [(pred, gt), (more[0], more[1]), (more[2], more[3])], spacing


def test_cumulative_metrics_match_monai(cases, monai):
    pytest.importorskip("scipy")
    from monai import metrics as MM

    data, spacing = batches(cases)
    r = "mean_batch"  # the default of aggregate(); each reduction is asked for below
    pairs = [
        (M.DiceMetric(reduction=r, get_not_nans=True),
         MM.DiceMetric(reduction=r, get_not_nans=True), {}),
        (M.MeanIoU(include_background=False, reduction=r, ignore_empty=False),
         MM.MeanIoU(include_background=False, reduction=r, ignore_empty=False), {}),
        (M.HausdorffDistanceMetric(percentile=95, reduction=r, get_not_nans=True),
         MM.HausdorffDistanceMetric(percentile=95, reduction=r, get_not_nans=True),
         {"spacing": spacing}),
        (M.SurfaceDistanceMetric(symmetric=True, reduction=r, spacing=spacing),
         MM.SurfaceDistanceMetric(symmetric=True, reduction=r), {"spacing": spacing}),
        (M.SurfaceDiceMetric([1.0, 2.0, 1.5], reduction=r, get_not_nans=True),
         MM.SurfaceDiceMetric([1.0, 2.0, 1.5], reduction=r, get_not_nans=True),
         {"spacing": spacing}),
    ]  # fmt: skip
    for ours, theirs, kw in pairs:
        ours_kw = {} if isinstance(ours, M.SurfaceDistanceMetric) else kw  # spacing given once
        for epoch in range(2):  # after reset() it starts over
            for pred, gt in data[epoch:]:
                close(ours(pred, gt, **ours_kw), theirs(t(pred), t(gt), **kw).numpy())
            assert len(ours) == len(theirs) == 7 - 3 * epoch
            for reduction in [None, *REDUCTIONS]:
                a, b = ours.aggregate(reduction), theirs.aggregate(reduction)
                if ours.get_not_nans:
                    close(a[1], b[1].numpy())
                    a, b = a[0], b[0]
                close(a, b.numpy())
            ours.reset()
            theirs.reset()


def test_confusion_matrix_metric_matches_monai(cases, monai):
    from monai.metrics import ConfusionMatrixMetric

    names = ["sensitivity", "precision", "f1 score", "accuracy"]
    ours = M.ConfusionMatrixMetric(True, names, False, "sum_batch", get_not_nans=True)
    theirs = ConfusionMatrixMetric(True, names, False, "sum_batch", get_not_nans=True)
    data, _ = batches(cases)
    for pred, gt in data:
        np.testing.assert_array_equal(ours.update(pred, gt), theirs(t(pred), t(gt)).numpy())
    for compute_sample in (False, True):
        for reduction in [None, *REDUCTIONS]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = theirs.aggregate(compute_sample, reduction)
            for (f, n), (tf, tn) in zip(ours.aggregate(compute_sample, reduction), expected):
                close(f, tf.numpy())
                close(n, tn.numpy())


def test_lists_of_channel_first_samples_match_monai(cases, monai):
    from monai.metrics import DiceMetric

    pred, gt, _ = cases[1]
    ours, theirs = M.DiceMetric(reduction="mean_batch"), DiceMetric(reduction="mean_batch")
    close(ours(list(pred), list(gt)), theirs(list(t(pred)), list(t(gt))).numpy())
    close(ours.aggregate(), theirs.aggregate().numpy())


def test_do_metric_reduction_matches_monai(monai):
    from monai.metrics import do_metric_reduction

    rng = np.random.default_rng(4)
    f = rng.random((5, 3)).astype(np.float32)
    f[0] = np.nan  # a sample with nothing valid
    f[2, 1] = f[3, 1] = np.nan
    f[:, 2] = np.nan  # a class with nothing valid
    for reduction in REDUCTIONS:
        ours = M.do_metric_reduction(f, reduction)
        theirs = do_metric_reduction(t(f.copy()), reduction)
        close(ours[0], theirs[0].numpy())
        close(ours[1], theirs[1].numpy())


# ----------------------------------------------------------------------------- classification
def test_classification_metrics_match_a_reference_and_monai_per_class(monai):
    from monai.metrics import compute_confusion_matrix_metric, get_confusion_matrix

    rng = np.random.default_rng(5)
    k = 5
    y = rng.integers(0, k - 1, 200)  # class 4 never occurs in y
    pred = np.where(rng.random(200) < 0.6, y, rng.integers(0, k, 200))
    pred[pred == 3] = 2  # class 3 never predicted
    # all samples as one (1, C, N) "image": the counts per class over the whole set
    cm = get_confusion_matrix(t(np.eye(k)[pred].T[None]), t(np.eye(k)[y].T[None]))
    for ours, name in [(M.precision, "precision"), (M.recall, "recall"), (M.f1, "f1 score")]:
        per_class = np.nan_to_num(compute_confusion_matrix_metric(name, cm).numpy()[0])
        close(ours(pred, y, num_classes=k, average="none"), per_class)
        close(ours(pred, y, average="macro"), per_class.mean())  # all 5 classes occur
        support = np.bincount(y, minlength=k)
        close(ours(pred, y, average="weighted"), (per_class * support).sum() / support.sum())
        close(ours(pred, y, average="micro"), (pred == y).mean())
    close(M.accuracy(pred, y), (pred == y).mean())


def test_classification_by_hand():
    y = np.array([0, 0, 1, 1, 1, 2])
    pred = np.array([0, 1, 1, 1, 0, 0])
    assert M.accuracy(pred, y) == pytest.approx(3 / 6)
    # class 0: tp 1 fp 2 fn 1; class 1: tp 2 fp 1 fn 1; class 2: tp 0 fp 0 fn 1
    np.testing.assert_allclose(M.precision(pred, y, average=None), [1 / 3, 2 / 3, 0], rtol=1e-6)
    np.testing.assert_allclose(M.recall(pred, y, average=None), [1 / 2, 2 / 3, 0], rtol=1e-6)
    np.testing.assert_allclose(M.f1(pred, y, average=None), [2 / 5, 4 / 6, 0], rtol=1e-6)
    # macro skips classes in neither y nor pred (class 3 here)
    assert M.f1(pred, y, num_classes=4) == pytest.approx((2 / 5 + 4 / 6) / 3, rel=1e-6)
    assert M.precision([0, 1, 1, 0], [0, 1, 0, 0], average="binary") == pytest.approx(0.5)
    out = M.recall(lucid.tensor(pred), lucid.tensor(y))
    assert isinstance(out, lucid.Tensor) and out.item() == pytest.approx((1 / 2 + 2 / 3) / 3)
    with pytest.raises(TypeError, match="class indices"):
        M.accuracy(np.array([0.2, 0.8]), np.array([0, 1]))
    with pytest.raises(ValueError, match="num_classes"):
        M.precision(pred, y, num_classes=2)


def test_auroc_matches_monai(monai):
    from monai.metrics import compute_roc_auc

    rng = np.random.default_rng(6)
    y = rng.integers(0, 3, 60)
    scores = np.round(rng.random((60, 3)) + np.eye(3)[y] * 0.4, 1)  # rounded: many ties
    onehot = np.eye(3)[y]
    for average in ["macro", "weighted", "micro", "none"]:
        theirs = compute_roc_auc(t(scores), t(onehot), average=average)
        close(M.auroc(scores, onehot, average=average), np.asarray(theirs))
        close(M.auroc(scores, y, average=average), np.asarray(theirs))  # class indices
    b = (y == 1).astype(np.int64)
    close(M.auroc(scores[:, 1], b), compute_roc_auc(t(scores[:, 1]), t(b)))
    with pytest.warns(RuntimeWarning, match="undefined"):
        assert np.isnan(M.auroc(scores[:, 1], np.ones(60, np.int64)))


def test_auroc_by_hand():
    assert M.auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75
    assert M.auroc(np.array([0.5, 0.5]), np.array([0, 1])) == 0.5  # a tie counts half


# ----------------------------------------------------------------------------- by hand
def test_hausdorff_of_two_voxels_with_anisotropic_spacing():
    pytest.importorskip("scipy")
    a = np.zeros((1, 1, 6, 5, 5), np.float32)
    b = a.copy()
    a[0, 0, 0, 0, 0] = 1
    b[0, 0, 3, 4, 0] = 1  # 3 voxels along the 2 mm axis, 4 along a 1 mm one
    kw = dict(include_background=True, spacing=(2.0, 1.0, 1.0))
    assert M.hausdorff_distance(a, b, **kw)[0, 0] == pytest.approx(np.hypot(6.0, 4.0))
    assert M.hausdorff_distance(a, b, include_background=True)[0, 0] == pytest.approx(5.0)
    assert M.average_surface_distance(a, b, **kw)[0, 0] == pytest.approx(np.hypot(6.0, 4.0))
    assert M.surface_dice(a, b, [7.22], **kw)[0, 0] == 1.0  # sqrt(52) = 7.211
    assert M.surface_dice(a, b, [7.2], **kw)[0, 0] == 0.0


def test_surface_distances_by_hand():
    pytest.importorskip("scipy")
    gt = np.zeros((1, 1, 9, 9), np.float32)
    gt[0, 0, 2:7, 2:7] = 1  # a 5x5 square: its surface is the 16-voxel ring
    pred = np.zeros_like(gt)
    pred[0, 0, 2:7, 2:8] = 1  # one column wider
    kw = dict(include_background=True)
    # pred's surface is an 18-voxel ring: its right column (5 voxels) lies 1 from gt's ring,
    # the other 13 voxels on it
    assert M.hausdorff_distance(pred, gt, directed=True, **kw)[0, 0] == 1.0
    assert M.average_surface_distance(pred, gt, **kw)[0, 0] == pytest.approx(5 / 18)
    assert M.hausdorff_distance(pred, gt, spacing=(1.0, 3.0), **kw)[0, 0] == 3.0
    # the other way: the 3 middle voxels of gt's right column, inside pred now, lie 1 from
    # pred's surface (2 rows, 3 mm sideways with spacing (1, 3)); the other 13 on it
    ring = np.zeros((9, 9), bool)
    ring[2:7, 2:7] = True
    ring[3:6, 3:6] = False
    assert ring.sum() == 16
    assert M.average_surface_distance(gt, pred, **kw)[0, 0] == pytest.approx(3 / 16)


def test_empty_masks_by_hand():
    pytest.importorskip("scipy")
    some = np.zeros((1, 1, 6, 6), np.float32)
    some[0, 0, 2:4, 2:4] = 1
    none = np.zeros_like(some)
    kw = dict(include_background=True)
    for p, g, d, hd, hd95, sd in [
        (none, some, 0.0, np.inf, np.nan, 0.0),
        (some, none, np.nan, np.inf, np.nan, 0.0),
        (none, none, np.nan, np.nan, np.nan, np.nan),
    ]:
        np.testing.assert_equal(M.dice(p, g)[0, 0], np.float32(d))
        np.testing.assert_equal(M.hausdorff_distance(p, g, **kw)[0, 0], np.float32(hd))
        np.testing.assert_equal(M.hausdorff_distance(p, g, percentile=95, **kw)[0, 0], hd95)
        np.testing.assert_equal(M.surface_dice(p, g, [1.0], **kw)[0, 0], np.float32(sd))
    assert M.dice(none, none, ignore_empty=False)[0, 0] == 1.0
    assert M.iou(some, none, ignore_empty=False)[0, 0] == 0.0


def test_reductions_by_hand():
    f = np.array([[1.0, np.nan], [np.nan, np.nan], [2.0, 4.0]], np.float32)
    values, not_nans = M.do_metric_reduction(f, "mean")
    assert values == pytest.approx((1 + 3) / 2) and not_nans == 2  # sample 1 has nothing
    np.testing.assert_allclose(M.do_metric_reduction(f, "mean_batch")[0], [1.5, 4.0])
    np.testing.assert_allclose(M.do_metric_reduction(f, "sum_channel")[0], [1.0, 0.0, 6.0])
    np.testing.assert_allclose(M.do_metric_reduction(f, "mean_channel")[1], [1, 0, 2])
    assert M.do_metric_reduction(f, "sum")[0] == 7.0


def test_dice_metric_over_batches_by_hand():
    y = np.zeros((1, 2, 4), np.float32)
    y[0, 1, :2] = 1
    y[0, 0] = 1 - y[0, 1]
    p = np.zeros_like(y)
    p[0, 1, :1] = 1
    p[0, 0] = 1 - p[0, 1]
    metric = M.DiceMetric(include_background=False)
    metric(y, y)
    metric(lucid.tensor(p), lucid.tensor(y))  # dice 2*1/(1+2)
    out = metric.aggregate()
    assert isinstance(out, lucid.Tensor) and out.item() == pytest.approx((1 + 2 / 3) / 2)
    assert len(metric) == 2
    metric.reset()
    with pytest.raises(RuntimeError, match="no values"):
        metric.aggregate()


def test_tensors_in_tensors_out():
    rng = np.random.default_rng(7)
    p, g = one_hot_volumes(rng, 2, 3, (6, 6, 6)), one_hot_volumes(rng, 2, 3, (6, 6, 6))
    out = M.dice(lucid.tensor(p), lucid.tensor(g))
    assert isinstance(out, lucid.Tensor) and out.dtype == lucid.float32 and out.shape == (2, 3)
    np.testing.assert_array_equal(out.numpy(), M.dice(p, g))
    assert isinstance(M.iou(p, g), np.ndarray)


def test_bad_inputs_raise_clear_errors():
    y = np.zeros((1, 2, 4, 4), np.float32)
    with pytest.raises(ValueError, match="0 and 1"):
        M.dice(y + 0.5, y)
    with pytest.raises(ValueError, match="same one-hot shape"):
        M.dice(y, y[:, :1])
    with pytest.raises(ValueError, match=r"\(B, C, spatial...\)"):
        M.iou(y[0, 0], y[0, 0])
    with pytest.raises(TypeError, match="lucid Tensor or a numpy array"):
        M.dice(y.tolist(), y)
    with pytest.raises(ValueError, match="reduction must be one of"):
        M.DiceMetric(reduction="average")
    with pytest.raises(ValueError, match="percentile"):
        M.HausdorffDistanceMetric(percentile=101)
    with pytest.raises(TypeError, match="unexpected keyword arguments"):
        M.DiceMetric()(y, y, spacing=(1.0, 1.0))
    pytest.importorskip("scipy")
    with pytest.raises(ValueError, match="2 numbers"):
        M.hausdorff_distance(y, y, spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="positive"):
        M.hausdorff_distance(y, y, spacing=(1.0, 0.0))
    with pytest.raises(ValueError, match="class_thresholds has 2 values but there are 1"):
        M.surface_dice(y, y, [1.0, 1.0])
    with pytest.raises(ValueError, match="distance_metric"):
        M.hausdorff_distance(y, y, distance_metric="cosine")
