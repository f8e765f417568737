"""Higher-order gradients of the "math" op families (reductions, norms, matmul, activations,
fused losses, standardisation): second derivatives against finite differences of the recorded
first-order gradients (``gradgradcheck``, which also checks those against the plain backward),
where PyTorch's parity suite cannot reach (zeros in a product, a norm's Hessian, the target of a
loss) and a third derivative through an op whose gradient is replayed by its adjoint."""

import numpy as np
import pytest

import lucid
import lucid.nn.functional as F
from lucid.autograd import gradgradcheck
from lucid.ops import loss as fused
from lucid.ops.standardize import standardize

RNG = np.random.default_rng(7)


def _t(array):
    return lucid.tensor(np.asarray(array, np.float64), dtype="float64", requires_grad=True)


def _rand(*shape, low=-2.0, high=2.0):
    return _t(RNG.uniform(low, high, shape))


CASES = {
    "std": (lambda x: lucid.std(x, dim=1), [_rand(3, 4)]),
    "var keepdim": (lambda x: lucid.var(x, dim=(0, 2), keepdim=True), [_rand(2, 3, 2)]),
    # zeros: the product of the others, not out / x (one zero, and two in a row)
    "prod with zeros": (
        lambda x: lucid.prod(x, dim=1),
        [_t([[0.0, 1.5, -2.0, 0.7], [0.0, 0.0, 1.2, 0.9], [1.1, -0.4, 0.8, 1.3]])],
    ),
    "logsumexp": (lambda x: lucid.logsumexp(x, dim=0), [_rand(3, 4)]),
    "amax": (lambda x: lucid.amax(x * x, dim=(0, 1)), [_rand(2, 3, 2)]),
    "max dim": (lambda x: lucid.max(x * x, 1).values, [_rand(3, 4)]),
    "matmul 1-D @ batched": (lambda a, b: lucid.matmul(a * a, b), [_rand(3), _rand(2, 3, 2)]),
    "vector_norm p=3": (lambda x: lucid.linalg.vector_norm(x, 3, dim=1), [_rand(2, 4)]),
    "vector_norm p=-1.5": (lambda x: lucid.linalg.vector_norm(x, -1.5), [_rand(5)]),
    "matrix_norm nuc": (lambda a: lucid.linalg.matrix_norm(a, "nuc"), [_rand(2, 3, 4)]),
    "matrix_norm 2, wide dims": (
        lambda a: lucid.linalg.matrix_norm(a, 2, dim=(0, 2)),
        [_rand(3, 2, 5)],
    ),
    "matrix_norm -2": (lambda a: lucid.linalg.matrix_norm(a, -2), [_rand(4, 3)]),
    "softmax": (lambda x: F.softmax(x, dim=1), [_rand(2, 4)]),
    "log_softmax": (lambda x: F.log_softmax(x, dim=0), [_rand(3, 2)]),
    "gelu tanh": (lambda x: F.gelu(x, approximate="tanh"), [_rand(6)]),
    "mish": (F.mish, [_rand(6)]),
    "celu": (lambda x: F.celu(x, 0.7), [_rand(6)]),
    "glu": (lambda x: F.glu(x, 0), [_rand(4, 3)]),
    "prelu per channel": (F.prelu, [_rand(2, 3, 4), _t([0.2, -0.3, 0.5])]),
    "cross_entropy weighted, smoothed": (
        lambda x: fused.cross_entropy(
            x,
            lucid.tensor([0, 2, 1, -100]).data,
            lucid.tensor([0.5, 1.0, 2.0], dtype="float64").data,
            label_smoothing=0.1,
        ),
        [_rand(4, 3)],
    ),
    # the target's gradient too, and its mixed derivatives with the prediction
    "binary_cross_entropy (p, target)": (
        fused.binary_cross_entropy,
        [_rand(3, 2, low=0.1, high=0.9), _rand(3, 2, low=0.1, high=0.9)],
    ),
    "bce with logits (x, target, pos_weight)": (
        fused.binary_cross_entropy_with_logits,
        [_rand(3, 2), _rand(3, 2, low=0.0, high=1.0), _rand(2, low=0.5, high=2.0)],
    ),
    "standardize": (lambda x: standardize(x, (0, 2), 1e-3)[0], [_rand(2, 3, 3)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_second_order_against_finite_differences(name):
    fn, inputs = CASES[name]
    assert gradgradcheck(fn, inputs)


def test_third_order_through_adjoints():
    """A gradient replayed by an adjoint (max's, nll_loss's scatter) is differentiable to any
    order: the second derivative of the first-order gradient is the third of the function."""

    def first_order(x):
        target = lucid.tensor([1, 0, 2]).data
        with lucid.enable_grad():  # gradgradcheck's finite differences run without grad
            x = x if x.requires_grad else x.detach().requires_grad_()
            y = fused.nll_loss(lucid.amax(x * x * x, dim=2), target).sum()
            (g,) = lucid.autograd.grad(y, [x], create_graph=True)
        return g

    x = _t(RNG.uniform(0.5, 2.0, (3, 3, 4)))
    assert gradgradcheck(first_order, [x])
    # and its value: d^3/dx^3 of x^3 at the selected maxima is 6 times the loss's -1
    (g,) = lucid.autograd.grad(first_order(x).sum(), [x], create_graph=True)
    (h,) = lucid.autograd.grad(g.sum(), [x])
    selected = (x.numpy() == x.numpy().max(axis=2, keepdims=True)) & (
        np.arange(3)[None, :, None] == np.array([1, 0, 2])[:, None, None]
    )
    np.testing.assert_allclose(h.numpy(), np.where(selected, -6.0, 0.0))


def test_tied_maxima_share_the_second_derivative():
    """amax's adjoint splits v between tied maxima as the backward splits g."""
    x = _t([1.0, -1.0, 0.5])
    (g,) = lucid.autograd.grad(lucid.amax(x * x), [x], create_graph=True)
    np.testing.assert_allclose(g.numpy(), [1.0, -1.0, 0.0])  # 2x, halved
    (h,) = lucid.autograd.grad(g.sum(), [x])
    np.testing.assert_allclose(h.numpy(), [1.0, 1.0, 0.0])


def test_zero_norm_second_derivative_is_zero():
    """At a zero vector the norm's gradient is 0 (a subgradient) and so is its derivative
    (PyTorch's is NaN there)."""
    x = _t(np.zeros(3))
    (g,) = lucid.autograd.grad(lucid.linalg.vector_norm(x), [x], create_graph=True)
    (h,) = lucid.autograd.grad(g.sum(), [x])
    np.testing.assert_array_equal(h.numpy(), np.zeros(3))


def test_matrix_norm_third_order_is_refused():
    """The singular-value norms stop at second order, with a clear error."""
    a = _rand(3, 4)
    (g,) = lucid.autograd.grad(lucid.linalg.matrix_norm(a, "nuc"), [a], create_graph=True)
    lucid.autograd.grad((g * g).sum(), [a], retain_graph=True)  # second order: fine
    with pytest.raises(NotImplementedError, match="MatrixNormGrad"):
        lucid.autograd.grad((g * g).sum(), [a], create_graph=True)


def test_first_order_path_unchanged():
    """Plain backward still runs the array closures: the rule is only read with create_graph."""
    x = _rand(3, 4)
    y = F.softmax(x, dim=1)
    assert y.grad_fn.rule is not None and y.grad_fn.adjoint is None
    assert lucid.amax(x, dim=1).grad_fn.adjoint is not None
