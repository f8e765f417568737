"""LPPool1d/2d/3d: values against numpy float64 window sums, gradcheck, torch."""

import itertools

import numpy as np
import pytest

import lucid.nn as nn
import lucid.nn.functional as F
from tests.helpers import check_op, rand
from tests.torch_compare import compare_with_torch


def np_lp_pool(x, p, k, n):
    """Non-overlapping windows (stride = kernel)."""
    out_shape = x.shape[:-n] + tuple(s // k for s in x.shape[-n:])
    out = np.zeros(out_shape)
    for pos in itertools.product(*(range(o) for o in out_shape[-n:])):
        idx = (Ellipsis,) + tuple(slice(i * k, i * k + k) for i in pos)
        out[(Ellipsis,) + pos] = (x[idx] ** p).sum(axis=tuple(range(-n, 0)))
    return out ** (1 / p)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("p", [2, 3.0])
def test_lp_pool_matches_numpy_and_gradcheck(n, p):
    fn = getattr(F, f"lp_pool{n}d")
    x = rand(2, 2, *(4,) * n, low=0.2, high=2.0)  # positive: x^p is defined for any p
    check_op(lambda t: fn(t, p, 2), lambda a: np_lp_pool(a, p, 2, n), x, rtol=1e-4)


@pytest.mark.parametrize(
    "n,kw", [(1, {"stride": 1}), (2, {"ceil_mode": True}), (3, {"stride": (1, 2, 1)})]
)
def test_lp_pool_matches_torch(n, kw):
    torch = pytest.importorskip("torch")
    x = rand(2, 3, *(5,) * n)
    lucid_layer = getattr(nn, f"LPPool{n}d")(2, 3, **kw)
    torch_layer = getattr(torch.nn, f"LPPool{n}d")(2, 3, **kw)
    compare_with_torch(lucid_layer, torch_layer, x, rtol=1e-6, atol=1e-8)
    assert repr(lucid_layer).startswith(f"LPPool{n}d(norm_type=2, kernel_size=3")
