"""The segmentation losses (DiceLoss, GeneralizedDiceLoss, TverskyLoss, FocalLoss, DiceCELoss,
DiceFocalLoss): values, output shapes and gradients against MONAI (``monai.losses``) in float64
over a grid of options (2-D and 3-D, activations, background, batch, reductions, weights, classes
absent from the target), and without MONAI: values worked out by hand, perfect predictions,
gradcheck, the combined losses as sums of their parts, errors and warnings."""

import math
import warnings

import numpy as np
import pytest

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
from lucid.autograd import gradcheck

RNG = np.random.default_rng(19)
SHAPES = {"2d": (2, 4, 5, 4), "3d": (2, 4, 3, 4, 3)}  # (B, C, *spatial), C = 4


def labels(shape):
    """(B, 1, *spatial) class indices of a C = 4 input: class 3 never occurs and class 2 is
    absent from sample 0, so every loss meets classes that are empty in a sample and in the
    whole batch."""
    y = RNG.integers(0, 3, (shape[0], 1) + shape[2:])
    y[0][y[0] == 2] = 1
    return y


def one_hot(y, c):
    return np.moveaxis(np.eye(c)[y[:, 0]], -1, 1)


# --- MONAI as the oracle ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def monai():
    pytest.importorskip("torch")
    return pytest.importorskip("monai.losses")


@pytest.fixture
def monai64(monai, monkeypatch):
    """MONAI with its float32 casts (FocalLoss's ``input.float()``, GeneralizedDiceLoss's
    ``ground_o.float()``) kept in float64, so that the comparison can be to float64 accuracy;
    ``test_monai_unpatched_float32_casts`` shows the patch changes nothing else."""
    import torch

    def keep_float64(self):
        return self if self.dtype == torch.float64 else self.to(torch.float32)

    monkeypatch.setattr(torch.Tensor, "float", keep_float64)
    return monai


def torch_args(kwargs):
    import torch

    out = dict(kwargs)
    if isinstance(out.get("weight"), list):
        out["weight"] = torch.tensor(out["weight"], dtype=torch.float64)
    if out.get("other_act") is lucid.tanh:
        out["other_act"] = torch.tanh
    return out


def compare(monai, name, kwargs, x, target, tol=1e-12):
    """``nn.<name>(**kwargs)`` against ``monai.losses.<name>``: output shape, value and the
    gradient of sum(v * out) for a random v, in float64. Returns Lucid's output."""
    import torch

    xl = lucid.tensor(x, dtype="float64", requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught_lucid:
        warnings.simplefilter("always")
        out = getattr(nn, name)(**kwargs)(xl, lucid.tensor(target))
    with warnings.catch_warnings(record=True) as caught_monai:
        warnings.simplefilter("always")
        ref = getattr(monai, name)(**torch_args(kwargs))(xt, torch.tensor(target))
    # the same warnings (single-channel inputs), in the same order
    assert [str(w.message) for w in caught_lucid] == [str(w.message) for w in caught_monai]
    assert out.shape == tuple(ref.shape) and out.dtype == lucid.float64
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=tol, atol=tol)
    v = RNG.standard_normal(tuple(ref.shape))
    (out * lucid.tensor(v)).sum().backward()
    (ref * torch.tensor(v)).sum().backward()
    np.testing.assert_allclose(xl.grad.numpy(), xt.grad.numpy(), rtol=tol, atol=tol)
    return out


def overlap_grid():
    """dims x activation x include_background x batch, the reduction cycling."""
    cases, reductions = [], ["mean", "sum", "none"]
    for dims in SHAPES:
        for act in ("softmax", "sigmoid"):
            for bg in (True, False):
                for batch in (False, True):
                    kw = {act: True, "include_background": bg, "batch": batch}
                    cases.append((dims, dict(kw, reduction=reductions[len(cases) % 3])))
    return cases


def case_id(case):
    dims, kw = case
    return dims + "-" + ",".join(f"{k}={getattr(v, '__name__', v)}" for k, v in kw.items())


