"""Self-checks of the float64 reference oracle in tests/reference.py."""

import itertools
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import reference as ref  # noqa: E402

# ----------------------------------------------------------------------------- naive loops


def naive_conv(x, w, stride, padding, dilation, groups):
    """Fully nested-loop cross-correlation (the contract's formula, element by element)."""
    N, Cin = x.shape[:2]
    Cout, cig = w.shape[:2]
    K, S = w.shape[2:], x.shape[2:]
    out = ref.conv_out_size(S, K, stride, padding, dilation)
    cog = Cout // groups
    y = np.zeros((N, Cout) + out)
    for n, co, o in itertools.product(range(N), range(Cout), np.ndindex(*out)):
        g = co // cog
        acc = 0.0
        for c, k in itertools.product(range(cig), np.ndindex(*K)):
            pos = [
                oi * s + ki * d - lo
                for oi, ki, s, d, (lo, _) in zip(o, k, stride, dilation, padding)
            ]
            if all(0 <= p < sz for p, sz in zip(pos, S)):
                acc += w[(co, c) + k] * x[(n, g * cig + c) + tuple(pos)]
        y[(n, co) + o] = acc
    return y


def naive_max_pool(x, K, s, p, d, ceil_mode):
    """Nested-loop max pool: value and first-in-window argmax (flat spatial index)."""
    S = x.shape[2:]
    out = ref.pool_out_size(S, K, s, p, d, ceil_mode)
    y = np.zeros(x.shape[:2] + out)
    idx = np.zeros(x.shape[:2] + out, dtype=np.int64)
    for n, c, o in itertools.product(range(x.shape[0]), range(x.shape[1]), np.ndindex(*out)):
        best, bi = -np.inf, None
        for k in np.ndindex(*K):
            pos = tuple(oi * si + ki * di - pi for oi, ki, si, di, pi in zip(o, k, s, d, p))
            if all(0 <= q < sz for q, sz in zip(pos, S)):
                v = x[(n, c) + pos]
                if bi is None or v > best:
                    best, bi = v, np.ravel_multi_index(pos, S)
        y[(n, c) + o], idx[(n, c) + o] = best, bi
    return y, idx


# ----------------------------------------------------------------------------- (a) forward vs naive

NAIVE_CASES = [  # S, Cin, Cout, K, stride, padding, dilation, groups
    ((7,), 2, 3, (3,), (1,), ((0, 0),), (1,), 1),
    ((9,), 4, 6, (2,), (2,), ((1, 2),), (2,), 2),
    ((6, 5), 3, 4, (3, 2), (2, 1), ((1, 0), (0, 1)), (1, 2), 1),
    ((5, 7), 4, 4, (2, 3), (1, 3), ((2, 1), (1, 1)), (2, 1), 4),
    ((4, 5, 3), 2, 4, (2, 3, 1), (2, 1, 2), ((1, 0), (0, 2), (1, 1)), (1, 1, 1), 2),
    ((5, 4, 4), 3, 3, (3, 2, 2), (1, 2, 1), ((0, 1), (1, 1), (0, 0)), (2, 1, 3), 3),
]


