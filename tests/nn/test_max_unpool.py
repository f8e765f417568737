"""MaxUnpool1d/2d/3d: round trip with max pooling's indices, output_size, gradients (gradcheck
and torch), errors."""

import numpy as np
import pytest

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
from lucid.autograd import gradcheck
from tests.helpers import rand
from tests.torch_compare import compare_with_torch


@pytest.mark.parametrize("n", [1, 2, 3])
def test_unpool_puts_each_max_back(n):
    x = lucid.tensor(rand(2, 3, *(6,) * n))
    y, idx = getattr(F, f"max_pool{n}d")(x, 2, return_indices=True)
    up = getattr(nn, f"MaxUnpool{n}d")(2)(y, idx)
    assert up.shape == x.shape
    a, u = x.numpy(), up.numpy()
    kept = u != 0
    np.testing.assert_array_equal(u[kept], a[kept])
    assert kept.sum() == y.numel()
    # every pooled maximum reappears, at its place
    np.testing.assert_array_equal(np.sort(u[kept]), np.sort(y.numpy().ravel()))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_matches_torch_with_output_size_and_padding(n):
    torch = pytest.importorskip("torch")
    x = rand(1, 2, *(5,) * n)
    ty, tidx = getattr(torch.nn.functional, f"max_pool{n}d")(
        torch.tensor(x), 2, 2, 1, return_indices=True
    )
    ly, lidx = getattr(F, f"max_pool{n}d")(
        lucid.tensor(x, dtype="float64"), 2, 2, 1, return_indices=True
    )
    np.testing.assert_array_equal(lidx.numpy(), tidx.numpy())
    size = (5,) * n
    compare_with_torch(
        lambda v, i: getattr(F, f"max_unpool{n}d")(v, i, 2, 2, 1, size),
        lambda v, i: getattr(torch.nn.functional, f"max_unpool{n}d")(v, i, 2, 2, 1, size),
        ty.numpy(),
        tidx.numpy(),
    )


def test_gradcheck():
    x = lucid.tensor(rand(1, 2, 4, 4), dtype="float64")
    _, idx = F.max_pool2d(x, 2, return_indices=True)
    v = lucid.tensor(rand(1, 2, 2, 2), dtype="float64", requires_grad=True)
    assert gradcheck(lambda v: F.max_unpool2d(v, idx, 2), [v])


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda v, i: F.max_unpool2d(v, i, 2, output_size=(7, 7)), ValueError, "strictly between"),
        (lambda v, i: F.max_unpool2d(v, i * 100, 2), IndexError, "out of range .* size 16"),
        (lambda v, i: F.max_unpool2d(v, i[..., :1], 2), ValueError, "indices shape"),
    ],
)
def test_errors(call, error, match):
    v, i = F.max_pool2d(lucid.tensor(rand(1, 1, 4, 4)), 2, return_indices=True)
    with pytest.raises(error, match=match):
        call(v, i)