GRID = overlap_grid()
DICE_EXTRA = [
    ("3d", dict(softmax=True, squared_pred=True)),
    ("3d", dict(sigmoid=True, jaccard=True, reduction="none")),
    ("2d", dict(softmax=True, squared_pred=True, jaccard=True, batch=True)),
    ("3d", dict(softmax=True, weight=[0.5, 1.0, 2.0, 0.25], reduction="none")),
    ("2d", dict(softmax=True, weight=[1.0, 2.0, 0.5], include_background=False, batch=True)),
    ("3d", dict(sigmoid=True, weight=2.0, reduction="sum")),
    ("3d", dict(softmax=True, soft_label=True)),
    ("2d", dict(other_act=lucid.tanh, smooth_nr=0.0, smooth_dr=1e-6)),
    ("3d", dict(sigmoid=True, smooth_nr=1e-3, smooth_dr=1e-2, batch=True, reduction="none")),
]
GDL_EXTRA = [
    ("3d", dict(softmax=True, w_type="simple")),
    ("2d", dict(sigmoid=True, w_type="uniform", batch=True, reduction="none")),
    ("3d", dict(softmax=True, w_type="simple", batch=True, include_background=False)),
    ("3d", dict(sigmoid=True, soft_label=True, reduction="sum")),
]
TVERSKY_EXTRA = [
    ("3d", dict(softmax=True, alpha=0.3, beta=0.7)),
    ("2d", dict(sigmoid=True, alpha=0.9, beta=0.1, batch=True, reduction="none")),
    ("3d", dict(softmax=True, alpha=0.2, beta=0.6, soft_label=True, include_background=False)),
]


@pytest.mark.parametrize(
    "name,case",
    [("DiceLoss", c) for c in GRID + DICE_EXTRA]
    + [("GeneralizedDiceLoss", c) for c in GRID + GDL_EXTRA]
    + [("TverskyLoss", c) for c in GRID + TVERSKY_EXTRA],
    ids=lambda v: v if isinstance(v, str) else case_id(v),
)
def test_overlap_losses_match_monai(monai64, name, case):
    dims, kwargs = case
    shape = SHAPES[dims]
    x = RNG.standard_normal(shape)
    y = labels(shape)
    if kwargs.get("squared_pred") or name == "GeneralizedDiceLoss":
        # MONAI's one-hot targets are float32: squared_pred takes their norm (sqrt, then
        # squared) and the generalised Dice weights 1 / volume**2 are computed in their dtype;
        # float64 one-hot targets keep both exact (to_onehot_y is covered by the other losses,
        # and for this one by test_monai_unpatched_float32_casts)
        compare(monai64, name, kwargs, x, one_hot(y, shape[1]))
        return
    compare(monai64, name, dict(kwargs, to_onehot_y=True), x, y)
    if name == "DiceLoss" and kwargs.get("reduction") == "none":  # one-hot float targets too
        compare(monai64, name, kwargs, x, one_hot(y, shape[1]))


@pytest.mark.parametrize("name", ["DiceLoss", "GeneralizedDiceLoss", "TverskyLoss"])
def test_overlap_losses_on_probabilities_and_soft_targets_match_monai(monai64, name):
    shape = SHAPES["3d"]
    p = RNG.dirichlet(np.ones(shape[1]), shape[:1] + shape[2:])  # probabilities, no activation
    p = np.moveaxis(p, -1, 1)
    soft = np.moveaxis(RNG.dirichlet(np.ones(shape[1]), shape[:1] + shape[2:]), -1, 1)
    for soft_label in (False, True):
        compare(monai64, name, dict(soft_label=soft_label), p, soft)


# alphas are exact in float32: MONAI builds some alpha factors in float32 (its softmax alpha
# row, and a scalar alpha times a float32 one-hot target)
FOCAL = [
    ("3d", dict()),
    ("2d", dict(use_softmax=True)),
    ("3d", dict(gamma=0.0, reduction="sum")),
    ("3d", dict(gamma=1.5, use_softmax=True, reduction="none")),
    ("2d", dict(alpha=0.25)),
    ("3d", dict(alpha=0.25, use_softmax=True, reduction="sum")),
    ("3d", dict(alpha=[0.125, 0.25, 0.375, 0.5], reduction="none")),
    ("2d", dict(alpha=[0.125, 0.25, 0.375, 0.5], use_softmax=True)),
    ("3d", dict(include_background=False)),
    ("3d", dict(include_background=False, use_softmax=True, reduction="sum")),
    ("2d", dict(include_background=False, use_softmax=True, alpha=0.3)),  # warns: alpha ignored
    ("3d", dict(include_background=False, alpha=[0.5, 0.25, 0.75], gamma=3.0)),
    ("3d", dict(weight=[0.5, 1.0, 2.0, 0.25], reduction="none")),
    ("2d", dict(weight=1.5, use_softmax=True, reduction="sum")),
    ("3d", dict(weight=[1.0, 2.0, 0.5], include_background=False, alpha=0.625)),
]


