"""Losses: values against float64 numpy formulas, gradients against finite differences
(``gradcheck``) and closed forms, every option (weights, ignore_index, label smoothing,
probability targets, N-d targets, reductions), and clear errors for bad targets."""

import numpy as np
import pytest

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
from lucid.autograd import gradcheck

RNG = np.random.default_rng(7)


def t64(a, grad=False):
    return lucid.tensor(np.asarray(a, dtype=np.float64), dtype="float64", requires_grad=grad)


def close(out, expected, tol=1e-7):
    np.testing.assert_allclose(np.asarray(out.numpy(), np.float64), expected, rtol=tol, atol=tol)


# --- numpy references ---------------------------------------------------------------------------
def np_log_softmax(x, axis=1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def np_reduce(loss, reduction):
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def np_cross_entropy(
    x, t, weight=None, ignore_index=-100, reduction="mean", eps=0.0, log_probs=False
):
    """PyTorch's definition written out: per-position (1-eps)*nll + eps/C*smooth, mean divided
    by the summed weights of the kept targets."""
    c = x.shape[1]
    z = x if log_probs else np_log_softmax(x)
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    loss = np.zeros(t.shape)
    denom = 0.0
    for pos in np.ndindex(t.shape):
        y = t[pos]
        if y == ignore_index:
            continue
        zp = z[(pos[0], slice(None)) + pos[1:]]
        loss[pos] = -(1 - eps) * w[y] * zp[y] - eps / c * (w * zp).sum()
        denom += w[y]
    if reduction == "mean":
        return loss.sum() / denom
    return np_reduce(loss, reduction)


def np_cross_entropy_probs(x, p, weight=None, reduction="mean", eps=0.0):
    c = x.shape[1]
    p = p * (1 - eps) + eps / c
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    w = w.reshape((1, c) + (1,) * (x.ndim - 2))
    loss = -(np_log_softmax(x) * p * w).sum(axis=1)
    return loss.sum() / loss.size if reduction == "mean" else np_reduce(loss, reduction)


# --- cross entropy with class indices -----------------------------------------------------------
def test_cross_entropy_known_value():
    # uniform logits over 4 classes: -log(1/4)
    out = F.cross_entropy(lucid.zeros(3, 4), lucid.tensor([0, 1, 3]))
    assert abs(out.item() - np.log(4)) < 1e-6


CE_CASES = [
    dict(),
    dict(weight=[0.5, 2.0, 1.0, 3.0]),
    dict(ignore_index=2),
    dict(eps=0.2),
    dict(weight=[0.5, 2.0, 1.0, 3.0], ignore_index=1, eps=0.3),
    dict(weight=[0.5, 2.0, 1.0, 3.0], ignore_index=-100, eps=0.1),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", CE_CASES)
@pytest.mark.parametrize("shape", [(5, 4), (2, 4, 3, 2), (2, 4, 2, 1, 2)])
def test_cross_entropy_indices_values(shape, case, reduction):
    x = RNG.normal(size=shape) * 2
    t = RNG.integers(0, 4, size=(shape[0],) + shape[2:])
    t.flat[0] = case.get("ignore_index", -100)  # at least one ignored position
    eps = case.get("eps", 0.0)
    kw = dict(
        weight=case.get("weight"),
        ignore_index=case.get("ignore_index", -100),
        reduction=reduction,
        label_smoothing=eps,
    )
    out = F.cross_entropy(t64(x), lucid.tensor(t), **kw)
    expected = np_cross_entropy(x, t, case.get("weight"), kw["ignore_index"], reduction, eps)
    assert out.shape == np.shape(expected)
    close(out, expected)
    # float32 agrees too
    out32 = F.cross_entropy(lucid.tensor(x.astype(np.float32)), lucid.tensor(t), **kw)
    np.testing.assert_allclose(out32.numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CE_CASES)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_indices_gradcheck(case, reduction):
    x = RNG.normal(size=(2, 4, 3))
    t = RNG.integers(0, 4, size=(2, 3))
    t[0, 0] = case.get("ignore_index", -100)
    target = lucid.tensor(t)
    fn = lambda a: F.cross_entropy(
        a,
        target,
        weight=case.get("weight"),  # noqa: E731
        ignore_index=case.get("ignore_index", -100),
        reduction=reduction,
        label_smoothing=case.get("eps", 0.0),
    )
    assert gradcheck(fn, [t64(x, True)])


def test_cross_entropy_gradient_closed_form():
    # mean CE, no options: d/dx = (softmax(x) - onehot(y)) / N
    x = RNG.normal(size=(6, 5))
    t = RNG.integers(0, 5, size=6)
    xt = t64(x, True)
    F.cross_entropy(xt, lucid.tensor(t)).backward()
    sm = np.exp(np_log_softmax(x))
    expected = (sm - np.eye(5)[t]) / 6
    close(xt.grad, expected)


def test_cross_entropy_ignored_positions_get_no_gradient_and_all_ignored_is_nan():
    x = t64(RNG.normal(size=(3, 4)), True)
    t = lucid.tensor([1, -100, 2])
    F.cross_entropy(x, t, label_smoothing=0.2).backward()
    assert np.all(x.grad.numpy()[1] == 0) and np.any(x.grad.numpy()[0] != 0)
    out = F.cross_entropy(lucid.zeros(2, 3), lucid.tensor([-100, -100]))
    assert np.isnan(out.item())


def test_cross_entropy_stable_for_huge_logits():
    x = lucid.tensor([[1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 0.0]], requires_grad=True)
    out = F.cross_entropy(x, lucid.tensor([2, 1]), reduction="none")
    np.testing.assert_allclose(out.numpy(), [2000.0, 0.0], rtol=1e-6)
    out.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_allclose(x.grad.numpy(), [[1, 0, -1], [0, 0, 0]], atol=1e-6)


def test_cross_entropy_unbatched():
    x = RNG.normal(size=4)
    out = F.cross_entropy(t64(x), lucid.tensor(2), reduction="none")
    assert out.shape == ()
    close(out, -np_log_softmax(x[None])[0, 2])
    close(
        F.cross_entropy(t64(x), lucid.tensor(2), label_smoothing=0.1, weight=[1.0, 2, 3, 4]),
        np_cross_entropy(x[None], np.array([2]), [1.0, 2, 3, 4], eps=0.1),
    )
    p = np.array([0.1, 0.2, 0.3, 0.4])
    close(F.cross_entropy(t64(x), t64(p)), -(np_log_softmax(x[None])[0] * p).sum())


def test_cross_entropy_matches_nll_of_log_softmax():
    x = RNG.normal(size=(3, 5, 2))
    t = RNG.integers(0, 5, size=(3, 2))
    w = [1.0, 0.5, 2.0, 1.5, 1.0]
    a = F.cross_entropy(t64(x), lucid.tensor(t), weight=w, ignore_index=3)
    b = F.nll_loss(F.log_softmax(t64(x), 1), lucid.tensor(t), weight=w, ignore_index=3)
    close(a, b.numpy())


# --- cross entropy with probability targets -----------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "kw",
    [dict(), dict(weight=[1.0, 2.0, 0.5]), dict(eps=0.25), dict(weight=[1.0, 2.0, 0.5], eps=0.1)],
)
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2, 2)])
def test_cross_entropy_probabilities(shape, kw, reduction):
    x = RNG.normal(size=shape)
    p = RNG.uniform(size=shape)
    p /= p.sum(axis=1, keepdims=True)
    out = F.cross_entropy(
        t64(x),
        t64(p),
        weight=kw.get("weight"),
        reduction=reduction,
        label_smoothing=kw.get("eps", 0.0),
    )
    close(out, np_cross_entropy_probs(x, p, kw.get("weight"), reduction, kw.get("eps", 0.0)))
    fn = lambda a, b: F.cross_entropy(
        a,
        b,
        weight=kw.get("weight"),  # noqa: E731
        reduction=reduction,
        label_smoothing=kw.get("eps", 0.0),
    )
    if shape == (4, 3):  # gradients for input and (soft) target
        assert gradcheck(fn, [t64(x, True), t64(p, True)])


