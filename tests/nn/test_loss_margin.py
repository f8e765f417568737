"""The margin/ranking/embedding and likelihood losses, the empty-batch behaviour of every loss,
and the all-ignored class-index case: values and gradients against PyTorch in float64 (when
installed), gradcheck, and numpy formulas written out."""

import math

import numpy as np
import pytest

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
from lucid.autograd import gradcheck

RNG = np.random.default_rng(11)


def _exp_error():
    """Relative error of Lucid's float64 exp (float64 arrays are computed in numpy: ~1e-16):
    losses built on exp/log are compared at ``max(1e-10, 10 * this)``, everything else at
    1e-10."""
    a = np.linspace(-5, 5, 201)
    return float(
        np.max(np.abs(lucid.exp(lucid.tensor(a, dtype="float64")).numpy() / np.exp(a) - 1))
    )


RTOL = max(1e-10, 10 * _exp_error())


def signs(*shape):
    return np.where(RNG.random(shape) < 0.5, -1.0, 1.0)


def multilabel_target(n, c):
    t = np.full((n, c), -1, np.int64)
    for i in range(n):
        k = RNG.integers(0, c + 1)
        t[i, :k] = RNG.choice(c, size=k, replace=False)
        if k < c:
            t[i, k + 1 :] = RNG.integers(0, c, size=c - k - 1)  # garbage after the -1 is ignored
    return t


# name -> (functional name, arrays (float arrays get gradients), keyword options)
def cases():
    x, y = RNG.normal(size=(5, 4)), RNG.normal(size=(5, 4))
    v = RNG.uniform(0.1, 2.0, size=(5, 4))
    return [
        (
            "margin_ranking",
            "margin_ranking_loss",
            [RNG.normal(size=7), RNG.normal(size=7), signs(7)],
            {"margin": 0.3},
        ),
        ("margin_ranking_2d", "margin_ranking_loss", [x, y, signs(5, 4)], {}),
        (
            "hinge_embedding",
            "hinge_embedding_loss",
            [RNG.uniform(-0.5, 2, (5, 4)), signs(5, 4)],
            {"margin": 1.5},
        ),
        ("multilabel_margin", "multilabel_margin_loss", [x, multilabel_target(5, 4)], {}),
        (
            "multilabel_margin_1d",
            "multilabel_margin_loss",
            [RNG.normal(size=6), np.array([3, 0, -1, 2, 2, 1])],
            {},
        ),
        ("soft_margin", "soft_margin_loss", [3 * x, signs(5, 4)], {}),
        (
            "multilabel_soft_margin",
            "multilabel_soft_margin_loss",
            [x, (RNG.random((5, 4)) < 0.5).astype(float)],
            {},
        ),
        (
            "multilabel_soft_margin_w",
            "multilabel_soft_margin_loss",
            [x, (RNG.random((5, 4)) < 0.5).astype(float)],
            {"weight": RNG.uniform(0.5, 2, 4)},
        ),
        ("cosine_embedding", "cosine_embedding_loss", [x, y, signs(5)], {"margin": 0.1}),
        ("cosine_embedding_1d", "cosine_embedding_loss", [x[0], y[0], np.array(-1.0)], {}),
        ("multi_margin", "multi_margin_loss", [x, RNG.integers(0, 4, 5)], {}),
        (
            "multi_margin_p2_w",
            "multi_margin_loss",
            [x, RNG.integers(0, 4, 5)],
            {"p": 2, "margin": 0.7, "weight": RNG.uniform(0.5, 2, 4)},
        ),
        ("multi_margin_1d", "multi_margin_loss", [x[0], np.array(2)], {}),
        ("triplet", "triplet_margin_loss", [x, y, RNG.normal(size=(5, 4))], {}),
        (
            "triplet_p1_swap",
            "triplet_margin_loss",
            [x, y, RNG.normal(size=(5, 4))],
            {"p": 1.0, "swap": True, "margin": 2.0},
        ),
        ("triplet_p3", "triplet_margin_loss", [x[0], y[0], x[1]], {"p": 3.0, "margin": 0.5}),
        ("poisson", "poisson_nll_loss", [x, RNG.poisson(2.0, (5, 4)).astype(float)], {}),
        (
            "poisson_full",
            "poisson_nll_loss",
            [v, RNG.poisson(2.0, (5, 4)).astype(float)],
            {"log_input": False, "full": True},
        ),
        ("gaussian", "gaussian_nll_loss", [x, y, v], {}),
        ("gaussian_homo", "gaussian_nll_loss", [x, y, v[:, 0]], {"full": True}),
        ("gaussian_bcast", "gaussian_nll_loss", [x, y, v[:, :1]], {}),
        ("gaussian_float", "gaussian_nll_loss", [x, y, 0.5], {}),
        ("gaussian_clamped", "gaussian_nll_loss", [x, y, np.where(v < 1, 1e-9, v)], {"eps": 1e-3}),
    ]


