"""clamp (tensor or number bounds) and lerp: values and gradients of every operand against
numpy, finite differences and torch (including PyTorch's rules at the bounds)."""

import numpy as np
import pytest

import lucid
from tests.helpers import away_from, check_op, rand
from tests.torch_compare import compare_with_torch


def test_clamp_numbers():
    x = away_from(rand(3, 4), (-0.5, 1.0), gap=0.05)
    check_op(lambda t: lucid.clamp(t, -0.5, 1.0), lambda a: np.clip(a, -0.5, 1.0), x)
    check_op(lambda t: t.clamp(min=-0.5), lambda a: np.maximum(a, -0.5), x)
    check_op(lambda t: t.clip(max=1.0), lambda a: np.minimum(a, 1.0), x)
    assert lucid.clip is lucid.clamp


def test_clamp_tensor_bounds_gradcheck():
    x, lo, hi = rand(3, 4), rand(4, low=-1.5, high=-0.5), rand(3, 1, low=0.5, high=1.5)
    check_op(lucid.clamp, lambda a, b, c: np.minimum(np.maximum(a, b), c), x, lo, hi)


@pytest.mark.parametrize("bounds", ["both", "min", "max", "crossed"])
def test_clamp_matches_torch_at_the_bounds(bounds):
    torch = pytest.importorskip("torch")
    x = rand(4, 5)
    lo, hi = rand(4, 5, low=-1, high=0), rand(5, low=0, high=1)
    x[0, :] = lo[0, :]  # exactly at the bound
    x[1, :] = hi
    if bounds == "crossed":
        lo, hi = hi + 0.1, lo[0]
    args = {
        "both": (x, lo, hi),
        "crossed": (x, lo, hi),
        "min": (x, lo, None),
        "max": (x, None, hi),
    }[bounds]
    compare_with_torch(lambda *t: lucid.clamp(*t), lambda *t: torch.clamp(*t), *args)


def test_lerp():
    a, b, w = rand(3, 4), rand(3, 4), rand(4, low=0, high=1)
    check_op(lucid.lerp, lambda a, b, w: a + w * (b - a), a, b, w)
    check_op(lambda a, b: a.lerp(b, 0.3), lambda a, b: a + 0.3 * (b - a), a, b)
    torch = pytest.importorskip("torch")
    compare_with_torch(lucid.lerp, torch.lerp, a, b, w)


def test_clamp_needs_a_bound():
    with pytest.raises(ValueError, match="needs min or max"):
        lucid.clamp(lucid.ones(2))