# --- nll ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(weight=[2.0, 1.0, 0.5]),
        dict(ignore_index=0),
        dict(weight=[2.0, 1.0, 0.5], ignore_index=1),
    ],
)
def test_nll_loss(kw, reduction):
    x = np_log_softmax(RNG.normal(size=(4, 3, 2)))
    t = RNG.integers(0, 3, size=(4, 2))
    t[0, 0] = kw.get("ignore_index", -100)
    t[1, 1] = 1 if kw.get("ignore_index") != 1 else 2
    out = F.nll_loss(t64(x), lucid.tensor(t), reduction=reduction, **kw)
    close(
        out,
        np_cross_entropy(
            x, t, kw.get("weight"), kw.get("ignore_index", -100), reduction, log_probs=True
        ),
    )
    target = lucid.tensor(t)
    assert gradcheck(lambda a: F.nll_loss(a, target, reduction=reduction, **kw), [t64(x, True)])


def test_nll_loss_gradient_is_a_scatter():
    x = t64(np.zeros((2, 3)), True)
    F.nll_loss(x, lucid.tensor([2, 0]), weight=[1.0, 2.0, 4.0], reduction="sum").backward()
    close(x.grad, [[0, 0, -4.0], [-1.0, 0, 0]])


# --- binary cross entropy ----------------------------------------------------------------------
def np_bce(p, t, w=1.0):
    return -w * (t * np.maximum(np.log(p), -100) + (1 - t) * np.maximum(np.log1p(-p), -100))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy(reduction):
    p = RNG.uniform(0.05, 0.95, size=(3, 4))
    t = RNG.uniform(size=(3, 4))
    w = RNG.uniform(0.5, 2.0, size=(4,))
    close(
        F.binary_cross_entropy(t64(p), t64(t), reduction=reduction),
        np_reduce(np_bce(p, t), reduction),
    )
    close(
        F.binary_cross_entropy(t64(p), t64(t), weight=t64(w), reduction=reduction),
        np_reduce(np_bce(p, t, w), reduction),
    )
    assert gradcheck(
        lambda a, b: F.binary_cross_entropy(a, b, weight=w, reduction=reduction),
        [t64(p, True), t64(t, True)],
    )


