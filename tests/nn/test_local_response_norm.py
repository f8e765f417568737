"""LocalResponseNorm: values against a float64 numpy loop, gradcheck, torch."""

import numpy as np
import pytest

import lucid.nn as nn
import lucid.nn.functional as F
from tests.helpers import check_op, rand
from tests.torch_compare import compare_with_torch


def np_lrn(x, size, alpha=1e-4, beta=0.75, k=1.0):
    c = x.shape[1]
    out = np.empty_like(x)
    for i in range(c):
        lo, hi = max(0, i - size // 2), min(c, i + (size - 1) // 2 + 1)
        s = (x[:, lo:hi] ** 2).sum(axis=1)
        out[:, i] = x[:, i] / (k + alpha / size * s) ** beta
    return out


@pytest.mark.parametrize(
    "shape,size", [((2, 5, 3), 3), ((1, 4, 3, 3), 2), ((2, 6, 2, 2, 2), 5), ((1, 3, 4), 1)]
)
def test_lrn_matches_numpy_and_gradcheck(shape, size):
    check_op(
        lambda x: F.local_response_norm(x, size, alpha=0.5, beta=0.6, k=2.0),
        lambda x: np_lrn(x, size, 0.5, 0.6, 2.0),
        rand(*shape),
    )


def test_lrn_matches_torch_and_module():
    torch = pytest.importorskip("torch")
    compare_with_torch(
        lambda x: nn.LocalResponseNorm(4, 0.3)(x),
        lambda x: torch.nn.LocalResponseNorm(4, 0.3)(x),
        rand(2, 7, 3, 4),
    )
    assert repr(nn.LocalResponseNorm(2)) == "LocalResponseNorm(2, alpha=0.0001, beta=0.75, k=1.0)"


def test_lrn_rank_error():
    with pytest.raises(ValueError, match="3-D or higher"):
        F.local_response_norm(nn.Parameter(rand(2, 3)), 2)
