"""Reductions: values against numpy float64 and gradients against finite differences, over
axis None / int / negative / tuple, keepdims, 0-d and empty tensors; bad axes."""

import numpy as np
import pytest

import lucid
from tests.helpers import check_op, grads_of, rand

AXES = [None, 0, -1, (0, 2), (-1, -3), 1]
SHAPE = (2, 3, 2)


def distinct(*shape):
    """Values with no ties and gaps well above gradcheck's step (for max/min/prod)."""
    n = int(np.prod(shape))
    return (np.random.default_rng(n).permutation(n) - n / 2 + 0.5).reshape(shape) * 0.37


REDUCTIONS = {  # name: (numpy function, data)
    "sum": (np.sum, rand),
    "mean": (np.mean, rand),
    "max": (np.max, distinct),
    "min": (np.min, distinct),
    "var": (np.var, rand),
    "std": (np.std, rand),
    "prod": (np.prod, lambda *s: rand(*s, low=0.5, high=1.5)),
    "logsumexp": (lambda x, axis, keepdims: np.log(np.sum(np.exp(x), axis=axis,
                                                          keepdims=keepdims)), rand),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduction(name, axis, keepdims):
    np_fn, data = REDUCTIONS[name]
    check_op(lambda x: getattr(lucid, name)(x, axis=axis, keepdims=keepdims),
             lambda x: np_fn(x, axis=axis, keepdims=keepdims), data(*SHAPE))


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_method_and_0d(name):
    np_fn, data = REDUCTIONS[name]
    check_op(lambda x: getattr(x, name)(), lambda x: np_fn(x, axis=None, keepdims=False),
             data(3, 2))
    zero_d = np.array(0.7)
    check_op(lambda x: getattr(x, name)(), lambda x: np_fn(x, axis=None, keepdims=False),
             zero_d)


@pytest.mark.parametrize("ddof", [0, 1])
def test_var_std_ddof(ddof):
    a = rand(4, 3)
    check_op(lambda x: x.var(axis=0, ddof=ddof), lambda x: np.var(x, axis=0, ddof=ddof), a)
    check_op(lambda x: x.std(axis=1, ddof=ddof), lambda x: np.std(x, axis=1, ddof=ddof), a)


def test_ties_share_the_gradient():
    (g,) = grads_of(lambda x: x.max(), np.array([1.0, 3.0, 3.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 0.5, 0.5, 0.0])
    (g,) = grads_of(lambda x: x.min(axis=1), np.array([[1.0, 1.0], [0.0, 2.0]]))
    np.testing.assert_array_equal(g, [[0.5, 0.5], [1.0, 0.0]])


def test_prod_gradient_with_zeros_is_exact():
    a = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 4.0, 2.0]])
    (g,) = grads_of(lambda x: x.prod(axis=1), a)
    np.testing.assert_array_equal(g, [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [8.0, 2.0, 4.0]])
    check_op(lambda x: x.prod(axis=0), lambda x: np.prod(x, axis=0), a)


def test_empty_reductions_follow_numpy():
    x = lucid.zeros(0, 3, requires_grad=True)
    s = x.sum(axis=0)
    assert s.shape == (3,) and s.tolist() == [0.0, 0.0, 0.0]
    assert x.sum().item() == 0.0
    assert x.prod(axis=0).tolist() == [1.0, 1.0, 1.0]
    assert np.isnan(x.mean().item())
    assert x.sum(axis=1).shape == (0,)
    s.sum().backward()
    assert x.grad.shape == (0, 3)
    with pytest.raises(ValueError, match=r"empty.*\(0, 3\)"):
        x.max()
    with pytest.raises(ValueError, match=r"\(0, 3\)"):
        x.argmax()


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (None, True), (0, False), (-1, True),
                                           (1, False)])
def test_argmax_argmin(name, axis, keepdims):
    a = distinct(3, 4)
    x = lucid.tensor(a, requires_grad=True)
    out = getattr(x, name)(axis=axis, keepdims=keepdims)
    expected = getattr(np, name)(a, axis=axis, keepdims=keepdims)
    assert out.dtype == lucid.int64 and not out.requires_grad
    assert out.shape == np.shape(expected)
    np.testing.assert_array_equal(out.numpy(), expected)


def test_all_any():
    a = np.array([[True, False], [True, True]])
    x = lucid.tensor(a)
    for axis in (None, 0, -1):
        np.testing.assert_array_equal(x.all(axis=axis).numpy(), a.all(axis=axis))
        np.testing.assert_array_equal(x.any(axis=axis).numpy(), a.any(axis=axis))


def test_sum_of_integers_stays_integral():
    assert lucid.tensor([[1, 2], [3, 4]]).sum(axis=0).tolist() == [4, 6]


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var", "prod", "logsumexp",
                                  "argmax", "all"])
def test_bad_axis_names_the_axis_and_ndim(name):
    x = lucid.ones(2, 3)
    if name == "all":
        x = x > 0
    with pytest.raises(ValueError, match=r"axis 2 .*2 dimensions"):
        getattr(x, name)(axis=2)
    with pytest.raises(ValueError, match="axis -3"):
        getattr(x, name)(axis=-3)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "var", "logsumexp", "argmax"])
def test_0d_tensors_have_no_axis_0(name):
    with pytest.raises(ValueError, match="axis 0 is out of range for a tensor with 0 dim"):
        getattr(lucid.tensor(1.5), name)(axis=0)


def test_logsumexp_of_empty_is_minus_infinity():
    x = lucid.zeros(3, 0, requires_grad=True)
    out = x.logsumexp(axis=1)
    np.testing.assert_array_equal(out.numpy(), np.full(3, -np.inf))
    assert lucid.zeros(0, 3).logsumexp(axis=1).shape == (0,)
    lucid.zeros(0, 3, requires_grad=True).logsumexp(axis=1).sum().backward()


def test_repeated_or_non_int_axis():
    x = lucid.ones(2, 3)
    with pytest.raises(ValueError, match="repeated axis"):
        x.sum(axis=(1, -1))
    with pytest.raises(TypeError, match="axis must be an int"):
        x.sum(axis=1.0)
