"""lucid.utils.checkpoint: the same values and gradients as the plain block (parameters and
inputs), dropout repeated identically in the recompute, and the block's activations not kept."""

import numpy as np
import pytest

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
from lucid.utils import checkpoint


def _block():
    return nn.Sequential(nn.Conv3d(2, 3, 3, padding=1), nn.ReLU(), nn.Conv3d(3, 2, 1))


@pytest.mark.parametrize("input_grad", [True, False])
def test_checkpointed_block_matches_the_plain_block(input_grad):
    lucid.random.seed(0)
    block, head = _block(), nn.Linear(2, 1)
    x0 = np.random.default_rng(1).standard_normal((2, 2, 3, 3, 3)).astype(np.float32)
    results = []
    for use in (False, True):
        block.zero_grad()
        head.zero_grad()
        x = lucid.tensor(x0, requires_grad=input_grad)
        h = checkpoint(block, x) if use else block(x)
        loss = head(h.mean(axis=(2, 3, 4))).sum()
        loss.backward()
        grads = [p.grad.numpy() for p in block.parameters()]
        results.append((h.numpy(), grads, x.grad.numpy() if input_grad else None))
    (h0, g0, x0g), (h1, g1, x1g) = results
    np.testing.assert_allclose(h1, h0, rtol=1e-5, atol=1e-6)
    for a, b in zip(g1, g0):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    if input_grad:
        np.testing.assert_allclose(x1g, x0g, rtol=1e-4, atol=1e-6)


def test_the_recompute_draws_the_forwards_dropout_mask():
    x0 = np.random.default_rng(4).uniform(1.0, 2.0, (4, 50)).astype(np.float32)
    x = lucid.tensor(x0, requires_grad=True)
    h = checkpoint(lambda t: F.dropout(t, 0.5), x)
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), h.numpy() / x0, rtol=1e-6)  # 2 * mask
    assert 0 < (h.numpy() == 0).mean() < 1


def test_gradcheck_through_a_checkpointed_function():
    w = lucid.tensor(
        np.random.default_rng(2).standard_normal((3, 3)), dtype="float64", requires_grad=True
    )

    def fn(x):
        return checkpoint(lambda t: F.softplus(t @ w), x)

    x = lucid.tensor(
        np.random.default_rng(3).standard_normal((2, 3)), dtype="float64", requires_grad=True
    )
    assert lucid.autograd.gradcheck(fn, [x])


def test_only_the_input_is_saved_and_bad_returns_are_named():
    block = _block()
    x = lucid.randn(1, 2, 3, 3, 3, requires_grad=True)
    out = checkpoint(block, x)
    assert out.grad_fn.name == "Checkpoint" and out.grad_fn.parents == (x,)
    with pytest.raises(TypeError, match="one Tensor"):
        checkpoint(lambda t: (t, t), x)
    with lucid.no_grad():
        assert checkpoint(block, x).grad_fn is None