CASES = cases()
IDS = [c[0] for c in CASES]


def _lucid_args(arrays, grad):
    out = []
    for a in arrays:
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            out.append(lucid.tensor(a, dtype="float64", requires_grad=grad))
        elif isinstance(a, np.ndarray):
            out.append(lucid.tensor(a))
        else:
            out.append(a)
    return out


def t64(a):
    return lucid.tensor(a, dtype="float64")


def _options(kw, wrap):
    return {k: wrap(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name,fn,arrays,kw", CASES, ids=IDS)
def test_matches_torch_values_and_grads(name, fn, arrays, kw, reduction):
    torch = pytest.importorskip("torch")
    tf = getattr(torch.nn.functional, fn)

    def torch_args(target_grad):
        return [
            torch.tensor(a, requires_grad=a.dtype.kind == "f" and (i == 0 or target_grad))
            if isinstance(a, np.ndarray)
            else a
            for i, a in enumerate(arrays)
        ]

    targs = torch_args(True)
    try:
        expected = tf(*targs, **_options(kw, torch.tensor), reduction=reduction)
    except RuntimeError as exc:  # PyTorch has no gradient for this loss's target
        assert "not differentiable" in str(exc)
        targs = torch_args(False)
        expected = tf(*targs, **_options(kw, torch.tensor), reduction=reduction)
    expected.sum().backward()
    largs = _lucid_args(arrays, True)
    out = getattr(F, fn)(*largs, **_options(kw, t64), reduction=reduction)
    assert out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=RTOL, atol=1e-12)
    out.sum().backward()
    for la, ta in zip(largs, targs):
        if isinstance(la, lucid.Tensor) and la.requires_grad and ta.grad is not None:
            expected_grad = ta.grad.numpy()
            if name == "poisson_full" and la is largs[1]:
                # PyTorch's target gradient is NaN at count 0 (0 * log 0 in the masked Stirling
                # term); Lucid's is finite there (docs/nn.md)
                assert np.isfinite(la.grad.numpy()).all()
                keep = arrays[1] != 0
                expected_grad, la_grad = expected_grad[keep], la.grad.numpy()[keep]
            else:
                la_grad = la.grad.numpy()
            np.testing.assert_allclose(la_grad, expected_grad, rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("name,fn,arrays,kw", CASES, ids=IDS)
def test_gradcheck(name, fn, arrays, kw):
    if name == "gaussian_clamped":
        pytest.skip("the clamp is invisible to the gradient by design: compared with PyTorch")
    largs = _lucid_args(arrays, True)
    if name == "poisson_full":
        largs[1] = largs[1].detach()  # integer counts: the Stirling mask t > 1 is a jump there
    if fn in (
        "soft_margin_loss",
        "margin_ranking_loss",
        "hinge_embedding_loss",
        "cosine_embedding_loss",
    ):
        largs[-1] = largs[-1].detach()  # the +-1 label: kinks make finite differences moot
    opts = _options(kw, t64)
    assert gradcheck(lambda *a: getattr(F, fn)(*a, **opts, reduction="sum"), largs)


# --- numpy formulas, written out independently ------------------------------------------------
def test_multilabel_margin_formula():
    x = RNG.normal(size=(3, 5))
    t = np.array([[3, 0, -1, 1, 1], [4, 4, 2, -1, 0], [-1, 2, 3, 4, 0]])
    expected = []
    for xi, ti in zip(x, t):
        listed = []
        for v in ti:
            if v == -1:
                break
            listed.append(v)
        total = sum(
            max(0.0, 1 - (xi[j] - xi[i])) for j in listed for i in range(5) if i not in listed
        )
        expected.append(total / 5)
    out = F.multilabel_margin_loss(
        lucid.tensor(x, dtype="float64"), lucid.tensor(t), reduction="none"
    )
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


def test_multi_margin_and_triplet_formulas():
    x, t = RNG.normal(size=(4, 3)), np.array([0, 2, 1, 1])
    expected = [
        sum(max(0.0, 1 - xi[y] + xi[i]) ** 2 for i in range(3) if i != y) / 3 for xi, y in zip(x, t)
    ]
    out = F.multi_margin_loss(
        lucid.tensor(x, dtype="float64"), lucid.tensor(t), p=2, reduction="none"
    )
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    a, p, n = RNG.normal(size=(3, 4, 5))
    d = lambda u, v: np.sqrt(((u - v + 1e-6) ** 2).sum(-1))  # noqa: E731
    expected = np.maximum(1.0 + d(a, p) - d(a, n), 0).mean()
    out = F.triplet_margin_loss(*(lucid.tensor(u, dtype="float64") for u in (a, p, n)))
    np.testing.assert_allclose(out.item(), expected, rtol=1e-12)


def test_gaussian_and_poisson_formulas():
    x, t, v = RNG.normal(size=6), RNG.normal(size=6), RNG.uniform(0.1, 1, 6)
    out = F.gaussian_nll_loss(
        lucid.tensor(x, dtype="float64"),
        lucid.tensor(t, dtype="float64"),
        lucid.tensor(v, dtype="float64"),
        full=True,
        reduction="sum",
    )
    expected = (0.5 * (np.log(v) + (x - t) ** 2 / v) + 0.5 * math.log(2 * math.pi)).sum()
    np.testing.assert_allclose(out.item(), expected, rtol=1e-12)
    k = np.array([0.0, 1.0, 2.0, 5.0, 9.0, 3.0])
    out = F.poisson_nll_loss(
        lucid.tensor(x, dtype="float64"),
        lucid.tensor(k, dtype="float64"),
        full=True,
        reduction="none",
    )
    stirling = np.where(
        k > 1, k * np.log(np.maximum(k, 1)) - k + 0.5 * np.log(2 * np.pi * np.maximum(k, 1)), 0
    )
    np.testing.assert_allclose(out.numpy(), np.exp(x) - k * x + stirling, rtol=RTOL)


def test_pairwise_and_logistic_formulas():
    x1, x2 = RNG.normal(size=(6, 3)), RNG.normal(size=(6, 3))
    y = signs(6, 3)
    t64s = [lucid.tensor(a, dtype="float64") for a in (x1, x2, y)]
    out = F.margin_ranking_loss(*t64s, 0.2, reduction="none")
    np.testing.assert_allclose(out.numpy(), np.maximum(0, -y * (x1 - x2) + 0.2), rtol=1e-12)
    out = F.hinge_embedding_loss(t64s[0], t64s[2], 0.7, reduction="none")
    np.testing.assert_allclose(
        out.numpy(), np.where(y == 1, x1, np.maximum(0, 0.7 - x1)), rtol=1e-12
    )
    out = F.soft_margin_loss(t64s[0] * 30, t64s[2], reduction="none")  # large: stable form
    np.testing.assert_allclose(out.numpy(), np.logaddexp(0, -y * x1 * 30), rtol=RTOL)
    p01 = (y > 0).astype(float)
    out = F.multilabel_soft_margin_loss(
        t64s[0], lucid.tensor(p01, dtype="float64"), reduction="none"
    )
    expected = np.mean(p01 * np.logaddexp(0, -x1) + (1 - p01) * np.logaddexp(0, x1), axis=1)
    np.testing.assert_allclose(out.numpy(), expected, rtol=RTOL)
    label = y[:, 0]
    cos = (x1 * x2).sum(1) / np.sqrt(((x1 * x1).sum(1) + 1e-12) * ((x2 * x2).sum(1) + 1e-12))
    out = F.cosine_embedding_loss(
        t64s[0], t64s[1], lucid.tensor(label, dtype="float64"), 0.1, reduction="none"
    )
    np.testing.assert_allclose(
        out.numpy(), np.where(label == 1, 1 - cos, np.maximum(0, cos - 0.1)), rtol=1e-12
    )


# --- modules ------------------------------------------------------------------------------------
def test_modules_call_their_functional():
    x, y = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    lx, ly = lucid.tensor(x, dtype="float64"), lucid.tensor(y, dtype="float64")
    s = lucid.tensor(signs(4, 3), dtype="float64")
    idx = lucid.tensor(np.array([0, 2, 1, 1]))
    w = lucid.tensor(np.array([1.0, 2.0, 0.5]), dtype="float64")
    pairs = [
        (
            nn.MarginRankingLoss(0.2, reduction="sum"),
            F.margin_ranking_loss(lx, ly, s, 0.2, reduction="sum"),
            (lx, ly, s),
        ),
        (nn.HingeEmbeddingLoss(0.5), F.hinge_embedding_loss(lx, s, 0.5), (lx, s)),
        (
            nn.MultiLabelMarginLoss(),
            F.multilabel_margin_loss(lx, lucid.tensor(np.array([[0, -1, 0]] * 4))),
            (lx, lucid.tensor(np.array([[0, -1, 0]] * 4))),
        ),
        (nn.SoftMarginLoss(reduction="none"), F.soft_margin_loss(lx, s, reduction="none"), (lx, s)),
        (
            nn.MultiLabelSoftMarginLoss(w),
            F.multilabel_soft_margin_loss(lx, (s > 0) * 1.0, w),
            (lx, (s > 0) * 1.0),
        ),
        (
            nn.CosineEmbeddingLoss(0.1),
            F.cosine_embedding_loss(lx, ly, s[:, 0], 0.1),
            (lx, ly, s[:, 0]),
        ),
        (nn.MultiMarginLoss(2, 0.5, w), F.multi_margin_loss(lx, idx, 2, 0.5, w), (lx, idx)),
        (
            nn.TripletMarginLoss(0.5, 1.0, swap=True),
            F.triplet_margin_loss(lx, ly, s, 0.5, 1.0, swap=True),
            (lx, ly, s),
        ),
        (nn.PoissonNLLLoss(full=True), F.poisson_nll_loss(lx, ly * ly, full=True), (lx, ly * ly)),
        (
            nn.GaussianNLLLoss(full=True),
            F.gaussian_nll_loss(lx, ly, ly * ly, True),
            (lx, ly, ly * ly),
        ),
    ]
    for module, expected, args in pairs:
        np.testing.assert_allclose(module(*args).numpy(), expected.numpy(), rtol=1e-12)
        assert type(module).__name__ in repr(module)
    assert "weight" in nn.MultiMarginLoss(weight=[1.0, 2.0]).state_dict()


def test_deprecated_positional_options_fail_loudly():
    x = lucid.tensor(RNG.normal(size=(2, 3)))
    with pytest.raises(TypeError):
        F.soft_margin_loss(x, x, None, None, "sum")  # PyTorch's size_average, reduce, reduction
    with pytest.raises(TypeError):
        nn.MarginRankingLoss(0.0, None, None, "sum")
    with pytest.raises(TypeError):
        nn.GaussianNLLLoss(True)  # keyword-only in PyTorch too


def test_bad_arguments():
    x = lucid.tensor(RNG.normal(size=(2, 3)))
    with pytest.raises(IndexError, match="out of range"):
        F.multi_margin_loss(x, lucid.tensor(np.array([0, 3])))
    with pytest.raises(IndexError, match="out of range"):
        F.multilabel_margin_loss(x, lucid.tensor(np.array([[0, 5, -1], [1, -1, 9]])))
    with pytest.raises(ValueError, match="p == 1"):
        F.multi_margin_loss(x, lucid.tensor(np.array([0, 1])), p=3)
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(x, x, -x * x - 1)
    with pytest.raises(ValueError, match="does not fit"):
        F.gaussian_nll_loss(x, x, lucid.ones(3, 2))
    with pytest.raises(ValueError, match="margin"):
        F.triplet_margin_loss(x, x, x, margin=0.0)
    with pytest.raises(ValueError, match="reduction"):
        F.hinge_embedding_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="same number of dims"):
        F.margin_ranking_loss(x, x, lucid.ones(3))


# --- empty batches and all-ignored targets (issue 10 item 7, issue 11 item 4) ---------------
def empty_cases():
    e = np.zeros((0, 4))
    idx = np.zeros((0,), np.int64)
    return [
        ("cross_entropy", [e, idx], {}),
        ("nll_loss", [e, idx], {}),
        ("cross_entropy", [np.zeros((0, 3, 2, 2)), np.zeros((0, 2, 2), np.int64)], {}),
        ("cross_entropy", [np.zeros((2, 3, 0)), np.zeros((2, 0), np.int64)], {}),
        ("cross_entropy", [e, e], {}),
        ("binary_cross_entropy", [e, e], {}),
        ("binary_cross_entropy_with_logits", [e, e], {}),
        ("mse_loss", [e, e], {}),
        ("l1_loss", [e, e], {}),
        ("smooth_l1_loss", [e, e], {}),
        ("huber_loss", [e, e], {}),
        ("kl_div", [e, e], {}),
        ("margin_ranking_loss", [e, e, e], {}),
        ("hinge_embedding_loss", [e, e], {}),
        ("multilabel_margin_loss", [e, np.zeros((0, 4), np.int64)], {}),
        ("soft_margin_loss", [e, e], {}),
        ("multilabel_soft_margin_loss", [e, e], {}),
        ("cosine_embedding_loss", [e, e, np.zeros(0)], {}),
        ("multi_margin_loss", [e, idx], {}),
        ("triplet_margin_loss", [e, e, e], {}),
        ("poisson_nll_loss", [e, e], {"full": True}),
        ("gaussian_nll_loss", [e, e, e], {}),
    ]


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("fn,arrays,kw", empty_cases(), ids=[c[0] for c in empty_cases()])
def test_empty_batch(fn, arrays, kw, reduction):
    largs = _lucid_args(arrays[:1], True) + _lucid_args(arrays[1:], False)
    out = getattr(F, fn)(*largs, **kw, reduction=reduction)
    if reduction == "none":
        assert out.numel() == 0
    else:
        assert out.shape == ()
        assert math.isnan(out.item()) if reduction == "mean" else out.item() == 0.0
    out.sum().backward()
    assert largs[0].grad.shape == largs[0].shape
    torch = pytest.importorskip("torch")
    targs = [torch.tensor(a) for a in arrays]
    expected = getattr(torch.nn.functional, fn)(*targs, **kw, reduction=reduction)
    assert out.shape == tuple(expected.shape)
    if fn in ("multi_margin_loss", "multilabel_margin_loss") and reduction != "none":
        return  # PyTorch 2.13 returns uninitialised memory (e.g. 6.9e-310) here
    np.testing.assert_array_equal(out.numpy(), expected.numpy())  # NaN == NaN here


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss])
@pytest.mark.parametrize("weighted", [False, True])
def test_all_targets_ignored_gives_nan_value_and_zero_gradient(fn, weighted):
    x = lucid.tensor(RNG.normal(size=(3, 4, 2)), requires_grad=True)
    t = lucid.tensor(np.full((3, 2), 5, np.int64))
    w = lucid.tensor([1.0, 2.0, 0.5, 1.0]) if weighted else None
    for reduction, value in (("mean", math.nan), ("sum", 0.0)):
        out = fn(x, t, weight=w, ignore_index=5, reduction=reduction)
        out.backward()
        assert math.isnan(out.item()) if math.isnan(value) else out.item() == value
        np.testing.assert_array_equal(x.grad.numpy(), 0.0)
        x.grad = None
    # one kept target: an ordinary mean again
    t2 = lucid.tensor(np.array([[5, 5], [1, 5], [5, 5]]))
    out = fn(x, t2, weight=w, ignore_index=5)
    assert math.isfinite(out.item())
