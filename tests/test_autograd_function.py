"""lucid.autograd.Function: PyTorch's contract (forward/backward static methods, ctx saving with
in-place checks, needs_input_grad, mark_non_differentiable, mark_dirty, set_materialize_grads,
once_differentiable), values and gradients against numpy float64 and finite differences, under
lucid.compile and autocast (custom_fwd/custom_bwd), and against the same Function in PyTorch."""

import numpy as np
import pytest

import lucid
import lucid.nn.functional as F
from lucid import nn
from lucid.autograd import Function, once_differentiable


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y


class ScaledSinCos(Function):
    """Two outputs and a non-Tensor argument."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x.sin() * scale, x.cos()

    @staticmethod
    def backward(ctx, g_sin, g_cos):
        (x,) = ctx.saved_tensors
        return g_sin * x.cos() * ctx.scale - g_cos * x.sin(), None


def _x(*shape, seed=0, dtype=np.float64):
    return lucid.tensor(
        np.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=True
    )


def test_values_and_gradients_against_numpy():
    x = _x(3, 4)
    y = Exp.apply(x)
    np.testing.assert_allclose(y.numpy(), np.exp(x.numpy()), rtol=1e-12)
    (y * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.exp(x.numpy()), rtol=1e-12)
    assert type(y.grad_fn).__name__ == "Node" and "Exp" in repr(y.grad_fn)


def test_gradcheck_of_a_two_output_function():
    x = _x(5)
    assert lucid.autograd.gradcheck(lambda t: ScaledSinCos.apply(t, 2.5)[0] * 1.0, (x,))
    assert lucid.autograd.gradcheck(
        lambda t: sum(o.sum() for o in ScaledSinCos.apply(t, 2.5)), (x,)
    )


def test_both_outputs_used_give_the_summed_gradient_and_one_output_alone_works():
    x = _x(4)
    s, c = ScaledSinCos.apply(x, 2.0)
    (s * 2 + c * 3).sum().backward()
    xv = x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), 4 * np.cos(xv) - 3 * np.sin(xv), rtol=1e-12)
    x2 = _x(4)
    _, c = ScaledSinCos.apply(x2, 2.0)
    c.sum().backward()
    np.testing.assert_allclose(x2.grad.numpy(), -np.sin(xv), rtol=1e-12)


def test_set_materialize_grads_false_gives_none_for_unused_outputs():
    seen = []

    class Two(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            seen.append((ga is None, gb is None))
            return (ga * 2 if ga is not None else 0) + (gb * 3 if gb is not None else 0)

    x = _x(3)
    a, _ = Two.apply(x)
    a.sum().backward()
    assert seen == [(False, True)]
    np.testing.assert_allclose(x.grad.numpy(), 2.0)


def test_needs_input_grad_and_non_tensor_arguments():
    seen = {}

    class Mul(Function):
        @staticmethod
        def forward(ctx, a, b, k):
            seen["needs"] = ctx.needs_input_grad
            ctx.save_for_backward(a, b)
            return a * b * k

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            return g * b * 2, (g * a * 2 if ctx.needs_input_grad[1] else None), None

    a, b = _x(3, seed=1), lucid.tensor(np.ones(3))
    Mul.apply(a, b, 2).sum().backward()
    assert seen["needs"] == (True, False, False)
    np.testing.assert_allclose(a.grad.numpy(), 2.0)
    assert b.grad is None


def test_mark_non_differentiable_outputs_get_no_gradient():
    class SortWithIndex(Function):
        @staticmethod
        def forward(ctx, x):
            values, idx = x.sort()
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(idx)
            return values, idx

        @staticmethod
        def backward(ctx, g, g_idx):
            (idx,) = ctx.saved_tensors
            out = lucid.zeros_like(g)
            out[idx] = g
            return out

    x = _x(5)
    values, idx = SortWithIndex.apply(x)
    assert not idx.requires_grad and values.requires_grad
    (values * lucid.arange(5, dtype=lucid.float64)).sum().backward()
    expected = np.empty(5)
    expected[np.argsort(x.numpy())] = np.arange(5)
    np.testing.assert_allclose(x.grad.numpy(), expected)


def test_a_saved_tensor_changed_in_place_raises_at_backward():
    x = _x(3)
    h = x * 1.0
    y = Exp.apply(h)
    y.add_(1)  # y is saved by Exp's forward
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_mark_dirty_in_place_function():
    class MulInPlace(Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(3)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 3

    x = _x(4)
    h = x * 2.0  # a non-leaf, modified in place
    out = MulInPlace.apply(h)
    assert out is h and h.requires_grad
    np.testing.assert_allclose(h.numpy(), 6 * x.numpy())
    (h * h).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * 6 * x.numpy() * 6, rtol=1e-12)
    leaf = _x(2)
    with pytest.raises(RuntimeError, match="leaf that requires grad"):
        MulInPlace.apply(leaf)


def test_wrong_gradients_are_refused_by_name():
    class TooMany(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g, g

    class BadShape(Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, g):
            return lucid.ones(7, dtype=lucid.float64)

    with pytest.raises(RuntimeError, match=r"returned 2 gradient\(s\); expected 1"):
        TooMany.apply(_x(3)).sum().backward()
    with pytest.raises(ValueError, match=r"shape \(7,\) for argument 0 of shape \(3,\)"):
        BadShape.apply(_x(3)).backward()
    with pytest.raises(TypeError, match="staticmethod"):

        class NotStatic(Function):
            def forward(ctx, x):  # noqa: N805
                return x


def test_no_recording_without_grad_and_once_differentiable():
    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = _x(3)
    with lucid.no_grad():
        assert not Square.apply(x).requires_grad
    Square.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy())


class _StraightThroughClamp(Function):
    @staticmethod
    def forward(ctx, x):
        return x.clamp(-1, 1)

    @staticmethod
    def backward(ctx, g):
        return g


def test_a_custom_function_in_a_compiled_step_equals_the_eager_step():
    def run(compiled):
        lucid.random.seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
        opt = lucid.optim.Adam(model.parameters(), lr=1e-2)

        def step(x, y):
            opt.zero_grad()
            h = _StraightThroughClamp.apply(model(x) * 3)
            loss = F.cross_entropy(Exp.apply(h * 0.1), y)
            loss.backward()
            opt.step()
            return loss

        fn = lucid.compile(step) if compiled else step
        rng = np.random.default_rng(1)
        out = []
        for _ in range(4):
            x = lucid.tensor(rng.standard_normal((5, 4)).astype(np.float32))
            out.append(fn(x, lucid.tensor([0, 1, 2, 0, 1])).item())
        return out, fn

    eager, _ = run(False)
    got, fn = run(True)
    np.testing.assert_allclose(got, eager, rtol=1e-5, atol=1e-6)
    assert fn.traces == 1


def test_custom_fwd_casts_inputs_and_custom_bwd_runs_in_the_forwards_state():
    seen = {}

    class Float32Mm(Function):
        @staticmethod
        @lucid.amp.custom_fwd(device_type="cpu", cast_inputs=lucid.float32)
        def forward(ctx, a, b):
            seen["fwd"] = (a.dtype, b.dtype, lucid.amp.is_autocast_enabled("cpu"))
            ctx.save_for_backward(a, b)
            return a @ b

        @staticmethod
        @lucid.amp.custom_bwd(device_type="cpu")
        def backward(ctx, g):
            seen["bwd"] = lucid.amp.is_autocast_enabled("cpu")
            a, b = ctx.saved_tensors
            return g @ b.T, a.T @ g

    a = lucid.randn(3, 4, requires_grad=True)
    b = lucid.randn(4, 2, requires_grad=True)
    with lucid.amp.autocast("cpu", dtype=lucid.bfloat16):
        out = Float32Mm.apply(a.to(lucid.bfloat16), b)
        plain = a @ b
    assert seen["fwd"] == (lucid.float32, lucid.float32, False)
    assert out.dtype == lucid.float32 and plain.dtype == lucid.bfloat16
    out.sum().backward()
    assert seen["bwd"] is False
    np.testing.assert_allclose(b.grad.numpy(), a.numpy().T @ np.ones((3, 2)), rtol=1e-2)


def test_matches_the_same_function_in_pytorch():
    torch = pytest.importorskip("torch")

    class TorchSmoothAbs(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, eps):
            ctx.save_for_backward(x)
            ctx.eps = eps
            return (x * x + eps).sqrt()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x / (x * x + ctx.eps).sqrt(), None

    class SmoothAbs(Function):
        @staticmethod
        def forward(ctx, x, eps):
            ctx.save_for_backward(x)
            ctx.eps = eps
            return (x * x + eps).sqrt()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x / (x * x + ctx.eps).sqrt(), None

    data = np.random.default_rng(3).standard_normal((4, 5))
    x = lucid.tensor(data, requires_grad=True)
    tx = torch.tensor(data, requires_grad=True)
    w = np.random.default_rng(4).standard_normal((4, 5))
    (SmoothAbs.apply(x, 0.1) * lucid.tensor(w)).sum().backward()
    (TorchSmoothAbs.apply(tx, 0.1) * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_autograd_grad_matches_backward_and_leaves_grad_alone():
    x, w = _x(3, 4, seed=5), _x(4, seed=6)
    h = (x * w).tanh()
    out = (h * h).sum()
    gx, gw = lucid.autograd.grad(out, [x, w], retain_graph=True)
    assert x.grad is None and w.grad is None
    out.backward()
    np.testing.assert_allclose(gx.numpy(), x.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(gw.numpy(), w.grad.numpy(), rtol=1e-12)
    # a non-leaf input, several outputs with seeds, against numpy
    a = _x(5, seed=7)
    b = a * 2.0
    (gb,) = lucid.autograd.grad(
        [b.sin(), b * 3],
        b,
        grad_outputs=[lucid.ones(5, dtype=lucid.float64), lucid.ones(5, dtype=lucid.float64) * 2],
    )
    np.testing.assert_allclose(gb.numpy(), np.cos(2 * a.numpy()) + 6, rtol=1e-12)


def test_autograd_grad_refuses_what_pytorch_refuses():
    x, unused = _x(3), _x(2)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="not used"):
        lucid.autograd.grad(y, [x, unused], retain_graph=True)
    gx, gu = lucid.autograd.grad(y, [x, unused], allow_unused=True, retain_graph=True)
    assert gu is None and np.allclose(gx.numpy(), 2)
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        lucid.autograd.grad(x * 2, x)
    (g,) = lucid.autograd.grad(y, x, create_graph=True)  # higher order: tests/test_grad2.py
    assert np.allclose(g.numpy(), 2) and not g.requires_grad  # linear: as PyTorch, no graph
