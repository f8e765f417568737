"""Pooling: values, indices and gradients against the float64 reference (tests/reference.py) over a
seeded sweep of 1/2/3-d configurations, adaptive pools against direct numpy loops, the layers,
and clear errors for bad input."""

import itertools

import numpy as np
import pytest

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
from lucid.autograd import gradcheck
from tests import reference as ref

MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
ADA_AVG = {1: F.adaptive_avg_pool1d, 2: F.adaptive_avg_pool2d, 3: F.adaptive_avg_pool3d}
ADA_MAX = {1: F.adaptive_max_pool1d, 2: F.adaptive_max_pool2d, 3: F.adaptive_max_pool3d}


def _configs(seed, count, dilation=True):
    """Random valid pooling configurations: (n, shape, kernel, stride, padding, dilation, ceil)."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        n = int(rng.integers(1, 4))
        k = tuple(int(v) for v in rng.integers(1, 4, n))
        s = tuple(int(v) for v in rng.integers(1, 4, n))
        d = tuple(int(v) for v in rng.integers(1, 3, n)) if dilation else (1,) * n
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        ceil = bool(rng.integers(0, 2))
        size = tuple(
            max(1, dd * (kk - 1) + 1 - 2 * pp + int(rng.integers(0, 5 if n < 3 else 3)))
            for kk, dd, pp in zip(k, d, p)
        )
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 3))) + size
        if min(ref.pool_out_size(size, k, s, p, d, ceil)) < 1:
            continue
        out.append((n, shape, k, s, p, d, ceil))
    return out


def _tied(rng, shape):
    """Coarse values, so that most windows hold tied maxima."""
    return rng.integers(-2, 3, shape).astype(np.float64)


@pytest.mark.parametrize("n, shape, k, s, p, d, ceil", _configs(0, 40))
def test_max_pool_matches_reference_values_indices_grads(n, shape, k, s, p, d, ceil):
    rng = np.random.default_rng(abs(hash((shape, k, s, p, d, ceil))) % 2**32)
    x = _tied(rng, shape)
    want, want_idx = ref.max_pool_forward(x, k, s, p, d, ceil)
    t = lucid.tensor(x, dtype="float64", requires_grad=True)
    y, idx = MAX_POOL[n](t, k, s, p, d, ceil_mode=ceil, return_indices=True)
    assert y.shape == want.shape
    np.testing.assert_array_equal(y.numpy(), want)
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    assert idx.dtype == lucid.int64
    g = rng.standard_normal(want.shape)
    y.backward(lucid.tensor(g, dtype="float64"))
    # a window of padding only (possible with dilation) has index -1 and passes no gradient;
    # the reference's np.add.at would wrap -1 round to the last element, so mask those out
    want_grad = ref.max_pool_backward(np.where(want_idx < 0, 0.0, g), want_idx, shape)
    np.testing.assert_allclose(t.grad.numpy(), want_grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n, shape, k, s, p, d, ceil", _configs(1, 30, dilation=False))
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool_matches_reference_values_grads(n, shape, k, s, p, d, ceil, count_include_pad):
    rng = np.random.default_rng(abs(hash((shape, k, s, p, ceil))) % 2**32)
    x = rng.standard_normal(shape)
    want = ref.avg_pool_forward(x, k, s, p, ceil, count_include_pad)
    t = lucid.tensor(x, dtype="float64", requires_grad=True)
    y = AVG_POOL[n](t, k, s, p, ceil_mode=ceil, count_include_pad=count_include_pad)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(want.shape)
    y.backward(lucid.tensor(g, dtype="float64"))
    np.testing.assert_allclose(
        t.grad.numpy(),
        ref.avg_pool_backward(g, shape, k, s, p, ceil, count_include_pad),
        rtol=1e-12,
        atol=1e-12,
    )


def test_max_pool_ties_go_to_first_element_and_overlaps_accumulate():
    x = lucid.tensor([[[1.0, 3.0, 3.0, 2.0, 3.0]]], requires_grad=True)
    y, idx = F.max_pool1d(x, 3, stride=1, return_indices=True)
    assert y.tolist() == [[[3.0, 3.0, 3.0]]]
    assert idx.tolist() == [[[1, 1, 2]]]
    y.backward()
    assert x.grad.tolist() == [[[0.0, 2.0, 1.0, 0.0, 0.0]]]
    # an input of -inf beats the -inf padding before it (PyTorch reads only the input)
    x = lucid.tensor([[[-np.inf, 1.0, -np.inf]]], requires_grad=True)
    y, idx = F.max_pool1d(x, 2, padding=1, return_indices=True)
    assert y.tolist() == [[[-np.inf, 1.0]]] and idx.tolist() == [[[0, 1]]]
    y.backward()
    assert x.grad.tolist() == [[[1.0, 1.0, 0.0]]]
    # a window of equal values: the first (row-major) element wins in 3-d as well
    z = lucid.zeros(1, 1, 2, 2, 2, requires_grad=True)
    F.max_pool3d(z, 2).backward()
    assert z.grad.numpy().ravel().tolist() == [1.0] + [0.0] * 7


def test_max_and_avg_pool_gradcheck():
    rng = np.random.default_rng(3)
    x = lucid.tensor(
        rng.permutation(60).reshape(1, 2, 5, 6) / 7.0, dtype="float64", requires_grad=True
    )  # distinct values: the max is differentiable
    assert gradcheck(lambda v: F.max_pool2d(v, (3, 2), (2, 1), (1, 1), (1, 2), ceil_mode=True), x)
    assert gradcheck(lambda v: F.avg_pool2d(v, 3, 2, 1, ceil_mode=True, count_include_pad=False), x)


def test_float32_and_unbatched_inputs():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 5, 4, 6)).astype(np.float32)
    y = F.max_pool3d(lucid.tensor(x), 2, 1, 1, ceil_mode=True)  # unbatched (C, D, H, W)
    want, _ = ref.max_pool_forward(x[None], (2,) * 3, (1,) * 3, (1,) * 3, (1,) * 3, True)
    assert y.dtype == lucid.float32 and y.shape == want.shape[1:]
    np.testing.assert_allclose(y.numpy(), want[0], rtol=1e-6)
    a = F.avg_pool3d(lucid.tensor(x), (2, 3, 2), padding=1)
    want = ref.avg_pool_forward(x[None], (2, 3, 2), (2, 3, 2), (1, 1, 1))
    np.testing.assert_allclose(a.numpy(), want[0], rtol=1e-5, atol=1e-6)


def test_avg_pool_divisor_override():
    x = lucid.tensor(np.arange(16.0).reshape(1, 1, 4, 4), dtype="float64", requires_grad=True)
    y = F.avg_pool2d(x, 2, divisor_override=3)
    np.testing.assert_allclose(
        y.numpy(), ref.avg_pool_forward(x.numpy(), (2, 2), (2, 2), (0, 0)) * 4 / 3
    )
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((1, 1, 4, 4), 1 / 3))


# ----------------------------------------------------------------------------- adaptive pools
def _bins(size, out):
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def _naive_adaptive(x, out, reduce):
    """Direct loop over output positions: (values, flat argmax indices, d sum(g*y)/dx for g)."""
    spatial = x.shape[2:]
    bins = [_bins(s, o) for s, o in zip(spatial, out)]
    y = np.zeros(x.shape[:2] + tuple(out))
    idx = np.zeros(y.shape, dtype=np.int64)
    for nc in np.ndindex(*x.shape[:2]):
        for o in np.ndindex(*out):
            box = tuple(slice(*bins[i][oi]) for i, oi in enumerate(o))
            window = x[nc + box]
            if reduce == "max":
                j = np.unravel_index(np.argmax(window), window.shape)  # first maximum
                y[nc + o] = window[j]
                pos = tuple(b.start + jj for b, jj in zip(box, j))
                idx[nc + o] = np.ravel_multi_index(pos, spatial)
            else:
                y[nc + o] = window.mean()
    return y, idx


def _naive_adaptive_grad(x, out, g, reduce, idx):
    spatial = x.shape[2:]
    bins = [_bins(s, o) for s, o in zip(spatial, out)]
    dx = np.zeros(x.shape)
    for nc in np.ndindex(*x.shape[:2]):
        for o in np.ndindex(*out):
            if reduce == "max":
                dx[nc + np.unravel_index(idx[nc + o], spatial)] += g[nc + o]
            else:
                box = tuple(slice(*bins[i][oi]) for i, oi in enumerate(o))
                dx[nc + box] += g[nc + o] / dx[nc + box].size
    return dx


ADAPTIVE_CASES = [  # (input shape, output size): uneven bins, output > input, global, tiled
    ((2, 2, 7), (3,)),
    ((1, 2, 5), (8,)),
    ((1, 2, 6, 5), (4, 2)),
    ((2, 1, 4, 4), (2, 2)),
    ((1, 2, 5, 3, 4), (2, 3, 3)),
    ((1, 1, 3, 4, 5), (1, 1, 1)),
    ((1, 2, 4, 6, 3), (3, 4, 2)),
    ((2, 2, 9, 3), (1, 3)),
    ((1, 1, 12, 5), (2, 1)),
]


@pytest.mark.parametrize("shape, out", ADAPTIVE_CASES)
@pytest.mark.parametrize("reduce", ["avg", "max"])
def test_adaptive_pools_match_direct_loop(shape, out, reduce):
    rng = np.random.default_rng(sum(shape) + len(out))
    x = _tied(rng, shape) if reduce == "max" else rng.standard_normal(shape)
    want, want_idx = _naive_adaptive(x, out, reduce)
    n = len(out)
    t = lucid.tensor(x, dtype="float64", requires_grad=True)
    if reduce == "max":
        y, idx = ADA_MAX[n](t, out, return_indices=True)
        np.testing.assert_array_equal(idx.numpy(), want_idx)
    else:
        y = ADA_AVG[n](t, out)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(want.shape)
    y.backward(lucid.tensor(g, dtype="float64"))
    np.testing.assert_allclose(
        t.grad.numpy(), _naive_adaptive_grad(x, out, g, reduce, want_idx), rtol=1e-12, atol=1e-12
    )


def test_adaptive_output_size_none_and_int_and_unbatched():
    x = lucid.randn(3, 4, 5, 6)
    assert F.adaptive_avg_pool3d(x, (None, 2, None)).shape == (3, 4, 2, 6)
    assert F.adaptive_max_pool2d(x, 1).shape == (3, 4, 1, 1)
    np.testing.assert_allclose(
        F.adaptive_avg_pool3d(x, 1).numpy().ravel(),
        x.numpy().mean(axis=(1, 2, 3)),
        rtol=1e-5,
        atol=1e-6,
    )


# ----------------------------------------------------------------------------- layers
def test_modules_match_functional_and_repr():
    x = lucid.randn(2, 3, 6, 5, 4)
    m = nn.MaxPool3d(kernel_size=2, stride=2)
    np.testing.assert_array_equal(m(x).numpy(), F.max_pool3d(x, 2).numpy())
    assert repr(m) == ("MaxPool3d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)")
    a = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    np.testing.assert_array_equal(
        a(x[0]).numpy(), F.avg_pool2d(x[0], 3, 1, 1, count_include_pad=False).numpy()
    )
    assert "count_include_pad=False" in repr(a)
    assert repr(nn.AdaptiveAvgPool3d((1, 2, 3))) == "AdaptiveAvgPool3d(output_size=(1, 2, 3))"
    y, idx = nn.AdaptiveMaxPool1d(2, return_indices=True)(lucid.randn(2, 3, 5))
    assert y.shape == idx.shape == (2, 3, 2)
    assert nn.MaxPool1d(2)(lucid.randn(1, 2, 5)).shape == (1, 2, 2)
    assert nn.MaxPool2d(2, ceil_mode=True)(lucid.randn(1, 2, 5, 5)).shape == (1, 2, 3, 3)
    assert nn.AvgPool1d(2)(lucid.randn(2, 6)).shape == (2, 3)
    assert nn.AvgPool3d(2)(x).shape == (2, 3, 3, 2, 2)
    assert nn.AdaptiveAvgPool1d(3)(lucid.randn(1, 2, 7)).shape == (1, 2, 3)
    assert nn.AdaptiveAvgPool2d(3)(lucid.randn(1, 2, 7, 4)).shape == (1, 2, 3, 3)
    assert nn.AdaptiveMaxPool2d((2, 1))(lucid.randn(2, 7, 4)).shape == (2, 2, 1)
    assert nn.AdaptiveMaxPool3d(2)(x).shape == (2, 3, 2, 2, 2)


def test_maxpool3d_alias_from_reference_page():
    assert nn.MaxPool3D is nn.MaxPool3d and nn.MaxPool2D is nn.MaxPool2d
    assert nn.MaxPool1D is nn.MaxPool1d
    pool = nn.MaxPool3D(kernel_size=2, stride=2)  # ERRATA 3: 8x8x8 after the convs -> 4x4x4
    x = lucid.randn(1, 16, 8, 8, 8, requires_grad=True)
    y = pool(x)
    assert y.shape == (1, 16, 4, 4, 4)
    y.sum().backward()
    g = x.grad.numpy().reshape(1, 16, 4, 2, 4, 2, 4, 2)
    assert (g.sum(axis=(3, 5, 7)) == 1).all()  # one winner per window


# ----------------------------------------------------------------------------- errors
def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match="larger than the padded input"):
        F.max_pool3d(lucid.randn(1, 1, 2, 5, 5), 3)
    with pytest.raises(ValueError, match="larger than the padded input"):
        F.max_pool1d(lucid.randn(1, 1, 4), 3, dilation=2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        nn.AvgPool2d(3)(lucid.randn(1, 1, 2, 2))


def test_padding_more_than_half_the_kernel():
    with pytest.raises(ValueError, match="at most half of kernel_size"):
        F.max_pool2d(lucid.randn(1, 1, 6, 6), 2, padding=2)
    with pytest.raises(ValueError, match="at most half of kernel_size"):
        F.avg_pool1d(lucid.randn(1, 1, 6), 3, padding=2)
    with pytest.raises(ValueError, match="at most half of kernel_size"):
        nn.MaxPool3d(3, padding=(1, 2, 1))


def test_wrong_rank_and_bad_arguments():
    with pytest.raises(ValueError, match=r"5-D input \(N, C, D, H, W\).*got shape \(4, 4\)"):
        F.max_pool3d(lucid.randn(4, 4), 2)
    with pytest.raises(ValueError, match="4-D input"):
        nn.AvgPool2d(2)(lucid.randn(1, 1, 1, 4, 4))
    with pytest.raises(ValueError, match="3-D input"):
        F.adaptive_avg_pool1d(lucid.randn(4), 2)
    with pytest.raises(ValueError, match="kernel_size must have 3 values"):
        F.max_pool3d(lucid.randn(1, 1, 4, 4, 4), (2, 2))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        F.max_pool2d(lucid.randn(1, 1, 4, 4), 2, stride=0)
    with pytest.raises(TypeError, match="kernel_size must be an int"):
        nn.MaxPool2d(2.5)
    with pytest.raises(ValueError, match="output_size"):
        F.adaptive_max_pool2d(lucid.randn(1, 1, 4, 4), (2, 0))
    with pytest.raises(TypeError, match="floating-point"):
        F.max_pool1d(lucid.tensor([[[1, 2, 3, 4]]]), 2)


def test_sweep_covers_the_interesting_cases():
    # guards the sweep above against silently degenerating
    cfgs = _configs(0, 40)
    assert {c[0] for c in cfgs} == {1, 2, 3}
    assert any(c[6] for c in cfgs) and any(max(c[5]) > 1 for c in cfgs)
    assert any(max(c[4]) > 0 for c in cfgs) and any(c[3] != c[2] for c in cfgs)
    assert any(
        c[6]
        and ref.pool_out_size(c[1][2:], *c[2:4], c[4], c[5], True)
        != ref.pool_out_size(c[1][2:], *c[2:4], c[4], c[5], False)
        for c in cfgs
    )
    assert all(isinstance(v, int) for v in itertools.chain.from_iterable(c[1] for c in cfgs))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_keeps_dtype(dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 4, 5, 4))
    t = lucid.tensor(x).astype(dtype)
    t.requires_grad_(True)
    y = F.max_pool3d(t, 2, 1, 1)
    want, idx = ref.max_pool_forward(
        t.numpy().astype(np.float64), (2,) * 3, (1,) * 3, (1,) * 3, (1,) * 3, False
    )
    assert y.dtype.name == dtype
    np.testing.assert_array_equal(y.numpy(), want)  # the max of half values is exact
    y.sum().backward()
    assert t.grad.dtype.name == dtype
    np.testing.assert_array_equal(
        t.grad.numpy(), ref.max_pool_backward(np.ones(want.shape), idx, x.shape)
    )
    a = F.avg_pool3d(t, 2)
    assert a.dtype.name == dtype
    np.testing.assert_allclose(
        a.numpy(),
        ref.avg_pool_forward(t.numpy(), (2,) * 3, (2,) * 3, (0,) * 3),
        rtol=2e-2,
        atol=2e-2,
    )


# --- ceil_mode with a kernel longer than the padded input (issue 11 item 4) ---------------------
def _long_kernel_configs(count):
    """ceil_mode configurations whose kernel is longer than the padded input in some dim."""
    rng = np.random.default_rng(99)
    out = []
    while len(out) < count:
        n = int(rng.integers(1, 4))
        size = tuple(int(v) for v in rng.integers(1, 5, n))
        k = tuple(int(v) for v in rng.integers(1, 7, n))
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        s = tuple(int(v) for v in rng.integers(1, 4, n))
        if all(kk <= i + 2 * pp for kk, i, pp in zip(k, size, p)):
            continue
        if min(ref.pool_out_size(size, k, s, p, (1,) * n, True)) < 1:
            continue
        out.append((n, (2, 2) + size, k, s, p))
    return out


@pytest.mark.parametrize("n, shape, k, s, p", _long_kernel_configs(24))
def test_ceil_mode_pools_a_window_longer_than_the_input(n, shape, k, s, p):
    rng = np.random.default_rng(abs(hash((shape, k, s, p))) % 2**32)
    x = rng.normal(size=shape)
    ones = (1,) * n
    want, _ = ref.max_pool_forward(x, k, s, p, ones, True)
    y = MAX_POOL[n](lucid.tensor(x, dtype="float64"), k, s, p, ceil_mode=True)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12)
    for include in (True, False):
        want = ref.avg_pool_forward(x, k, s, p, True, include)
        fn = AVG_POOL[n]
        y = fn(lucid.tensor(x, dtype="float64"), k, s, p, ceil_mode=True, count_include_pad=include)
        np.testing.assert_allclose(y.numpy(), want, rtol=1e-12)
        t = lucid.tensor(x, dtype="float64", requires_grad=True)
        assert gradcheck(
            lambda v, fn=fn, include=include: fn(
                v, k, s, p, ceil_mode=True, count_include_pad=include
            ),
            [t],
        )
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    expected = getattr(torch.nn.functional, f"max_pool{n}d")(tx, k, s, p, ceil_mode=True)
    seed = rng.normal(size=tuple(expected.shape))
    expected.backward(torch.tensor(seed))
    lx = lucid.tensor(x, dtype="float64", requires_grad=True)
    out = MAX_POOL[n](lx, k, s, p, ceil_mode=True)
    out.backward(lucid.tensor(seed, dtype="float64"))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="larger than the padded input"):
        MAX_POOL[n](lucid.tensor(x), k, s, p, ceil_mode=False)
