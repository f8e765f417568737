"""``isclose``, ``allclose`` and ``equal``: against numpy's definitions and PyTorch."""

import numpy as np
import pytest

import lucid

NAN, INF = np.nan, np.inf
A = np.array([1.0, INF, -INF, NAN, 1.0, INF, 0.0, 1e-9, 100.0, 100.0])
B = np.array([1.0 + 1e-6, INF, INF, NAN, NAN, 1e300, 1e-8, 0.0, 100.001, 100.01])


@pytest.mark.parametrize("equal_nan", [False, True])
@pytest.mark.parametrize("rtol,atol", [(1e-05, 1e-08), (0.0, 0.0), (1e-4, 0.0), (0.0, 1e-7)])
def test_isclose_follows_the_definition(rtol, atol, equal_nan):
    ours = lucid.isclose(lucid.tensor(A), lucid.tensor(B), rtol, atol, equal_nan).numpy()
    with np.errstate(invalid="ignore"):
        expected = (A == B) | (
            np.isfinite(A) & np.isfinite(B) & (np.abs(A - B) <= atol + rtol * np.abs(B))
        )
    if equal_nan:
        expected |= np.isnan(A) & np.isnan(B)
    np.testing.assert_array_equal(ours, expected)
    assert lucid.tensor(A).isclose(lucid.tensor(B), rtol, atol, equal_nan).dtype == lucid.bool


def test_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    with np.errstate(over="ignore"):
        a32, b32 = A.astype(np.float32), B.astype(np.float32)  # 1e300 becomes inf
    pairs = [
        (A, B),
        (a32, b32),
        (np.array([1, 5, 100, -7]), np.array([1, 6, 101, -7])),
        (rng.normal(size=(3, 1)), rng.normal(size=(4,))),  # broadcast
        (np.array([True, False]), np.array([True, True])),
    ]
    for a, b in pairs:
        for kw in ({}, {"rtol": 0.01, "atol": 0.0}, {"equal_nan": True}, {"atol": 2.0}):
            la, lb, ta, tb = lucid.tensor(a), lucid.tensor(b), torch.tensor(a), torch.tensor(b)
            np.testing.assert_array_equal(
                lucid.isclose(la, lb, **kw).numpy(), torch.isclose(ta, tb, **kw).numpy()
            )
            assert lucid.allclose(la, lb, **kw) is torch.allclose(ta, tb, **kw)
            assert la.allclose(lb, **kw) is ta.allclose(tb, **kw)
    for a, b in [
        (np.array([1, 2]), np.array([1.0, 2.0])),  # dtypes may differ for equal
        (np.array([1.0, NAN]), np.array([1.0, NAN])),
        (np.array([1.0, 2.0]), np.array([[1.0, 2.0]])),  # shapes differ: False, no broadcast
        (np.zeros((0, 2)), np.zeros((0, 2))),
        (np.array(3.0), np.array(3.0)),
        (np.array([1.0, 2.0]), np.array([1.0, 2.5])),
    ]:
        la, lb, ta, tb = lucid.tensor(a), lucid.tensor(b), torch.tensor(a), torch.tensor(b)
        assert lucid.equal(la, lb) is torch.equal(ta, tb) is la.equal(lb)


def test_results_are_python_bools_and_tensors_on_the_input_device():
    x = lucid.tensor([1.0, 2.0])
    assert lucid.allclose(x, x + 1e-9) is True and lucid.equal(x, x) is True
    assert lucid.allclose(x, x + 1) is False and lucid.equal(x, x + 1) is False
    assert lucid.allclose(lucid.zeros(0), lucid.zeros(0)) is True
    assert lucid.isclose(x, x).device == x.device


def test_bad_arguments():
    x = lucid.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="same dtype"):
        lucid.allclose(x, x.double())  # as PyTorch ("Float did not match Double")
    with pytest.raises(TypeError, match="other must be a Tensor"):
        lucid.isclose(x, 1.0)
    with pytest.raises(TypeError, match="input must be a Tensor"):
        lucid.equal([1.0], x)
    with pytest.raises(ValueError, match="rtol must be >= 0"):
        lucid.isclose(x, x, rtol=-1.0)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        lucid.allclose(x, lucid.ones(3))
    with pytest.raises(TypeError, match="atol must be a number"):
        lucid.isclose(x, x, atol="0")
