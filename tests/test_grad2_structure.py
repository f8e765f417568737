"""Higher-order gradients of the structure ops (shape, indexing, padding, reordering, scans,
sorting, diagonals, unpooling, einsum, clamp/lerp, clone and in-place writes).

The parity suite differentiates each op alone, where a linear op's second derivative is zero and
its gradient's own backward (the op's adjoint) never runs. Here every op feeds a nonlinearity
(``sin``), so the gradient flowing into the op depends on the inputs: the second derivative
runs the adjoint, the third runs the backward again. Both are compared with PyTorch (float64),
and a few with finite differences (``gradgradcheck``).
"""

from __future__ import annotations

import numpy as np
import pytest

import lucid
import lucid.nn.functional as LF
from lucid.autograd import gradgradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional
RNG = np.random.default_rng(7)


def _rand(*shape):
    return RNG.uniform(-2.0, 2.0, shape)


def _distinct(*shape):
    n = int(np.prod(shape))
    return ((RNG.permutation(n) + RNG.uniform(0.1, 0.9, n)) / n * 4 - 2).reshape(shape)


IDX = np.array([[2, 0, 2, 1], [1, 1, 0, 2], [0, 2, 1, 0]])  # repeats along dim 0 (3 rows)
ROWS = np.array([[0, 4, 2], [2, 2, 1]])
POOL_IDX = np.array([[[1, 2, 5, 6], [0, 3, 4, 7]]])  # distinct flat positions in planes of 8


def _fw(fw):
    """(module, functional, int tensor maker, bool tensor maker) of a framework."""
    if fw is lucid:
        return lucid, LF, lambda a: lucid.tensor(a), lambda a: lucid.tensor(a, dtype="bool")
    return torch, TF, lambda a: torch.tensor(a), lambda a: torch.tensor(a)


