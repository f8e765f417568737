"""Matrix products with numpy's matmul rules (1-D operands, broadcast batch axes): values
against numpy float64, gradients against finite differences and a numpy derivation."""

import numpy as np
import pytest

import lucid
from tests.helpers import check_op, grads_of, rand


@pytest.mark.parametrize(
    "sa,sb",
    [
        ((3,), (3,)),
        ((3,), (3, 2)),
        ((2, 3), (3,)),
        ((2, 3), (3, 4)),
        ((2, 2, 3), (2, 3, 4)),
        ((2, 1, 2, 3), (3, 3, 2)),
        ((2, 3), (2, 3, 2)),
        ((3,), (2, 3, 2)),
        ((2, 2, 3), (3,)),
        ((0, 3), (3, 2)),
        ((2, 0), (0, 3)),
    ],
)
def test_matmul(sa, sb):
    a, b = rand(*sa), rand(*sb)
    check_op(lambda x, y: x @ y, np.matmul, a, b)
    check_op(lucid.matmul, np.matmul, a, b, grad=False)


def test_matmul_gradients_match_numpy_derivation():
    a, b = rand(2, 1, 2, 3), rand(4, 3, 5)
    seed = rand(2, 4, 2, 5)
    ga, gb = grads_of(lambda x, y: x @ y, a, b, seed=lucid.tensor(seed, dtype="float64"))
    np.testing.assert_allclose(
        ga, (seed @ np.swapaxes(b, -1, -2)).sum(axis=1, keepdims=True), rtol=1e-10
    )
    np.testing.assert_allclose(gb, (np.swapaxes(a, -1, -2) @ seed).sum(axis=0), rtol=1e-10)


def test_dot_and_numpy_operands():
    a, b = rand(4), rand(4)
    check_op(lucid.dot, np.dot, a, b)
    m = rand(3, 4).astype(np.float32)
    out = lucid.tensor(b.astype(np.float32)).__rmatmul__(m)
    np.testing.assert_allclose(out.numpy(), m @ b, rtol=1e-5)


def test_matmul_method_and_chain():
    a, b, c = rand(2, 3), rand(3, 4), rand(4)
    check_op(lambda x, y, z: x.matmul(y) @ z, lambda x, y, z: x @ y @ z, a, b, c)


@pytest.mark.parametrize(
    "sa,sb,pattern",
    [
        ((2, 3), (4, 2), r"\(2, 3\) and \(4, 2\).*3 != 4"),
        ((3,), (4,), r"\(3,\) and \(4,\)"),
        ((2, 2, 3), (3, 3, 2), r"\(2, 2, 3\) and \(3, 3, 2\)"),
        ((), (3,), "at least 1-D"),
    ],
)
def test_matmul_bad_shapes(sa, sb, pattern):
    with pytest.raises(ValueError, match=pattern):
        lucid.ones(*sa) @ lucid.ones(*sb)


@pytest.mark.parametrize("kernels", ["mlx", "numpy"])
def test_large_matmul_under_both_cpu_kernels(kernels):
    # big enough (>= 2^18 multiply-adds) for the NumPy path to take it on Linux
    import lucid._backend as B

    before = B.cpu_kernels()
    B.set_cpu_kernels(kernels)
    try:
        rng = np.random.default_rng(7)
        a, b = rng.standard_normal((3, 64, 128)), rng.standard_normal((128, 96))
        g = rng.standard_normal((3, 64, 96))
        at = lucid.tensor(a, requires_grad=True)
        bt = lucid.tensor(b, requires_grad=True)
        out = at @ bt
        out.backward(lucid.tensor(g))
        np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(at.grad.numpy(), g @ b.T, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(
            bt.grad.numpy(), np.einsum("bij,bik->jk", a, g), rtol=1e-4, atol=1e-3
        )
    finally:
        B.set_cpu_kernels(before)