@pytest.mark.parametrize("S,cin,cout,K,s,p,d,g", NAIVE_CASES)
def test_forward_matches_naive(S, cin, cout, K, s, p, d, g):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, cin) + S)
    w = rng.standard_normal((cout, cin // g) + K)
    np.testing.assert_allclose(
        ref.conv_forward(x, w, s, p, d, g), naive_conv(x, w, s, p, d, g), rtol=1e-12, atol=1e-12
    )


# ------------------------------------------------------------------------ (b) adjointness sweep


def random_conv_config(rng):
    """Random small conv problem (valid: at least one output position)."""
    nd = int(rng.integers(1, 4))
    groups = int(rng.choice([1, 2, 3]))
    cin, cout = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    while True:
        K = tuple(int(v) for v in rng.integers(1, 4, nd))
        s = tuple(int(v) for v in rng.integers(1, 4, nd))
        d = tuple(int(v) for v in rng.integers(1, 3, nd))
        p = tuple((int(a), int(b)) for a, b in rng.integers(0, 3, (nd, 2)))
        S = tuple(int(v) for v in rng.integers(1, 9 if nd < 3 else 6, nd))
        if all(o >= 1 for o in ref.conv_out_size(S, K, s, p, d)):
            return int(rng.integers(1, 4)), S, cin, cout, K, s, p, d, groups


def test_adjointness_sweep():
    rng = np.random.default_rng(1)
    nondividing = 0
    for _ in range(300):
        N, S, cin, cout, K, s, p, d, g = random_conv_config(rng)
        out = ref.conv_out_size(S, K, s, p, d)
        nondividing += any(
            (n + lo + hi - dd * (k - 1) - 1) % ss for n, (lo, hi), dd, k, ss in zip(S, p, d, K, s)
        )
        x = rng.standard_normal((N, cin) + S)
        w = rng.standard_normal((cout, cin // g) + K)
        dy = rng.standard_normal((N, cout) + out)
        y = ref.conv_forward(x, w, s, p, d, g)
        dx = ref.conv_input_grad(dy, w, S, s, p, d, g)
        dw = ref.conv_weight_grad(x, dy, K, s, p, d, g)
        assert y.shape == dy.shape and dx.shape == x.shape and dw.shape == w.shape
        a, b, c = np.vdot(y, dy), np.vdot(x, dx), np.vdot(w, dw)
        assert np.isclose(a, b, rtol=1e-10, atol=1e-10) and np.isclose(a, c, rtol=1e-10, atol=1e-10)
    assert nondividing > 50  # the sweep really covers strides that leave input positions untouched


def test_input_grad_untouched_positions_are_zero():
    w = np.ones((1, 1, 1))
    dx = ref.conv_input_grad(np.ones((1, 1, 2)), w, (5,), (3,), ((0, 0),), (1,), 1)
    np.testing.assert_array_equal(dx[0, 0], [1, 0, 0, 1, 0])


# ------------------------------------------------------------------ (c) transpose == input grad


def test_conv_transpose_matches_input_grad():
    rng = np.random.default_rng(2)
    for _ in range(150):
        nd = int(rng.integers(1, 4))
        g = int(rng.choice([1, 2, 3]))
        cin, cog = g * int(rng.integers(1, 3)), int(rng.integers(1, 3))
        K = tuple(int(v) for v in rng.integers(1, 4, nd))
        s = tuple(int(v) for v in rng.integers(1, 4, nd))
        d = tuple(int(v) for v in rng.integers(1, 3, nd))
        p = tuple(int(rng.integers(0, (dd * (k - 1)) // 2 + 1)) for k, dd in zip(K, d))
        op = tuple(int(rng.integers(0, ss)) for ss in s)
        S = tuple(int(v) for v in rng.integers(1, 6, nd))
        out = ref.conv_transpose_out_size(S, K, s, p, op, d)
        if min(out) < 1:
            continue
        pairs = tuple((pp, pp) for pp in p)
        assert ref.conv_out_size(out, K, s, pairs, d) == S  # sizes agree, so the two must match
        x = rng.standard_normal((2, cin) + S)
        w = rng.standard_normal((cin, cog) + K)
        y = ref.conv_transpose_forward(x, w, s, p, op, d, g)
        assert y.shape == (2, cog * g) + out
        np.testing.assert_allclose(
            y, ref.conv_input_grad(x, w, out, s, pairs, d, g), rtol=1e-12, atol=1e-12
        )


# ----------------------------------------------------------------------------- pooling


def test_pool_out_size_pytorch_rule():
    assert ref.pool_out_size((5,), (3,), (2,), (0,), (1,), True) == (2,)
    assert ref.pool_out_size((6,), (3,), (2,), (0,), (1,), True) == (3,)
    assert ref.pool_out_size((6,), (3,), (2,), (0,), (1,), False) == (2,)
    assert ref.pool_out_size((5,), (2,), (2,), (1,), (1,), True) == (
        3,
    )  # 4th window would start in right pad


POOL_CASES = [  # S, K, stride, pad, dilation, ceil_mode
    ((7,), (3,), (2,), (1,), (1,), False),
    ((8,), (2,), (3,), (1,), (2,), True),
    ((5, 6), (2, 3), (2, 2), (1, 1), (1, 1), True),
    ((6, 5), (3, 2), (1, 2), (1, 0), (2, 1), False),
    ((4, 5, 3), (2, 3, 2), (2, 2, 1), (0, 1, 1), (1, 1, 1), True),
]


@pytest.mark.parametrize("S,K,s,p,d,ceil", POOL_CASES)
def test_max_pool(S, K, s, p, d, ceil):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3) + S)
    y, idx = ref.max_pool_forward(x, K, s, p, d, ceil)
    ny, nidx = naive_max_pool(x, K, s, p, d, ceil)
    np.testing.assert_array_equal(y, ny)
    np.testing.assert_array_equal(idx, nidx)
    dy = rng.standard_normal(y.shape)
    f = lambda z: np.vdot(ref.max_pool_forward(z, K, s, p, d, ceil)[0], dy)  # noqa: E731
    np.testing.assert_allclose(
        ref.max_pool_backward(dy, idx, x.shape), ref.numeric_grad(f, x), atol=1e-6
    )


def test_max_pool_ties_first_in_window():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 2] = x[0, 0, 2, 0] = 5.0
    y, idx = ref.max_pool_forward(x, (3, 3), (1, 1), (0, 0), (1, 1), False)
    assert y.item() == 5.0 and idx.item() == 5  # (1, 2) precedes (2, 0) in row-major order
    _, idx = ref.max_pool_forward(np.full((1, 1, 4), -np.inf), (3,), (2,), (1,), (1,), False)
    np.testing.assert_array_equal(idx[0, 0], [0, 1])  # all -inf: first in-bounds element


@pytest.mark.parametrize("S,K,s,p,d,ceil", [c for c in POOL_CASES if all(v == 1 for v in c[4])])
@pytest.mark.parametrize("include_pad", [True, False])
def test_avg_pool(S, K, s, p, d, ceil, include_pad):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2) + S)
    y = ref.avg_pool_forward(x, K, s, p, ceil, include_pad)
    dy = rng.standard_normal(y.shape)
    dx = ref.avg_pool_backward(dy, x.shape, K, s, p, ceil, include_pad)
    f = lambda z: np.vdot(ref.avg_pool_forward(z, K, s, p, ceil, include_pad), dy)  # noqa: E731
    np.testing.assert_allclose(dx, ref.numeric_grad(f, x), atol=1e-6)


def test_avg_pool_divisor():
    x = np.arange(1.0, 6.0).reshape(1, 1, 5)
    # k=2, s=2, p=1, ceil: windows [-1,0], [1,2], [3,4] ; last window clipped to S+p = 6
    np.testing.assert_allclose(
        ref.avg_pool_forward(x, (2,), (2,), (1,), True, True)[0, 0], [0.5, 2.5, 4.5]
    )
    np.testing.assert_allclose(
        ref.avg_pool_forward(x, (2,), (2,), (1,), True, False)[0, 0], [1.0, 2.5, 4.5]
    )
    # k=3, s=2, p=0, ceil on S=6: last window [4, 6) clipped to S+p = 6 -> divisor 2 either way
    x6 = np.arange(1.0, 7.0).reshape(1, 1, 6)
    np.testing.assert_allclose(
        ref.avg_pool_forward(x6, (3,), (2,), (0,), True, True)[0, 0], [2.0, 4.0, 5.5]
    )


def test_numeric_grad():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    np.testing.assert_allclose(ref.numeric_grad(lambda z: np.sum(z**3), x), 3 * x**2, rtol=1e-7)
