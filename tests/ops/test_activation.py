"""softmax / log_softmax: values against numpy float64 (also for huge logits), gradients
against finite differences and against the composite formula's autograd."""

import numpy as np
import pytest

import lucid
from tests.helpers import check_op, grads_of, rand
from lucid.ops.activation import log_softmax, softmax


def np_log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def np_softmax(x, axis):
    return np.exp(np_log_softmax(x, axis))


@pytest.mark.parametrize("fn,np_fn", [(softmax, np_softmax), (log_softmax, np_log_softmax)])
@pytest.mark.parametrize("shape,axis", [((5,), -1), ((2, 3), 0), ((2, 3), -1), ((2, 3, 4), 1),
                                        ((2, 3, 4), -3), ((1, 4), 0)])
def test_values_and_grads(fn, np_fn, shape, axis):
    check_op(lambda x: fn(x, axis=axis), lambda x: np_fn(x, axis), rand(*shape, low=-3, high=3))


@pytest.mark.parametrize("fn,np_fn", [(softmax, np_softmax), (log_softmax, np_log_softmax)])
def test_huge_logits_stay_finite(fn, np_fn):
    a = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1002.0, -1000.5]])
    out = fn(lucid.tensor(a), axis=-1)
    assert np.isfinite(out.numpy()).all()
    np.testing.assert_allclose(out.numpy(), np_fn(a, -1), rtol=1e-5, atol=1e-6)


def test_softmax_rows_sum_to_one_and_gradient_of_sum_is_zero():
    a = rand(3, 4)
    np.testing.assert_allclose(softmax(lucid.tensor(a)).sum(axis=-1).numpy(), np.ones(3),
                               rtol=1e-6)
    (g,) = grads_of(lambda x: softmax(x, axis=-1), a)
    np.testing.assert_allclose(g, np.zeros_like(a), atol=1e-7)  # MLX float64 exp: ~float32


@pytest.mark.parametrize("fn", [softmax, log_softmax])
def test_matches_composite_autograd(fn):
    a, seed = rand(2, 5), rand(2, 5)
    composite = (lambda x: x - x.logsumexp(axis=1, keepdims=True)) if fn is log_softmax else \
        (lambda x: (x - x.logsumexp(axis=1, keepdims=True)).exp())
    s = lucid.tensor(seed, dtype="float64")
    np.testing.assert_allclose(grads_of(lambda x: fn(x, axis=1), a, seed=s)[0],
                               grads_of(composite, a, seed=s)[0], rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("fn", [softmax, log_softmax])
def test_bad_axis(fn):
    with pytest.raises(ValueError, match="dim 2 .*2 dimensions"):
        fn(lucid.ones(2, 3), dim=2)


@pytest.mark.parametrize("fn", [softmax, log_softmax])
@pytest.mark.parametrize("shape,axis", [((0, 3), -1), ((0, 3), 0), ((3, 0), 1)])
def test_empty_inputs(fn, shape, axis):
    x = lucid.zeros(*shape, requires_grad=True)
    out = fn(x, axis=axis)
    assert out.shape == shape
    out.sum().backward()
    assert x.grad.shape == shape


@pytest.mark.parametrize("fn", [softmax, log_softmax])
def test_0d_input_has_no_axis(fn):
    with pytest.raises(ValueError, match="dim -1 is out of range for a tensor with 0 dim"):
        fn(lucid.tensor(1.0))
