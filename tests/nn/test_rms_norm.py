"""RMSNorm / F.rms_norm: values and gradients against numpy float64, gradcheck and torch."""

import numpy as np
import pytest

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
from tests.helpers import check_op, rand
from tests.torch_compare import compare_with_torch


def np_rms_norm(x, shape, w=None, eps=1e-6):
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    y = x / np.sqrt((x * x).mean(axis=axes, keepdims=True) + eps)
    return y if w is None else y * w


@pytest.mark.parametrize("x_shape,shape", [((2, 5), (5,)), ((2, 3, 4), (3, 4)), ((4,), 4)])
def test_rms_norm_matches_numpy_and_gradcheck(x_shape, shape):
    norm = (shape,) if isinstance(shape, int) else shape
    x, w = rand(*x_shape), rand(*norm)
    check_op(
        lambda x, w: F.rms_norm(x, shape, w, eps=1e-6), lambda x, w: np_rms_norm(x, norm, w), x, w
    )
    check_op(lambda x: F.rms_norm(x, shape, eps=1e-6), lambda x: np_rms_norm(x, norm), x)


def test_default_eps_is_machine_epsilon_as_torch():
    torch = pytest.importorskip("torch")
    x, w = rand(2, 3, 4) * 1e-5, rand(4)
    compare_with_torch(
        lambda x, w: F.rms_norm(x, (4,), w),
        lambda x, w: torch.nn.functional.rms_norm(x, (4,), w),
        x,
        w,
    )


def test_module():
    m = nn.RMSNorm([3, 4])
    assert m.weight.shape == (3, 4) and np.all(m.weight.numpy() == 1)
    assert repr(m) == "RMSNorm((3, 4), eps=None, elementwise_affine=True)"
    assert nn.RMSNorm(4, elementwise_affine=False).weight is None
    assert nn.RMSNorm(4, dtype=lucid.float64).weight.dtype == lucid.float64
    x = lucid.tensor(rand(2, 3, 4))
    np.testing.assert_allclose(
        m(x).numpy(), np_rms_norm(x.numpy(), (3, 4), eps=2.0**-23), rtol=1e-5
    )


def test_shape_error():
    with pytest.raises(ValueError, match=r"\(2, 3\) does not end in normalized_shape \(4,\)"):
        F.rms_norm(lucid.ones(2, 3), (4,))