@pytest.mark.parametrize("case", FOCAL, ids=case_id)
def test_focal_loss_matches_monai(monai64, case):
    dims, kwargs = case
    shape = SHAPES[dims]
    x = 2 * RNG.standard_normal(shape)
    y = labels(shape)
    compare(monai64, "FocalLoss", dict(kwargs, to_onehot_y=True), x, y)
    compare(monai64, "FocalLoss", kwargs, x, one_hot(y, shape[1]))


DICE_CE = [
    ("3d", dict(softmax=True, to_onehot_y=True)),
    ("2d", dict(softmax=True, to_onehot_y=True, include_background=False, batch=True)),
    ("3d", dict(softmax=True, to_onehot_y=True, weight=[0.5, 1.0, 2.0, 0.25], reduction="sum")),
    ("3d", dict(softmax=True, to_onehot_y=True, weight=[0.5, 1.0, 2.0, 0.25], label_smoothing=0.1)),
    ("2d", dict(softmax=True, weight=[0.5, 1.0, 2.0, 0.25], include_background=False)),  # one-hot
    ("3d", dict(sigmoid=True, squared_pred=True, jaccard=True, label_smoothing=0.2)),  # one-hot
    ("3d", dict(softmax=True, to_onehot_y=True, lambda_dice=0.3, lambda_ce=1.7)),
]
DICE_FOCAL = [
    ("3d", dict(softmax=True, to_onehot_y=True)),
    ("2d", dict(sigmoid=True, to_onehot_y=True, gamma=1.0, alpha=0.375, reduction="sum")),
    ("3d", dict(softmax=True, to_onehot_y=True, weight=[0.5, 1.0, 2.0, 0.25], batch=True)),
    ("3d", dict(sigmoid=True, weight=[1.0, 2.0, 0.5], include_background=False)),  # one-hot
    ("2d", dict(softmax=True, reduction="none", batch=True, lambda_dice=2.0, lambda_focal=0.5)),
    ("3d", dict(sigmoid=True, reduction="none", squared_pred=True, jaccard=True)),  # one-hot
]


@pytest.mark.parametrize(
    "name,case",
    [("DiceCELoss", c) for c in DICE_CE] + [("DiceFocalLoss", c) for c in DICE_FOCAL],
    ids=lambda v: v if isinstance(v, str) else case_id(v),
)
def test_combined_losses_match_monai(monai64, name, case):
    dims, kwargs = case
    shape = SHAPES[dims]
    x = RNG.standard_normal(shape)
    y = labels(shape)
    compare(monai64, name, kwargs, x, y if kwargs.get("to_onehot_y") else one_hot(y, shape[1]))


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("DiceLoss", dict(softmax=True)),  # warns: softmax ignored
        # two warnings: to_onehot_y and include_background ignored
        ("DiceLoss", dict(sigmoid=True, include_background=False, to_onehot_y=True)),
        ("GeneralizedDiceLoss", dict(sigmoid=True, include_background=False)),
        ("TverskyLoss", dict(softmax=True, alpha=0.7, beta=0.3)),
        ("FocalLoss", dict(include_background=False, alpha=0.25)),
        ("DiceCELoss", dict(sigmoid=True)),  # BCE with logits
        ("DiceCELoss", dict(sigmoid=True, weight=[2.0])),  # weight is BCE's pos_weight
        ("DiceFocalLoss", dict(sigmoid=True, to_onehot_y=True, weight=2.0)),
    ],
    ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={v}" for k, v in v.items()),
)
def test_single_channel_inputs_match_monai_and_its_warnings(monai64, name, kwargs):
    x = RNG.standard_normal((2, 1, 4, 3, 3))
    y = RNG.integers(0, 2, (2, 1, 4, 3, 3))
    compare(monai64, name, kwargs, x, y)


def test_monai_unpatched_float32_casts(monai):
    """Against MONAI as shipped (its FocalLoss and generalised Dice weights run in float32), at
    float32 accuracy: the float64 patch of ``monai64`` changes nothing but the precision."""
    shape = SHAPES["3d"]
    x, y = RNG.standard_normal(shape), labels(shape)
    compare(monai, "FocalLoss", dict(to_onehot_y=True, alpha=0.25), x, y, tol=1e-6)
    compare(monai, "GeneralizedDiceLoss", dict(softmax=True, to_onehot_y=True), x, y, tol=1e-6)


