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


def _drop(t):
    return F.dropout(t, 0.5, training=True)


def _plain(fn, *args):
    return fn(*args)


def _nested(depth, wrap=checkpoint):
    """depth - 1 levels of ``wrap`` (checkpoint) inside one another, a dropout at every level
    (times 2 above the first, so a level's output differs from its input's)."""
    fn = _drop
    for _ in range(depth - 1):
        fn = (lambda inner: lambda t: _drop(wrap(inner, t)) * 2)(fn)
    return fn


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_nested_recomputes_draw_the_forwards_masks_at_every_level(depth):
    # out = x * (2 ** (depth - 1)) * prod(mask_i / 0.5): d sum(out) / dx = out / x exactly
    # when every recompute draws its level's forward mask (a fresh mask breaks ~half of them)
    lucid.random.seed(5)
    x0 = np.random.default_rng(6).uniform(1.0, 2.0, (8, 500)).astype(np.float32)
    x = lucid.tensor(x0, requires_grad=True)
    out = checkpoint(_nested(depth), x)
    out.sum().backward()
    h = out.numpy()
    np.testing.assert_allclose(x.grad.numpy(), h / x0, rtol=1e-6)
    assert 0 < (h == 0).mean() < 1


def test_the_issue_case_inner_checkpoint_times_two():
    lucid.random.seed(0)
    x0 = np.random.default_rng(7).uniform(1.0, 2.0, (4, 500)).astype(np.float32)
    x = lucid.tensor(x0, requires_grad=True)
    out = checkpoint(lambda t: checkpoint(_drop, t) * 2, x)
    out.sum().backward()
    mask = out.numpy() != 0
    np.testing.assert_array_equal(x.grad.numpy(), 2 * mask / 0.5)


def _block_with_dropout():
    lin1, lin2 = nn.Linear(6, 16), nn.Linear(16, 3)

    def f(t):
        return lin2(F.dropout(lin1(t).tanh(), 0.5)) * F.dropout(t[:, :3], 0.3)

    return f, [lin1, lin2]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_checkpoint_equals_the_plain_call_under_one_seed(seed):
    # PyTorch's preserve_rng_state: the forward draws from the ordinary generator, so the
    # checkpointed call gives the plain call's values, masks and gradients
    lucid.random.seed(100 + seed)
    f, mods = _block_with_dropout()
    x0 = np.random.default_rng(seed).standard_normal((5, 6)).astype(np.float32)
    results = []
    for use in (False, True):
        for m in mods:
            m.zero_grad()
        lucid.random.seed(seed)
        x = lucid.tensor(x0, requires_grad=True)
        out = checkpoint(f, x) if use else f(x)
        (out * out).sum().backward()
        grads = [p.grad.numpy() for m in mods for p in m.parameters()]
        results.append((out.numpy(), x.grad.numpy(), grads, lucid.rand(8).numpy()))
    (o0, xg0, g0, after0), (o1, xg1, g1, after1) = results
    np.testing.assert_array_equal(o1, o0)
    np.testing.assert_allclose(xg1, xg0, rtol=1e-6, atol=1e-7)
    for a, b in zip(g1, g0):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # the recompute draws from the saved key: the generator is where the plain step left it
    np.testing.assert_array_equal(after1, after0)


@pytest.mark.parametrize("block", ["nested", "two_dropouts"])
def test_draws_after_a_checkpointed_step_equal_the_plain_steps(block):
    # the forward draws what the plain forward draws, and the recompute draws from the saved
    # key without consuming the generator: later draws are the plain step's
    x0 = np.random.default_rng(8).uniform(1.0, 2.0, (3, 40)).astype(np.float32)
    draws = []
    for wrap in (_plain, checkpoint):
        fn = _nested(3, wrap) if block == "nested" else (lambda t: _drop(_drop(t)))
        lucid.random.seed(9)
        x = lucid.tensor(x0, requires_grad=True)
        out = wrap(fn, x)
        after_forward = lucid.randn(50).numpy()
        out.sum().backward()
        draws.append((after_forward, lucid.randn(50).numpy()))
    for a, b in zip(draws[1], draws[0]):
        np.testing.assert_array_equal(a, b)


def test_without_preserve_rng_state_the_recompute_draws_afresh():
    # PyTorch's preserve_rng_state=False: the recompute draws from the live generator, so its
    # mask is a new one (and the forward still draws what the plain call draws)
    x0 = np.ones((4, 500), np.float32)
    lucid.random.seed(10)
    plain = _drop(lucid.tensor(x0)).numpy()
    lucid.random.seed(10)
    x = lucid.tensor(x0, requires_grad=True)
    out = checkpoint(_drop, x, preserve_rng_state=False)
    np.testing.assert_array_equal(out.numpy(), plain)
    out.sum().backward()
    g = x.grad.numpy()
    assert set(np.unique(g)) == {0.0, 2.0}
    assert 0.3 < ((g != 0) != (plain != 0)).mean() < 0.7  # an independent mask


def test_a_compiled_step_recomputes_the_traced_masks():
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            x0 = np.random.default_rng(11).uniform(1.0, 2.0, (4, 300)).astype(np.float32)
            self.w = nn.Parameter(lucid.tensor(x0))

    holder = Holder()
    fn3 = _nested(3)

    def step():
        holder.zero_grad()
        out = checkpoint(lambda t: checkpoint(fn3, t) * 2, holder.w)
        out.sum().backward()
        return out

    compiled = lucid.compile(step, state=[holder])
    outs = []
    for _ in range(3):  # call 1 runs eagerly, call 2 traces, call 3 runs the compiled graph
        out = compiled().numpy()
        np.testing.assert_allclose(holder.w.grad.numpy(), out / holder.w.numpy(), rtol=1e-6)
        assert 0 < (out == 0).mean() < 1
        outs.append(out)
    assert not np.array_equal(outs[1], outs[2])  # a fresh key per call