def test_binary_cross_entropy_clamps_log_at_the_ends():
    p = t64([0.0, 1.0, 0.0, 1.0], True)
    t = t64([1.0, 0.0, 0.0, 1.0])
    out = F.binary_cross_entropy(p, t, reduction="none")
    close(out, [100.0, 100.0, 0.0, 0.0])
    out.sum().backward()
    g = p.grad.numpy()
    assert np.all(np.isfinite(g))
    close(p.grad, [-1e12, 1e12, 0.0, 0.0], tol=1e-6)  # (p - t) / max(p(1-p), 1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits(reduction):
    x = RNG.normal(size=(3, 4)) * 3
    t = RNG.uniform(size=(3, 4))
    pw = RNG.uniform(0.5, 3.0, size=(4,))
    w = RNG.uniform(0.5, 2.0, size=(3, 1))
    sig = 1 / (1 + np.exp(-x))
    base = -(t * np.log(sig) + (1 - t) * np.log(1 - sig))
    close(
        F.binary_cross_entropy_with_logits(t64(x), t64(t), reduction=reduction),
        np_reduce(base, reduction),
    )
    weighted = -w * (pw * t * np.log(sig) + (1 - t) * np.log(1 - sig))
    close(
        F.binary_cross_entropy_with_logits(
            t64(x), t64(t), weight=w, pos_weight=t64(pw), reduction=reduction
        ),
        np_reduce(weighted, reduction),
    )
    fn = lambda a, b, c, d: F.binary_cross_entropy_with_logits(  # noqa: E731
        a, b, weight=d, pos_weight=c, reduction=reduction
    )
    assert gradcheck(fn, [t64(x, True), t64(t, True), t64(pw, True), t64(w, True)])


def test_bce_with_logits_stable_and_exact_at_zero():
    x = t64([-200.0, 200.0, 0.0, 0.0, 50.0], True)
    t = t64([1.0, 0.0, 1.0, 0.0, 1.0])
    out = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    close(out, [200.0, 200.0, np.log(2), np.log(2), np.log1p(np.exp(-50.0))])
    out.sum().backward()
    close(x.grad, 1 / (1 + np.exp(-x.numpy())) - t.numpy())  # sigmoid(x) - t, incl. 0.5 at 0