# --- without MONAI ------------------------------------------------------------------------------
def probs_case():
    """B = 1, C = 2, three voxels: channel 1 holds p = (0.8, 0.4, 0.1), the target class map is
    (1, 0, 0), so channel 0 has volume 2 and channel 1 volume 1."""
    p1 = np.array([0.8, 0.4, 0.1])
    p = np.stack([1 - p1, p1])[None]
    return lucid.tensor(p, dtype="float64"), lucid.tensor(np.array([[[1, 0, 0]]]))


def test_values_worked_out_by_hand():
    p, y = probs_case()
    exact = dict(smooth_nr=0.0, smooth_dr=0.0, to_onehot_y=True)
    # channel 0: I = 0.6 + 0.9, sizes 1.7 and 2; channel 1: I = 0.8, sizes 1.3 and 1
    dice = [1 - 3.0 / 3.7, 1 - 1.6 / 2.3]
    assert nn.DiceLoss(**exact)(p, y).item() == pytest.approx(np.mean(dice), rel=1e-12)
    got = nn.DiceLoss(reduction="none", **exact)(p, y)
    assert got.shape == (1, 2, 1) and np.allclose(got.numpy().ravel(), dice, rtol=1e-12)
    jac = [1 - 1.5 / (3.7 - 1.5), 1 - 0.8 / (2.3 - 0.8)]
    assert nn.DiceLoss(jaccard=True, reduction="sum", **exact)(p, y).item() == pytest.approx(
        sum(jac), rel=1e-12
    )
    weighted = nn.DiceLoss(weight=[3.0, 0.5], reduction="sum", **exact)(p, y).item()
    assert weighted == pytest.approx(3.0 * dice[0] + 0.5 * dice[1], rel=1e-12)
    # generalised Dice: weights 1/4 and 1 (square), 1/2 and 1 (simple), 1 and 1 (uniform)
    for w_type, w in [("square", (0.25, 1.0)), ("simple", (0.5, 1.0)), ("uniform", (1.0, 1.0))]:
        want = 1 - 2 * (1.5 * w[0] + 0.8 * w[1]) / (3.7 * w[0] + 2.3 * w[1])
        got = nn.GeneralizedDiceLoss(w_type=w_type, **exact)(p, y).item()
        assert got == pytest.approx(want, rel=1e-12), w_type
    # Tversky: channel 0 has TP 1.5, FP 0.2, FN 0.5; channel 1 TP 0.8, FP 0.5, FN 0.2
    tv = nn.TverskyLoss(alpha=0.3, beta=0.7, reduction="none", **exact)(p, y)
    want = [1 - 1.5 / (1.5 + 0.06 + 0.35), 1 - 0.8 / (0.8 + 0.15 + 0.14)]
    assert tv.shape == (1, 2) and np.allclose(tv.numpy().ravel(), want, rtol=1e-12)


def test_focal_values_worked_out_by_hand():
    zero = lucid.tensor(np.zeros((1, 1, 1)), dtype="float64")  # p = 0.5
    one = lucid.tensor(np.ones((1, 1, 1)), dtype="float64")
    assert nn.FocalLoss()(zero, one).item() == pytest.approx(0.25 * math.log(2), rel=1e-12)
    assert nn.FocalLoss(alpha=0.25)(zero, one).item() == pytest.approx(
        0.25 * 0.25 * math.log(2), rel=1e-12
    )
    assert nn.FocalLoss(alpha=0.25)(zero, 0 * one).item() == pytest.approx(
        0.75 * 0.25 * math.log(2), rel=1e-12
    )
    # softmax of (0, log 3) is (1/4, 3/4); the target is class 1
    x = lucid.tensor(np.array([0.0, math.log(3)]).reshape(1, 2, 1), dtype="float64")
    t = lucid.tensor(np.array([[[1]]]))
    got = nn.FocalLoss(to_onehot_y=True, use_softmax=True, reduction="sum")(x, t).item()
    assert got == pytest.approx(-(0.25**2) * math.log(0.75), rel=1e-12)
    got = nn.FocalLoss(to_onehot_y=True, use_softmax=True, alpha=0.2, reduction="sum")(x, t)
    assert got.item() == pytest.approx(-0.2 * 0.25**2 * math.log(0.75), rel=1e-12)