# (id, fn(fw, *tensors) -> tensor or tuple, float64 input arrays)
CASES = [
    ("reshape", lambda fw, x: x.reshape(4, 3), [_rand(2, 6)]),
    ("permute", lambda fw, x: x.permute(2, 0, 1), [_rand(2, 3, 4)]),
    ("transpose", lambda fw, x: x.transpose(0, 1), [_rand(2, 3)]),
    ("expand", lambda fw, x: x.expand(2, 3, 4), [_rand(3, 1)]),
    ("cat", lambda fw, x, y: _fw(fw)[0].cat([x, y, x], 1), [_rand(2, 3), _rand(2, 2)]),
    ("stack", lambda fw, x, y: _fw(fw)[0].stack([x, y], 1), [_rand(2, 3), _rand(2, 3)]),
    ("split", lambda fw, x: x.split(2, 1), [_rand(2, 5)]),
    ("getitem_slice", lambda fw, x: x[1:, ::2], [_rand(3, 4)]),
    ("getitem_newaxis", lambda fw, x: x[None, 1, :], [_rand(3, 4)]),
    ("getitem_array", lambda fw, x: x[_fw(fw)[2](np.array([2, 0, 2]))], [_rand(3, 4)]),
    (
        "getitem_mixed",
        lambda fw, x: x[_fw(fw)[2](np.array([2, 0, 2])), :, _fw(fw)[2](np.array([1, 1, 0]))],
        [_rand(3, 2, 4)],
    ),
    ("getitem_bool", lambda fw, x: x[_fw(fw)[3](np.array([True, False, True]))], [_rand(3, 4)]),
    (
        "repeat_interleave",
        lambda fw, x: _fw(fw)[0].repeat_interleave(x, 2, dim=1),
        [_rand(2, 3)],
    ),
    ("repeat", lambda fw, x: x.repeat(2, 1, 2), [_rand(2, 3)]),
    ("gather", lambda fw, x: _fw(fw)[0].gather(x, 0, _fw(fw)[2](IDX)), [_rand(3, 4)]),
    (
        "scatter",
        lambda fw, x, src: _fw(fw)[0].scatter(x, 1, _fw(fw)[2](np.array([[2], [0]])), src),
        [_rand(2, 4), _rand(2, 1)],
    ),
    (
        "scatter_add",
        lambda fw, x, src: _fw(fw)[0].scatter_add(x, 0, _fw(fw)[2](IDX), src),
        [_rand(3, 4), _rand(3, 4)],
    ),
    (
        "index_select",
        lambda fw, x: _fw(fw)[0].index_select(x, 1, _fw(fw)[2](np.array([3, 0, 3]))),
        [_rand(2, 4)],
    ),
    (
        "masked_fill",
        lambda fw, x, v: _fw(fw)[0].masked_fill(
            x, _fw(fw)[3](np.array([True, False, True, False])), v
        ),
        [_rand(3, 4), np.array(0.7)],
    ),
    ("embedding", lambda fw, w: _fw(fw)[1].embedding(_fw(fw)[2](ROWS), w), [_rand(5, 3)]),
    (
        "embedding_padding",
        lambda fw, w: _fw(fw)[1].embedding(_fw(fw)[2](ROWS), w, padding_idx=2),
        [_rand(5, 3)],
    ),
    ("pad_constant", lambda fw, x: _fw(fw)[1].pad(x, (1, -1, 2, 0)), [_rand(2, 3, 4)]),
    ("pad_reflect", lambda fw, x: _fw(fw)[1].pad(x, (2, 1), mode="reflect"), [_rand(1, 2, 4)]),
    (
        "pad_replicate",
        lambda fw, x: _fw(fw)[1].pad(x, (1, 2, 2, 1), mode="replicate"),
        [_rand(1, 2, 3, 3)],
    ),
    ("pad_circular", lambda fw, x: _fw(fw)[1].pad(x, (2, 1), mode="circular"), [_rand(1, 2, 4)]),
    ("flip", lambda fw, x: x.flip(0, 2), [_rand(2, 3, 2)]),
    ("roll", lambda fw, x: x.roll((1, -2), (0, 1)), [_rand(3, 4)]),
    ("roll_flat", lambda fw, x: x.roll(3), [_rand(3, 4)]),
    ("cumsum", lambda fw, x: x.cumsum(1), [_rand(2, 4)]),
    ("cumprod", lambda fw, x: x.cumprod(1), [_rand(2, 4)]),
    (
        "cumprod_zeros",
        lambda fw, x: x.cumprod(1),
        [np.array([[0.5, 0.0, 1.5, -0.7], [1.2, -0.4, 0.0, 0.0]])],
    ),
    ("sort", lambda fw, x: x.sort(1, descending=True)[0], [_distinct(3, 4)]),
    ("topk", lambda fw, x: x.topk(2, 0)[0], [_distinct(3, 4)]),
    ("diag_vector", lambda fw, x: _fw(fw)[0].diag(x, -1), [_rand(3)]),
    ("diag_matrix", lambda fw, x: _fw(fw)[0].diag(x, 1), [_rand(3, 4)]),
    (
        "max_unpool",
        lambda fw, x: _fw(fw)[1].max_unpool1d(x, _fw(fw)[2](POOL_IDX), 2),
        [_rand(1, 2, 4)],
    ),
    ("meshgrid", lambda fw, x, y: _fw(fw)[0].meshgrid(x, y, indexing="xy"), [_rand(3), _rand(2)]),
    (
        "einsum_matmul",
        lambda fw, a, b: _fw(fw)[0].einsum("ij,jk->ik", a, b),
        [_rand(2, 3), _rand(3, 2)],
    ),
    (
        "einsum_diagonal",
        lambda fw, a, b: _fw(fw)[0].einsum("ii,i...->...", a, b),
        [_rand(3, 3), _rand(3, 2)],
    ),
    (
        "einsum_trace_outer",
        lambda fw, a, b: _fw(fw)[0].einsum("ii,j", a, b),
        [_rand(2, 2), _rand(3)],
    ),
    (
        "clamp",
        lambda fw, x, lo, hi: _fw(fw)[0].clamp(x, lo, hi),
        [_distinct(3, 4), _distinct(3, 4) - 0.5, _distinct(4) + 0.5],
    ),
    ("lerp", lambda fw, a, b, w: _fw(fw)[0].lerp(a, b, w), [_rand(2, 3), _rand(2, 3), _rand(3)]),
    ("lerp_number", lambda fw, a, b: _fw(fw)[0].lerp(a, b, 0.3), [_rand(2, 3), _rand(2, 3)]),
    ("clone_mul_", lambda fw, x, y: x.clone().mul_(y), [_rand(2, 3), _rand(2, 3)]),
    ("copy_", lambda fw, x, y: x.clone().copy_(y), [_rand(2, 3), _rand(3)]),
    ("clone_add_", lambda fw, x, y: x.clone().add_(y, alpha=2.0), [_rand(2, 3), _rand(2, 3)]),
]


