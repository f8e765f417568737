"""bincount and one_hot against numpy and torch: values, dtypes, errors."""

import numpy as np
import pytest

import lucid
import lucid.nn.functional as F


def test_bincount():
    x = lucid.tensor([1, 1, 3, 0])
    out = lucid.bincount(x)
    assert out.dtype == lucid.int64 and out.tolist() == [1, 2, 0, 1]
    assert lucid.bincount(x, minlength=6).tolist() == [1, 2, 0, 1, 0, 0]
    w = lucid.tensor([0.5, 1.0, 2.0, 4.0])
    weighted = x.bincount(w)
    assert weighted.dtype == lucid.float32 and weighted.tolist() == [4.0, 1.5, 0.0, 2.0]
    assert lucid.bincount(x, lucid.tensor([1, 1, 1, 1])).dtype == lucid.float64
    assert lucid.bincount(lucid.tensor(np.zeros(0, np.int64))).tolist() == []


def test_one_hot():
    out = F.one_hot(lucid.tensor([[0, 2], [1, 1]]))
    assert out.dtype == lucid.int64 and out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.numpy(), np.eye(3, dtype=np.int64)[[[0, 2], [1, 1]]])
    assert F.one_hot(lucid.tensor([1]), num_classes=4).tolist() == [[0, 1, 0, 0]]


def test_match_torch():
    torch = pytest.importorskip("torch")
    x = np.array([0, 4, 2, 2, 7])
    w = np.linspace(0, 1, 5)
    np.testing.assert_allclose(
        lucid.bincount(lucid.tensor(x), lucid.tensor(w, dtype="float64"), minlength=9).numpy(),
        torch.bincount(torch.tensor(x), torch.tensor(w), 9).numpy(),
    )
    np.testing.assert_array_equal(
        F.one_hot(lucid.tensor(x), 8).numpy(),
        torch.nn.functional.one_hot(torch.tensor(x), 8).numpy(),
    )


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: lucid.bincount(lucid.tensor([-1, 2])), ValueError, "non-negative"),
        (lambda: lucid.bincount(lucid.ones(3)), TypeError, "integer"),
        (lambda: lucid.bincount(lucid.tensor([[1]])), ValueError, "1-D"),
        (lambda: F.one_hot(lucid.tensor([0, 3]), 3), ValueError, "3 must be smaller than"),
        (lambda: F.one_hot(lucid.tensor([0.0])), TypeError, "integer"),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