@pytest.mark.parametrize("name", ["DiceLoss", "GeneralizedDiceLoss", "TverskyLoss"])
def test_perfect_prediction_gives_zero(name):
    y = RNG.integers(0, 3, (2, 1, 4, 4, 3))
    y[0][y[0] == 2] = 0  # a class absent from one sample
    p = lucid.tensor(one_hot(y, 3), dtype="float64")
    for kwargs in (dict(), dict(batch=True), dict(include_background=False)):
        loss = getattr(nn, name)(to_onehot_y=True, **kwargs)(p, lucid.tensor(y))
        assert loss.item() == pytest.approx(0.0, abs=1e-6)
    logits = lucid.tensor(50.0 * (2 * one_hot(y, 3) - 1), dtype="float64")
    assert nn.FocalLoss(to_onehot_y=True)(logits, lucid.tensor(y)).item() < 1e-20


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("DiceLoss", dict(softmax=True, weight=[0.5, 2.0, 1.0])),
        ("DiceLoss", dict(sigmoid=True, squared_pred=True, jaccard=True, batch=True)),
        ("GeneralizedDiceLoss", dict(softmax=True)),
        ("TverskyLoss", dict(sigmoid=True, alpha=0.3, beta=0.7, reduction="none")),
        ("FocalLoss", dict(alpha=[0.2, 0.5, 0.3], weight=2.0, reduction="none")),
        ("FocalLoss", dict(use_softmax=True, gamma=1.5)),
        ("DiceCELoss", dict(softmax=True, weight=[0.5, 2.0, 1.0], label_smoothing=0.1)),
        ("DiceFocalLoss", dict(sigmoid=True, alpha=0.25, include_background=False)),
    ],
    ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={v}" for k, v in v.items()),
)
def test_gradcheck(name, kwargs):
    y = lucid.tensor(RNG.integers(0, 3, (2, 1, 3, 2)))
    x = lucid.tensor(RNG.standard_normal((2, 3, 3, 2)), dtype="float64", requires_grad=True)
    loss = getattr(nn, name)(to_onehot_y=True, **kwargs)
    assert gradcheck(lambda a: loss(a, y), (x,))


def test_combined_losses_are_the_sums_of_their_parts():
    x = lucid.tensor(RNG.standard_normal((2, 3, 4, 3, 2)), dtype="float64")
    y = lucid.tensor(RNG.integers(0, 3, (2, 1, 4, 3, 2)))
    w = [0.5, 2.0, 1.0]
    dice = nn.DiceLoss(softmax=True, to_onehot_y=True, include_background=False, weight=w[1:])
    ce = F.cross_entropy(x, y[:, 0], weight=lucid.tensor(w, dtype="float64"))
    got = nn.DiceCELoss(
        softmax=True, to_onehot_y=True, include_background=False, weight=w, lambda_dice=0.3
    )(x, y)
    assert got.item() == pytest.approx(0.3 * dice(x, y).item() + ce.item(), rel=1e-12)
    dice = nn.DiceLoss(sigmoid=True, to_onehot_y=True, weight=w)
    focal = nn.FocalLoss(to_onehot_y=True, gamma=1.0, alpha=0.4, weight=w)
    got = nn.DiceFocalLoss(
        sigmoid=True, to_onehot_y=True, gamma=1.0, alpha=0.4, weight=w, lambda_focal=2.0
    )(x, y)
    assert got.item() == pytest.approx(dice(x, y).item() + 2.0 * focal(x, y).item(), rel=1e-12)


def test_targets_without_channel_axis_and_float32_inputs():
    x = RNG.standard_normal((2, 3, 4, 4))
    y = RNG.integers(0, 3, (2, 1, 4, 4))
    for name in ("DiceLoss", "GeneralizedDiceLoss", "TverskyLoss", "DiceCELoss", "DiceFocalLoss"):
        loss = getattr(nn, name)(softmax=True, to_onehot_y=True)
        ref = loss(lucid.tensor(x, dtype="float64"), lucid.tensor(y)).item()
        # (B, *spatial) class maps, as cross_entropy takes them, read as (B, 1, *spatial)
        assert loss(lucid.tensor(x, dtype="float64"), lucid.tensor(y[:, 0])).item() == ref
        out = loss(lucid.tensor(x, dtype="float32"), y)  # numpy targets are accepted too
        assert out.dtype == lucid.float32 and out.item() == pytest.approx(ref, rel=1e-5)


def test_class_index_out_of_range_raises():
    x = lucid.tensor(RNG.standard_normal((1, 3, 4, 4)).astype(np.float32))
    with pytest.raises(IndexError, match=r"3"):
        nn.DiceLoss(softmax=True, to_onehot_y=True)(
            x, lucid.tensor(np.full((1, 1, 4, 4), 3))
        ).item()


