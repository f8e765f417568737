"""sort / argsort / topk: stable order (also descending, NaN largest), return types, values and
gradients against numpy float64, finite differences and torch."""

import numpy as np
import pytest

import lucid
from tests.helpers import check_op, rand
from tests.torch_compare import compare_with_torch


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_values_indices_and_grad(dim, descending):
    x = rand(3, 4, 5)
    order = np.argsort(-x if descending else x, axis=dim, kind="stable")
    check_op(
        lambda t: lucid.sort(t, dim, descending).values,
        lambda a: np.take_along_axis(a, order, dim),
        x,
    )
    out = lucid.sort(lucid.tensor(x), dim=dim, descending=descending)
    assert type(out).__name__ == "sort" and out.indices.dtype == lucid.int64
    np.testing.assert_array_equal(out.indices.numpy(), order)
    np.testing.assert_array_equal(lucid.argsort(lucid.tensor(x), dim, descending).numpy(), order)


@pytest.mark.parametrize("descending", [False, True])
def test_ties_keep_input_order_and_nan_is_largest(descending):
    x = np.array([2.0, 1.0, np.nan, 2.0, 1.0, 2.0])
    v, i = lucid.tensor(x).sort(descending=descending, stable=True)
    expected = [2, 0, 3, 5, 1, 4] if descending else [1, 4, 0, 3, 5, 2]
    np.testing.assert_array_equal(i.numpy(), expected)
    np.testing.assert_array_equal(v.numpy(), x[expected])


@pytest.mark.parametrize(
    "k,dim,largest", [(2, -1, True), (3, 0, False), (1, 1, True), (0, 1, True), (5, 2, False)]
)
def test_topk_matches_torch(k, dim, largest):
    torch = pytest.importorskip("torch")
    x = rand(4, 3, 5)
    out = compare_with_torch(
        lambda t: tuple(lucid.topk(t, k, dim, largest)),
        lambda t: tuple(torch.topk(t, k, dim, largest)),
        x,
    )
    assert out[1].dtype == lucid.int64


def test_topk_gradcheck_and_namedtuple():
    check_op(lambda t: t.topk(2, dim=0).values, lambda a: -np.sort(-a, axis=0)[:2], rand(4, 3))
    r = lucid.tensor([1.0, 3.0, 2.0]).topk(1)
    assert type(r).__name__ == "topk" and r.values.item() == 3.0 and r.indices.item() == 1


def test_sort_and_topk_errors():
    with pytest.raises(IndexError, match="k=4 .* size 3"):
        lucid.topk(lucid.ones(3), 4)
    with pytest.raises(ValueError, match="dim 2 is out of range"):
        lucid.sort(lucid.ones(2, 3), dim=2)


def test_0d_inputs():
    v, i = lucid.sort(lucid.tensor(2.0))
    assert v.shape == () and i.item() == 0
    assert lucid.topk(lucid.tensor(2.0), 1).values.item() == 2.0