def test_bce_with_logits_pos_weight_for_volumes():
    x = RNG.normal(size=(2, 3, 2, 2, 2))
    t = (RNG.uniform(size=x.shape) > 0.5).astype(np.float64)
    pw = np.array([1.0, 2.0, 5.0]).reshape(3, 1, 1, 1)
    sig = 1 / (1 + np.exp(-x))
    expected = -(pw * t * np.log(sig) + (1 - t) * np.log(1 - sig)).mean()
    close(F.binary_cross_entropy_with_logits(t64(x), t64(t), pos_weight=pw), expected)
    with pytest.raises(ValueError, match=r"pos_weight of shape \(3,\)"):
        F.binary_cross_entropy_with_logits(t64(x), t64(t), pos_weight=[1.0, 2.0, 5.0])


# --- regression losses ---------------------------------------------------------------------------
REG = [
    ("mse", lambda d, k: d * d, {}),
    ("l1", lambda d, k: np.abs(d), {}),
    (
        "smooth_l1",
        lambda d, k: np.where(np.abs(d) < k, 0.5 * d * d / k, np.abs(d) - 0.5 * k),
        {"beta": 0.7},
    ),
    (
        "huber",
        lambda d, k: np.where(np.abs(d) < k, 0.5 * d * d, k * (np.abs(d) - 0.5 * k)),
        {"delta": 0.7},
    ),
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name,formula,kw", REG)
def test_regression_losses(name, formula, kw, reduction):
    x = RNG.normal(size=(3, 2, 2))
    y = RNG.normal(size=(3, 2, 2))
    d = x - y
    d[np.abs(np.abs(d) - 0.7) < 0.05] += 0.2  # keep finite differences off the kinks
    d[np.abs(d) < 0.05] += 0.2
    y = x - d
    fn = getattr(F, f"{name}_loss")
    k = next(iter(kw.values()), None)
    close(fn(t64(x), t64(y), reduction=reduction, **kw), np_reduce(formula(d, k), reduction))
    assert gradcheck(lambda a, b: fn(a, b, reduction=reduction, **kw), [t64(x, True), t64(y, True)])


def test_smooth_l1_beta_zero_is_l1_and_boundary_is_linear():
    x, y = t64([0.5, -2.0, 1.0], True), t64([0.0, 0.0, 0.0])
    close(F.smooth_l1_loss(x, y, beta=0.0, reduction="none"), [0.5, 2.0, 1.0])
    F.smooth_l1_loss(x, y, beta=1.0, reduction="sum").backward()
    close(x.grad, [0.5, -1.0, 1.0])  # |d| == beta takes the linear branch (gradient sign(d))
    x2 = t64([1.0, 3.0], True)
    F.huber_loss(x2, t64([0.0, 0.0]), delta=2.0, reduction="sum").backward()
    close(x2.grad, [1.0, 2.0])


# --- kl divergence -------------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    logq = np_log_softmax(RNG.normal(size=(4, 3)))
    p = np.exp(np_log_softmax(RNG.normal(size=(4, 3))))
    target = np.log(p) if log_target else p
    pointwise = p * (np.log(p) - logq)
    expected = pointwise.sum() / 4 if reduction == "batchmean" else np_reduce(pointwise, reduction)
    close(F.kl_div(t64(logq), t64(target), reduction=reduction, log_target=log_target), expected)
    assert gradcheck(
        lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
        [t64(logq, True), t64(target, True)],
    )


def test_kl_div_zero_target_contributes_zero():
    logq = t64(np.log([[0.5, 0.25, 0.25]]), True)
    out = F.kl_div(logq, t64([[1.0, 0.0, 0.0]]), reduction="sum")
    close(out, np.log(2.0))
    out.backward()
    close(logq.grad, [[-1.0, 0.0, 0.0]])


# --- modules ---------------------------------------------------------------------------------
def test_loss_modules_match_functional_and_keep_weights_as_buffers():
    x = RNG.normal(size=(4, 3))
    t = RNG.integers(0, 3, size=4)
    m = nn.CrossEntropyLoss(weight=[1.0, 2.0, 3.0], ignore_index=1, label_smoothing=0.1)
    close(
        m(t64(x), lucid.tensor(t)).astype("float64"),
        np_cross_entropy(x, t, [1.0, 2.0, 3.0], 1, "mean", 0.1),
        tol=1e-6,
    )
    assert set(m.state_dict()) == {"weight"}
    logp = np_log_softmax(x)
    close(
        nn.NLLLoss(reduction="sum")(t64(logp), lucid.tensor(t)),
        np_cross_entropy(logp, t, reduction="sum", log_probs=True),
    )
    p, y = RNG.uniform(0.1, 0.9, size=(4,)), RNG.uniform(size=(4,))
    close(nn.BCELoss()(t64(p), t64(y)), np_bce(p, y).mean())
    bce = nn.BCEWithLogitsLoss(pos_weight=lucid.tensor([2.0]))
    assert set(bce.state_dict()) == {"pos_weight"}
    d = x - 0.3
    close(nn.MSELoss()(t64(x), t64(x - d)), (d * d).mean())
    close(nn.L1Loss(reduction="sum")(t64(x), t64(x - d)), np.abs(d).sum())
    close(
        nn.SmoothL1Loss(beta=0.5)(t64(x), t64(x - d)),
        np.where(np.abs(d) < 0.5, d * d, np.abs(d) - 0.25).mean(),
    )
    close(
        nn.HuberLoss(delta=0.5)(t64(x), t64(x - d)),
        np.where(np.abs(d) < 0.5, 0.5 * d * d, 0.5 * (np.abs(d) - 0.25)).mean(),
    )
    close(nn.KLDivLoss(reduction="batchmean")(t64(logp), t64(np.exp(logp))), 0.0)
    assert "label_smoothing=0.1" in repr(m)


# --- errors ---------------------------------------------------------------------------------------
def test_errors_name_the_shapes_and_values():
    x = lucid.zeros(4, 3, 2)
    with pytest.raises(ValueError, match=r"target must have shape \(4, 2\), got \(4,\)"):
        F.cross_entropy(x, lucid.tensor([0, 1, 2, 0]))
    # out-of-range targets: NaN loss (no host read in the step), IndexError at the next read
    loss = F.cross_entropy(lucid.zeros(2, 3), lucid.tensor([0, 3]))
    with pytest.raises(IndexError, match=r"cross_entropy target: index 3 .* axis of size 3"):
        loss.item()
    assert np.isnan(loss.item())
    loss = F.nll_loss(lucid.zeros(2, 3), lucid.tensor([-1, 1]), reduction="none")
    with pytest.raises(IndexError, match=r"nll_loss target: index -1 .* axis of size 3"):
        lucid.check_indices()
    assert np.isnan(loss.numpy()[0]) and loss.numpy()[1] == 0
    F.cross_entropy(lucid.zeros(2, 3), lucid.tensor([-7, 1]), ignore_index=-7)  # ignored: fine
    with pytest.raises(ValueError, match=r"target shape \(2, 2\) must equal input shape \(2, 3\)"):
        F.cross_entropy(lucid.zeros(2, 3), lucid.zeros(2, 2))
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        F.cross_entropy(lucid.zeros(2, 3), lucid.tensor([0, 1]), weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.mse_loss(lucid.zeros(2), lucid.zeros(2), reduction="avg")
    with pytest.raises(ValueError, match=r"target shape \(2, 1\) must equal input shape \(2,\)"):
        F.mse_loss(lucid.zeros(2), lucid.zeros(2, 1))
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        F.binary_cross_entropy(lucid.tensor([0.5, 1.5]), lucid.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="integer class indices"):
        F.nll_loss(lucid.zeros(2, 3), lucid.zeros(2))
    with pytest.raises(TypeError, match="bool"):
        F.cross_entropy(lucid.zeros(2, 3), lucid.tensor([True, False]))
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match="batchmean"):
        nn.MSELoss(reduction="batchmean")
