"""Norms: ``lucid.linalg.vector_norm``/``matrix_norm``/``norm`` and ``lucid.norm``/``Tensor.norm``
(``torch.norm``): values against numpy float64, gradients against finite differences (away from
kinks) and, at the kinks (a zero norm, zero elements, tied maxima), against the subgradients
PyTorch picks, derived by hand. tests/parity compares them with PyTorch itself."""

import math

import numpy as np
import pytest

import lucid
from lucid import linalg
from tests.helpers import check_op, grads_of, rand

INF = math.inf


def np_vector_norm(a, ord=2, dim=None, keepdim=False):
    """The vector norm in numpy float64, from its definition."""
    axes = tuple(range(a.ndim)) if dim is None or dim == () else dim
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
    x = np.abs(a)
    if ord == INF:
        r = x.max(axis=axes, keepdims=True)
    elif ord == -INF:
        r = x.min(axis=axes, keepdims=True)
    elif ord == 0:
        r = (x != 0).sum(axis=axes, keepdims=True).astype(np.float64)
    else:
        with np.errstate(divide="ignore"):
            r = (x**ord).sum(axis=axes, keepdims=True) ** (1.0 / ord)
    return r if keepdim else np.squeeze(r, axis=axes)


VECTOR_CASES = [
    (ord, dim, keepdim)
    for ord in (2, 1, 3, 1.5, 0.5, -1, INF, -INF)
    for dim, keepdim in ((None, False), (1, False), ((0, 2), True), (-1, True), ((), False))
]


@pytest.mark.parametrize("ord,dim,keepdim", VECTOR_CASES)
def test_vector_norm_values_and_gradients(ord, dim, keepdim):
    r = rand(2, 3, 4)
    a = np.sign(r) * (0.2 + np.abs(r))  # off the kink at 0, and no ties for the inf-norms
    check_op(
        lambda x: linalg.vector_norm(x, ord, dim, keepdim),
        lambda x: np_vector_norm(x, ord, dim, keepdim),
        a,
    )


def test_vector_norm_zero_ord_counts_and_has_no_gradient():
    a = np.array([[0.0, 1.5, -2.0], [0.0, 0.0, 3.0]])
    check_op(
        lambda x: linalg.vector_norm(x, 0, dim=1), lambda x: np_vector_norm(x, 0, 1), a, grad=False
    )
    (g,) = grads_of(lambda x: linalg.vector_norm(x, 0), a)
    np.testing.assert_array_equal(g, np.zeros_like(a))


@pytest.mark.parametrize("ord", [2, 1, 3, 1.5, 0.5, -1, -2.5, INF, -INF])
def test_the_gradient_of_a_zero_norm_is_zero(ord):
    # PyTorch's subgradient at 0 (x/||x|| would be 0/0); a whole zero row among others too
    (g,) = grads_of(lambda x: linalg.vector_norm(x, ord), np.zeros(4))
    np.testing.assert_array_equal(g, np.zeros(4))
    a = np.array([[0.0, 0.0, 0.0], [3.0, -4.0, 0.0]])
    (g,) = grads_of(lambda x: linalg.vector_norm(x, ord, dim=1), a)
    assert np.all(np.isfinite(g)) and np.all(g[0] == 0)


def test_subgradients_at_zero_elements_and_ties():
    a = np.array([3.0, -4.0, 0.0, 4.0])
    # 2-norm: x / ||x|| (the zero element gets 0)
    (g,) = grads_of(lambda x: linalg.vector_norm(x), a)
    np.testing.assert_allclose(g, a / np.sqrt(41.0), rtol=1e-14)
    # 1-norm: sign(x), 0 at 0
    (g,) = grads_of(lambda x: linalg.vector_norm(x, 1), a)
    np.testing.assert_array_equal(g, [1.0, -1.0, 0.0, 1.0])
    # inf-norm: the two tied maxima share the gradient, with their signs
    (g,) = grads_of(lambda x: linalg.vector_norm(x, INF), a)
    np.testing.assert_array_equal(g, [0.0, -0.5, 0.0, 0.5])
    # -inf-norm: the minimum |x| is 0 there: gradient 0
    (g,) = grads_of(lambda x: linalg.vector_norm(x, -INF), a)
    np.testing.assert_array_equal(g, np.zeros(4))
    # p < 1: the zero element gets 0 (not inf); the rest sign(x) (|x|/r)^(p-1)
    r = np.sum(np.abs(a) ** 0.5) ** 2
    with np.errstate(divide="ignore"):
        expected = np.sign(a) * np.where(a == 0, 0.0, (np.abs(a) / r) ** -0.5)
    (g,) = grads_of(lambda x: linalg.vector_norm(x, 0.5), a)
    np.testing.assert_allclose(g, expected, rtol=1e-13)
    # negative p with a zero element: the norm is 0, and so is the gradient
    (g,) = grads_of(lambda x: linalg.vector_norm(x, -1), a)
    np.testing.assert_array_equal(g, np.zeros(4))


MATRIX_ORDS = ["fro", "nuc", INF, -INF, 1, -1, 2, -2]


@pytest.mark.parametrize("ord", MATRIX_ORDS)
@pytest.mark.parametrize("dim", [(-2, -1), (0, 2), (2, 0)])
def test_matrix_norm_values_and_gradients(ord, dim):
    a = rand(3, 4, 5)
    check_op(
        lambda x: linalg.matrix_norm(x, ord, dim),
        lambda x: np.linalg.norm(x, ord, axis=dim),
        a,
        rtol=1e-5,
    )
    out = linalg.matrix_norm(lucid.tensor(a), ord, dim, keepdim=True)
    assert out.shape == np.linalg.norm(a, ord, axis=dim, keepdims=True).shape