def test_errors_name_what_was_expected():
    x = lucid.tensor(RNG.standard_normal((2, 3, 4, 4)).astype(np.float32))
    y = lucid.tensor(RNG.integers(0, 3, (2, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"\(2, 1, 4, 4\).*\(2, 3, 4, 4\).*to_onehot_y"):
        nn.DiceLoss()(x, y)  # indices without to_onehot_y
    with pytest.raises(ValueError, match=r"\(2, 3, 4, 5\).*\(2, 3, 4, 4\)"):
        nn.TverskyLoss()(x, lucid.zeros(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"\(2, 3, 4, 4\).*\(2, 3, 4, 4\)"):
        nn.FocalLoss(to_onehot_y=True)(x, lucid.zeros(2, 3, 4, 4))  # one-hot with to_onehot_y
    with pytest.raises(ValueError, match=r"\(2, 2, 4, 4\).*\(2, 3, 4, 4\)"):
        nn.DiceCELoss()(x, lucid.zeros(2, 2, 4, 4))
    with pytest.raises(ValueError, match=r"\(2, 3, 4\)"):
        nn.GeneralizedDiceLoss()(x, lucid.zeros(2, 3, 4))  # not (B, *spatial) either
    with pytest.raises(ValueError, match=r"\(B, C, \*spatial\).*\(2, 3\)"):
        nn.DiceLoss()(lucid.zeros(2, 3), lucid.zeros(2, 3))
    with pytest.raises(TypeError, match="floating point"):
        nn.DiceLoss()(y, y)
    with pytest.raises(ValueError, match="at most one"):
        nn.DiceLoss(sigmoid=True, softmax=True)
    with pytest.raises(ValueError, match="at most one"):
        nn.DiceCELoss(softmax=True, other_act=lucid.tanh)
    with pytest.raises(TypeError, match="callable"):
        nn.TverskyLoss(other_act="tanh")
    with pytest.raises(ValueError, match=r"one value per class \(3"):
        nn.DiceLoss(to_onehot_y=True, weight=[1.0, 2.0])(x, y)
    with pytest.raises(ValueError, match=r"one value per class \(2"):
        nn.FocalLoss(to_onehot_y=True, include_background=False, weight=[1.0, 2.0, 3.0])(x, y)
    with pytest.raises(ValueError, match=r"alpha.*one value per class \(3"):
        nn.FocalLoss(to_onehot_y=True, alpha=[0.5, 0.5])(x, y)
    with pytest.raises(ValueError, match=">= 0"):
        nn.FocalLoss(weight=[1.0, -1.0])
    with pytest.raises(ValueError, match="reduction"):
        nn.DiceCELoss(reduction="none")
    with pytest.raises(ValueError, match="lambda_focal"):
        nn.DiceFocalLoss(lambda_focal=-1.0)
    with pytest.raises(ValueError, match="w_type"):
        nn.GeneralizedDiceLoss(w_type="cubic")


def test_single_channel_warnings():
    x = lucid.tensor(RNG.standard_normal((2, 1, 4, 4)).astype(np.float32))
    y = lucid.tensor(RNG.integers(0, 2, (2, 1, 4, 4)))
    with pytest.warns(UserWarning, match="`softmax=True` ignored"):
        a = nn.DiceLoss(softmax=True)(x, y)
    with pytest.warns(UserWarning, match="`include_background=False` ignored"):
        b = nn.DiceLoss(include_background=False)(x, y)
    assert a.item() == pytest.approx(b.item())  # both compute the plain loss of the input
    with pytest.warns(UserWarning, match="`to_onehot_y=True` ignored"):
        nn.DiceFocalLoss(to_onehot_y=True)(x, y)


def test_modules_hold_their_weights_as_buffers():
    m = nn.DiceCELoss(softmax=True, weight=[0.5, 2.0, 1.0], include_background=False)
    keys = set(m.state_dict())
    assert {"dice.class_weight", "cross_entropy.weight"} <= keys
    assert m.dice.class_weight.tolist() == [2.0, 1.0]
    assert "class_weight" in dict(nn.FocalLoss(weight=2.0).named_buffers())
    assert "gamma=2.0" in repr(nn.FocalLoss()) and "w_type='simple'" in repr(
        nn.GeneralizedDiceLoss(w_type="simple")
    )
    assert "activation=softmax" in repr(nn.DiceLoss(softmax=True))
