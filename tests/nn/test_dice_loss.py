"""Dice loss: values and gradients (float32 and float64) against a float64 numpy formula of
MONAI's definition and its finite differences, every option, and clear errors."""

import numpy as np
import pytest

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
from tests.reference import numeric_grad

RNG = np.random.default_rng(11)


def np_dice(
    x,
    target,
    include_background=True,
    softmax=False,
    sigmoid=False,
    squared_pred=False,
    jaccard=False,
    smooth_nr=1e-5,
    smooth_dr=1e-5,
    batch=False,
    reduction="mean",
):
    """The definition written out in float64."""
    x = np.asarray(x, np.float64)
    c = x.shape[1]
    if softmax:
        e = np.exp(x - x.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
    elif sigmoid:
        p = 1 / (1 + np.exp(-x))
    else:
        p = x
    t = np.asarray(target)
    if t.dtype.kind in "iu":
        t = np.moveaxis(np.eye(c)[t], -1, 1)
    t = t.astype(np.float64)
    if not include_background:
        p, t = p[:, 1:], t[:, 1:]
    axes = ((0,) if batch else ()) + tuple(range(2, x.ndim))
    inter = (p * t).sum(axis=axes)
    den = (
        (p * p).sum(axis=axes) + (t * t).sum(axis=axes)
        if squared_pred
        else p.sum(axis=axes) + t.sum(axis=axes)
    )
    if jaccard:
        den = 2 * (den - inter)
    f = 1 - (2 * inter + smooth_nr) / (den + smooth_dr)
    return {"mean": f.mean(), "sum": f.sum(), "none": f}[reduction]


OPTIONS = [
    dict(softmax=True),
    dict(softmax=True, include_background=False),
    dict(sigmoid=True),
    dict(sigmoid=True, squared_pred=True),
    dict(softmax=True, jaccard=True),
    dict(softmax=True, batch=True),
    dict(softmax=True, reduction="sum"),
    dict(softmax=True, reduction="none"),
    dict(softmax=True, smooth_nr=0.0, smooth_dr=1e-6),
    dict(softmax=True, batch=True, reduction="none"),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_dice_values_and_gradients_match_float64_reference(opts, dtype):
    x = RNG.standard_normal((2, 3, 3, 4, 2))
    target = RNG.integers(0, 3, (2, 3, 4, 2))
    v = RNG.standard_normal(np_dice(x, target, **opts).shape)  # weights for a scalar objective
    xt = lucid.tensor(x, dtype=dtype, requires_grad=True)
    out = F.dice_loss(xt, lucid.tensor(target), **opts)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out.numpy(), np_dice(x, target, **opts), rtol=tol, atol=tol)
    (out * lucid.tensor(v, dtype=dtype)).sum().backward()
    ref = numeric_grad(lambda a: (np_dice(a, target, **opts) * v).sum(), x)
    # float64: the central differences' own error (~1e-9) sets the gradient's tolerance
    gtol = 1e-4 if dtype == "float32" else 1e-7
    np.testing.assert_allclose(xt.grad.numpy(), ref, rtol=gtol, atol=gtol)


def test_probability_inputs_and_float_or_channel_targets():
    p = RNG.uniform(0, 1, (2, 2, 5, 5))
    masks = (RNG.uniform(0, 1, (2, 2, 5, 5)) > 0.5).astype(np.float64)
    out = F.dice_loss(lucid.tensor(p, dtype="float64"), lucid.tensor(masks, dtype="float64"))
    assert out.item() == pytest.approx(np_dice(p, masks), rel=1e-10)
    idx = RNG.integers(0, 2, (2, 1, 5, 5))  # (N, 1, *S) class maps are accepted too
    a = F.dice_loss(lucid.tensor(p), lucid.tensor(idx)).item()
    assert a == pytest.approx(np_dice(p, idx[:, 0]), rel=1e-5)


def test_perfect_prediction_gives_zero_and_module_matches_functional():
    target = RNG.integers(0, 3, (1, 4, 4, 4))
    onehot = np.moveaxis(np.eye(3)[target], -1, 1)
    assert F.dice_loss(lucid.tensor(onehot), lucid.tensor(target)).item() == pytest.approx(
        0.0, abs=1e-6
    )
    x = lucid.tensor(RNG.standard_normal((1, 3, 4, 4, 4)).astype(np.float32))
    m = nn.DiceLoss(softmax=True, include_background=False, to_onehot_y=True)
    assert m(x, lucid.tensor(target)).item() == pytest.approx(
        F.dice_loss(x, lucid.tensor(target), softmax=True, include_background=False).item()
    )
    assert "softmax" in repr(m)


def test_dice_errors():
    x = lucid.tensor(RNG.standard_normal((2, 3, 4, 4)).astype(np.float32))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        F.dice_loss(x, lucid.tensor(np.full((2, 4, 4), 3)))
    with pytest.raises(ValueError, match="shape"):
        F.dice_loss(x, lucid.tensor(np.zeros((2, 4, 5), np.int64)))
    with pytest.raises(ValueError, match="at most one"):
        F.dice_loss(x, lucid.tensor(np.zeros((2, 4, 4), np.int64)), softmax=True, sigmoid=True)
    with pytest.raises(ValueError, match="at most one"):
        nn.DiceLoss(softmax=True, sigmoid=True)
    with pytest.raises(ValueError, match="reduction"):
        nn.DiceLoss(reduction="batchmean")
    with pytest.raises(ValueError, match="channels"):
        F.dice_loss(
            x[:, :1], lucid.tensor(np.zeros((2, 1, 4, 4), np.float32)), include_background=False
        )