def test_linalg_norm_and_torch_norm_forms():
    a = rand(2, 3, 4)
    m = a[0]
    cases = [
        (lambda x: linalg.norm(x), lambda x: np.linalg.norm(x.ravel())),
        (lambda x: linalg.norm(x, dim=1), lambda x: np.linalg.norm(x, axis=1)),
        (lambda x: linalg.norm(x, 3, dim=2), lambda x: np_vector_norm(x, 3, 2)),
        (lambda x: linalg.norm(x, "nuc", dim=(0, 2)), lambda x: np.linalg.norm(x, "nuc", (0, 2))),
        (lambda x: lucid.norm(x), lambda x: np.linalg.norm(x.ravel())),
        (lambda x: x.norm(dim=(1, 2)), lambda x: np_vector_norm(x, 2, (1, 2))),
        (lambda x: x.norm(1, dim=(0, 1, 2)), lambda x: np.abs(x).sum()),  # a vector 1-norm
        (lambda x: x.norm(INF, 2, True), lambda x: np_vector_norm(x, INF, 2, True)),
        (lambda x: lucid.norm(x, None, 0), lambda x: np.linalg.norm(x, axis=0)),
    ]
    for fn, np_fn in cases:
        check_op(fn, np_fn, a)
    for fn, np_fn in (
        (lambda x: linalg.norm(x, 1), lambda x: np.linalg.norm(x, 1)),  # 2-D: a matrix norm
        (lambda x: linalg.norm(x, -2), lambda x: np.linalg.norm(x, -2)),
        (lambda x: lucid.norm(x, "nuc"), lambda x: np.linalg.norm(x, "nuc")),
        (lambda x: linalg.norm(x[0], 1), lambda x: np.abs(x[0]).sum()),  # 1-D: a vector norm
    ):
        check_op(fn, np_fn, m)


def test_dtypes():
    a = rand(3, 4)
    for dt in ("float32", "float16", "bfloat16"):
        x = lucid.tensor(a, dtype=dt)
        for out in (linalg.vector_norm(x), linalg.matrix_norm(x, 2), x.norm(1, 0)):
            assert out.dtype == dt
    out = linalg.vector_norm(lucid.tensor(a, dtype="float16"), dtype=lucid.float32)
    assert out.dtype == lucid.float32
    np.testing.assert_allclose(
        out.item(), np.linalg.norm(a.astype(np.float16).astype(np.float64)), rtol=1e-6
    )
    assert lucid.norm(lucid.tensor(a, dtype="float32"), dtype="float64").dtype == lucid.float64
    with lucid.autocast("cpu", dtype=lucid.float16):  # torch.norm autocasts to float32
        assert lucid.norm(lucid.tensor(a, dtype="float16")).dtype == lucid.float32


def test_zero_dim_and_empty_inputs():
    np.testing.assert_allclose(linalg.vector_norm(lucid.tensor(-2.5)).item(), 2.5)
    assert linalg.vector_norm(lucid.zeros(0, 3)).item() == 0.0
    assert linalg.vector_norm(lucid.zeros(0, 3), INF, dim=1).shape == (0,)
    for ord in (INF, -1, -INF):
        with pytest.raises(ValueError, match="empty set of values"):
            linalg.vector_norm(lucid.zeros(0, 3), ord)
    assert linalg.matrix_norm(lucid.zeros(0, 3), 1).item() == 0.0
    with pytest.raises(ValueError, match="non-empty"):
        linalg.matrix_norm(lucid.zeros(0, 3), "nuc")


def test_bad_arguments():
    x = lucid.ones(2, 3)
    with pytest.raises(TypeError, match="floating point"):
        linalg.vector_norm(lucid.tensor([1, 2]))
    with pytest.raises(TypeError, match="ord must be a number"):
        linalg.vector_norm(x, "fro")
    with pytest.raises(ValueError, match="ord must be 'fro', 'nuc'"):
        linalg.matrix_norm(x, 3)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        linalg.matrix_norm(lucid.ones(3))
    with pytest.raises(ValueError, match="2-tuple"):
        lucid.norm(lucid.ones(2, 2, 2), "fro", dim=(0, 1, 2))
    with pytest.raises(ValueError, match="must differ"):
        linalg.matrix_norm(x, dim=(0, 0))
    with pytest.raises(ValueError, match="repeated dim"):
        linalg.vector_norm(x, dim=(0, 0))
    with pytest.raises(ValueError, match="out of range"):
        linalg.vector_norm(x, dim=5)
    with pytest.raises(TypeError, match="narrowed"):
        linalg.vector_norm(lucid.ones(2, dtype="float64"), dtype=lucid.float32)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        linalg.norm(lucid.ones(2, 2, 2), 2)
    with pytest.raises(ValueError, match="1 or 2 entries"):
        linalg.norm(lucid.ones(2, 2, 2), dim=(0, 1, 2))
    with pytest.raises(TypeError, match="must be a Tensor"):
        linalg.vector_norm([1.0, 2.0])


def test_errors_are_errors_in_torch_too():
    torch = pytest.importorskip("torch")
    for call in (
        lambda m, L, x: L.vector_norm(x.long()) if m is torch else L.vector_norm(x.long()),
        lambda m, L, x: L.matrix_norm(x, 3),
        lambda m, L, x: L.matrix_norm(x[0, 0]),
        lambda m, L, x: L.norm(x, 2),
        lambda m, L, x: m.norm(x, "fro", dim=(0, 1, 2)),
        lambda m, L, x: L.vector_norm(x[:0], INF),
    ):
        with pytest.raises((RuntimeError, TypeError, ValueError, IndexError)):
            call(torch, torch.linalg, torch.ones(2, 2, 2))
        with pytest.raises((TypeError, ValueError)):
            call(lucid, lucid.linalg, lucid.ones(2, 2, 2))
