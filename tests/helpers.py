"""Shared checks for the core test-suite: an op's value against numpy (float64) and its gradient
against central finite differences (``lucid.autograd.gradcheck``)."""

import numpy as np

import lucid
from lucid.autograd import gradcheck

RNG = np.random.default_rng(1234)


def rand(*shape, low=-2.0, high=2.0):
    """float64 test data, uniform in [low, high)."""
    return RNG.uniform(low, high, shape)


def away_from(a, points=(0.0,), gap=0.2):
    """``a`` with values closer than ``gap`` to any of ``points`` pushed away (keeps finite
    differences off kinks such as |x| at 0)."""
    a = np.array(a, dtype=np.float64)
    for p in points:
        close = np.abs(a - p) < gap
        a[close] = p + np.where(a[close] >= p, gap, -gap)
    return a


def check_op(fn, np_fn, *arrays, grad=True, rtol=1e-5, atol=1e-5, wrt=None):
    """``fn(*tensors)`` (float32 tensors) matches ``np_fn(*arrays)`` (float64) in shape and value,
    and, with ``grad``, its analytic gradients pass ``gradcheck`` in float64.

    ``wrt`` lists which arguments require grad (default: every floating array). Non-array
    arguments (ints, tuples) are passed through unchanged to both functions.
    """
    arrays = [np.asarray(a) if isinstance(a, (np.ndarray, list)) else a for a in arrays]
    is_arr = [isinstance(a, np.ndarray) for a in arrays]
    tensors = [
        lucid.tensor(a.astype(np.float32) if a.dtype == np.float64 else a) if arr else a
        for a, arr in zip(arrays, is_arr)
    ]
    out = fn(*tensors)
    expected = np.asarray(
        np_fn(
            *[
                a.astype(np.float64) if arr and a.dtype.kind == "f" else a
                for a, arr in zip(arrays, is_arr)
            ]
        )
    )
    assert isinstance(out, lucid.Tensor), f"expected a Tensor, got {type(out)}"
    assert out.shape == expected.shape, f"shape {out.shape} != numpy's {expected.shape}"
    np.testing.assert_allclose(out.numpy(), expected, rtol=rtol, atol=atol)
    if not grad:
        return out
    if wrt is None:
        wrt = [i for i, (a, arr) in enumerate(zip(arrays, is_arr)) if arr and a.dtype.kind == "f"]
    inputs = [
        lucid.tensor(a, dtype="float64", requires_grad=i in wrt) if arr else a
        for i, (a, arr) in enumerate(zip(arrays, is_arr))
    ]
    assert gradcheck(fn, inputs)
    return out


def grads_of(fn, *arrays, seed=None):
    """Analytic gradients (numpy float64) of ``fn`` at float64 ``arrays``; the output is seeded
    with ``seed`` (ones by default)."""
    xs = [lucid.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
    out = fn(*xs)
    out.backward(seed)
    for x, a in zip(xs, arrays):
        assert x.grad is not None and x.grad.shape == np.shape(a), (
            f"gradient shape {None if x.grad is None else x.grad.shape} != input {np.shape(a)}"
        )
    return [x.grad.numpy() for x in xs]
