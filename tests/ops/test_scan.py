"""cumsum / cumprod: values and gradients (also through zeros) against numpy, finite differences
and torch; integer inputs accumulate in int64 as in PyTorch."""

import numpy as np
import pytest

import lucid
from tests.helpers import check_op, rand
from tests.torch_compare import compare_with_torch


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum_cumprod_match_numpy_and_gradcheck(dim):
    x = rand(3, 4, 5)
    check_op(lambda t: lucid.cumsum(t, dim), lambda a: np.cumsum(a, axis=dim), x)
    check_op(lambda t: t.cumprod(dim), lambda a: np.cumprod(a, axis=dim), x, rtol=1e-4)


@pytest.mark.parametrize("zeros", [[0], [2], [1, 3], [0, 4]])
def test_cumprod_gradient_through_zeros_matches_torch(zeros):
    torch = pytest.importorskip("torch")
    x = rand(2, 5)
    x[:, zeros] = 0.0
    compare_with_torch(lambda t: lucid.cumprod(t, 1), lambda t: torch.cumprod(t, 1), x)
    compare_with_torch(lambda t: lucid.cumsum(t, 1), lambda t: torch.cumsum(t, 1), x)


def test_integer_and_dtype():
    x = lucid.tensor(np.array([100, 100, 100], dtype=np.int8))
    out = lucid.cumsum(x, 0)
    assert out.dtype == lucid.int64 and out.tolist() == [100, 200, 300]
    assert lucid.cumsum(lucid.ones(3), 0, dtype=lucid.float64).dtype == lucid.float64
    assert lucid.cumsum(lucid.tensor(2.0), 0).shape == ()


def test_dim_is_checked():
    with pytest.raises(ValueError, match="dim 2 is out of range"):
        lucid.cumsum(lucid.ones(2, 2), 2)