def _three_orders(fw, fn, arrays, weights):
    """The first, second and third derivatives (each contracted with a fixed weighting) of
    sum(w0 * sin(fn(x)))."""
    if fw is lucid:
        xs = [lucid.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
        grad, const = lucid.autograd.grad, lambda a: lucid.tensor(a, dtype="float64")
    else:
        xs = [torch.tensor(a, requires_grad=True) for a in arrays]
        grad, const = torch.autograd.grad, torch.tensor
    out = fn(fw, *xs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    loss = sum((o.sin() * const(np.resize(weights[0], tuple(o.shape)))).sum() for o in outs)
    results = []
    for order in (1, 2, 3):
        gs = grad(loss, xs, create_graph=order < 3, allow_unused=True)
        results.append(
            [np.zeros(a.shape) if g is None else g.detach().numpy() for g, a in zip(gs, arrays)]
        )
        if order < 3:  # (sin keeps every gradient a function of the inputs)
            loss = sum(
                (g * const(np.resize(weights[order], tuple(g.shape)))).sum()
                for g in gs
                if g is not None
            )
    return results


@pytest.mark.parametrize("name,fn,arrays", CASES, ids=[c[0] for c in CASES])
def test_higher_orders_match_pytorch(name, fn, arrays):
    weights = [RNG.uniform(0.5, 1.5, 64) for _ in range(3)]
    ours = _three_orders(lucid, fn, arrays, weights)
    theirs = _three_orders(torch, fn, arrays, weights)
    for order, (mine, ref) in enumerate(zip(ours, theirs), 1):
        for i, (a, b) in enumerate(zip(mine, ref)):
            np.testing.assert_allclose(
                a, b, rtol=1e-9, atol=1e-11, err_msg=f"{name}: order {order}, input {i}"
            )


def test_gradgradcheck_pad_gather_einsum():
    """Second derivatives against finite differences (independent of PyTorch)."""
    x = lucid.tensor(_rand(1, 2, 4), dtype="float64", requires_grad=True)
    assert gradgradcheck(lambda t: LF.pad(t, (2, 1), mode="reflect").sin(), x)
    idx = lucid.tensor(IDX)
    y = lucid.tensor(_rand(3, 4), dtype="float64", requires_grad=True)
    assert gradgradcheck(lambda t: lucid.gather(t, 0, idx).tanh(), y)
    a = lucid.tensor(_rand(2, 3), dtype="float64", requires_grad=True)
    b = lucid.tensor(_rand(3, 3), dtype="float64", requires_grad=True)
    assert gradgradcheck(lambda p, q: lucid.einsum("ij,jj->ij", p, q).sin(), (a, b))


def test_embedding_scaled_by_frequency_second_order():
    """scale_grad_by_freq (PyTorch's double backward ignores the scaling: checked against finite
    differences instead)."""
    w = lucid.tensor(_rand(5, 3), dtype="float64", requires_grad=True)
    ids = lucid.tensor(ROWS)
    assert gradgradcheck(lambda t: LF.embedding(ids, t, scale_grad_by_freq=True).sin(), w)


def test_third_order_of_a_linear_op_by_finite_differences():
    """The second derivative of sin(roll(x)) (adjoint of the gradient's backward) is itself
    differentiated: its gradient is checked against finite differences of it."""
    x = lucid.tensor(_rand(3, 4), dtype="float64", requires_grad=True)
    seed = lucid.tensor(RNG.uniform(0.5, 1.5, (3, 4)), dtype="float64")

    def first(t):
        (g,) = lucid.autograd.grad(
            (lucid.roll(t, (1, 2), (0, 1)).sin() * seed).sum(), [t], create_graph=True
        )
        return g

    assert gradgradcheck(first, x, grad_outputs=RNG.standard_normal((3, 4)))
