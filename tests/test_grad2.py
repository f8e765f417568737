"""Higher-order gradients (``create_graph=True``): the engine's contract, convolutions and pooling
by finite differences (``gradgradcheck``), and whole programs -- a gradient penalty, a
Hessian-vector product, a MAML-style inner step -- against numpy and PyTorch in float64. The
per-op second-derivative cases against PyTorch are in tests/parity (``test_op_second_order``)."""

import numpy as np
import pytest

import lucid
import lucid.nn.functional as F
from lucid import nn
from lucid.autograd import Function, grad, gradgradcheck, once_differentiable
from lucid.utils.checkpoint import checkpoint

RNG = np.random.default_rng(20261206)


def t64(*shape, grad=True, low=-1.0, high=1.0):
    return lucid.tensor(RNG.uniform(low, high, shape), dtype="float64", requires_grad=grad)


# --- the engine --------------------------------------------------------------------------------
def test_third_derivative_of_a_power():
    x = lucid.tensor([1.0, 2.0, -3.0], dtype="float64", requires_grad=True)
    (g1,) = grad((x**4).sum(), x, create_graph=True)
    (g2,) = grad(g1.sum(), x, create_graph=True)
    (g3,) = grad(g2.sum(), x)
    xs = np.array([1.0, 2.0, -3.0])
    np.testing.assert_allclose(g1.detach().numpy(), 4 * xs**3)
    np.testing.assert_allclose(g2.detach().numpy(), 12 * xs**2)
    np.testing.assert_allclose(g3.numpy(), 24 * xs)


def test_linear_gradients_differentiate_to_any_order():
    # reshape/permute/sum/mean record their gradient with its adjoint: every order is exact
    x = t64(2, 3, 4)
    y = (x.reshape(6, 4).permute(1, 0) * x.reshape(4, 6)).mean()
    (g1,) = grad(y, x, create_graph=True)
    (g2,) = grad((g1 * g1).sum(), x, create_graph=True)
    (g3,) = grad(g2.sum(), x)
    a = x.detach().numpy()

    def first(a):  # d/dx mean(P(x) * Q(x)), P = reshape-then-transpose, Q = reshape
        p, q = a.reshape(6, 4).T, a.reshape(4, 6)
        return (q.T.reshape(2, 3, 4) + p.reshape(2, 3, 4)) / 24

    np.testing.assert_allclose(g1.detach().numpy(), first(a), rtol=1e-12)
    eps, e = 1e-6, np.zeros(24)
    numeric = []
    for i in range(24):  # g2 = d/dx sum(first(x)^2)
        e[:] = 0
        e[i] = eps
        plus = (first(a + e.reshape(a.shape)) ** 2).sum()
        minus = (first(a - e.reshape(a.shape)) ** 2).sum()
        numeric.append((plus - minus) / (2 * eps))
    np.testing.assert_allclose(g2.detach().numpy().ravel(), numeric, rtol=1e-6, atol=1e-9)
    # g1 = H x (H: the Hessian, constant), g2 = 2 H^T H x, so g3 = d sum(g2) / dx = 2 H^T H 1
    hess = np.stack([first(col.reshape(a.shape)).ravel() for col in np.eye(24)], axis=1)
    expected = 2 * hess.T @ hess @ np.ones(24)
    np.testing.assert_allclose(g3.numpy().ravel(), expected, rtol=1e-10)


def test_hessian_vector_product_against_numpy():
    x0, v0 = RNG.uniform(-1, 1, 7), RNG.uniform(-1, 1, 7)
    x = lucid.tensor(x0, dtype="float64", requires_grad=True)
    (g,) = grad((x.sin() * x**3).sum(), x, create_graph=True)
    (hv,) = grad((g * lucid.tensor(v0, dtype="float64")).sum(), x)
    # d2/dx2 (x^3 sin x) = 6x sin x + 6x^2 cos x - x^3 sin x (a diagonal Hessian)
    h = 6 * x0 * np.sin(x0) + 6 * x0**2 * np.cos(x0) - x0**3 * np.sin(x0)
    np.testing.assert_allclose(hv.numpy(), h * v0, rtol=1e-12)


def test_backward_create_graph_accumulates_a_differentiable_grad():
    x = t64(4)
    (x**3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    first = x.grad
    x.grad = None
    first.sum().backward()  # retain_graph defaulted to True with create_graph
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.detach().numpy(), rtol=1e-12)


def test_backward_inputs_accumulates_only_there():
    x, y = t64(3), t64(3)
    (x * y).sum().backward(inputs=[x])
    assert y.grad is None
    np.testing.assert_allclose(x.grad.numpy(), y.detach().numpy())
    with pytest.raises(RuntimeError, match="inputs\\[0\\]"):
        (x * y).sum().backward(inputs=[lucid.ones(3)])


def test_hooks_see_recorded_gradients():
    torch = pytest.importorskip("torch")
    x0 = RNG.uniform(-1, 1, 3)
    results = []
    for make, grad_fn in (
        (lambda: lucid.tensor(x0, dtype="float64", requires_grad=True), grad),
        (lambda: torch.tensor(x0, requires_grad=True), torch.autograd.grad),
    ):
        x, seen = make(), []
        y = x * x
        y.register_hook(lambda g, seen=seen: seen.append(g.requires_grad) or g * 2)
        (g,) = grad_fn(y.sum() * x.sum(), x, create_graph=True)
        (gg,) = grad_fn(g.sum(), x)
        results.append((seen, g.detach().numpy(), gg.detach().numpy()))
    (l_seen, lg, lgg), (t_seen, tg, tgg) = results
    assert l_seen == t_seen  # the hook sees a recorded gradient, in both backward passes
    np.testing.assert_allclose(lg, tg, rtol=1e-12)
    np.testing.assert_allclose(lgg, tgg, rtol=1e-12)


def test_a_function_backward_is_recorded_and_once_differentiable_refuses():
    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x * x

    class CubeOnce(Cube):
        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x * x

    x = t64(5)
    (g,) = grad(Cube.apply(x).sum(), x, create_graph=True)
    (gg,) = grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), 6 * x.detach().numpy(), rtol=1e-12)
    (g,) = grad(CubeOnce.apply(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()


def test_an_op_without_a_rule_says_so():
    model = nn.Linear(3, 2).to(lucid.float64)
    compiled = lucid.compile(model)
    x = t64(4, 3)
    out = compiled(x)
    with pytest.raises(NotImplementedError, match="create_graph=True: the gradient of"):
        grad(out.sum(), x, create_graph=True)


# --- convolutions and pooling by finite differences ------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {"stride": 1, "padding": 1},
        {"stride": 2, "padding": 0, "dilation": 1},
        {"stride": 1, "padding": 2, "dilation": 2, "groups": 2},
    ],
)
def test_conv3d_second_derivatives(kwargs):
    x, w, b = t64(1, 2, 4, 4, 3), t64(2, 2 // kwargs.get("groups", 1), 2, 2, 2), t64(2)
    assert gradgradcheck(lambda x, w, b: F.conv3d(x, w, b, **kwargs), (x, w, b), atol=1e-6)


def test_conv_transpose3d_second_derivatives_with_output_padding():
    x, w = t64(1, 2, 3, 2, 3), t64(2, 1, 2, 2, 2)
    fn = lambda x, w: F.conv_transpose3d(x, w, stride=2, output_padding=1, groups=2)  # noqa: E731
    assert gradgradcheck(fn, (x, w), atol=1e-6)


def test_pooling_second_derivatives():
    x = lucid.tensor(RNG.permutation(96).reshape(1, 2, 4, 4, 3) / 10.0, requires_grad=True)
    x = x.to(lucid.float64).detach().requires_grad_(True)
    # max pooling's gradient is a mask (zero second derivative), but its recorded gradient must
    # still route the gradient-of-gradient through the selected elements
    fn = lambda x: F.max_pool3d(x, 2, stride=1, padding=1) ** 2  # noqa: E731
    assert gradgradcheck(fn, (x,), atol=1e-6)
    fn = lambda x: F.avg_pool3d(x, 3, stride=2, padding=1, count_include_pad=False) ** 3  # noqa: E731
    assert gradgradcheck(fn, (x,), atol=1e-6)


# --- whole programs against PyTorch --------------------------------------------------------------
def _pair(torch):
    """The same small 3D network in both frameworks, float64."""
    t_net = torch.nn.Sequential(
        torch.nn.Conv3d(2, 4, 3, padding=1),
        torch.nn.Tanh(),
        torch.nn.MaxPool3d(2),
        torch.nn.ConvTranspose3d(4, 3, 2, stride=2),
        torch.nn.Softplus(),
        torch.nn.AvgPool3d(2),
    ).double()
    l_net = nn.Sequential(
        nn.Conv3d(2, 4, 3, padding=1),
        nn.Tanh(),
        nn.MaxPool3d(2),
        nn.ConvTranspose3d(4, 3, 2, stride=2),
        nn.Softplus(),
        nn.AvgPool3d(2),
    ).to(lucid.float64)
    l_net.load_state_dict(
        {
            k: lucid.tensor(v.detach().numpy(), dtype="float64")
            for k, v in t_net.state_dict().items()
        }
    )
    return t_net, l_net


@pytest.mark.parametrize("checkpointed", [False, True])
def test_gradient_penalty_against_pytorch(checkpointed):
    torch = pytest.importorskip("torch")
    t_net, l_net = _pair(torch)
    x0 = RNG.standard_normal((2, 2, 4, 4, 4))
    x = lucid.tensor(x0, dtype="float64", requires_grad=True)
    out = checkpoint(l_net, x) if checkpointed else l_net(x)
    (gx,) = grad(out.sum(), x, create_graph=True)
    penalty = ((gx * gx).sum(dim=(1, 2, 3, 4)).sqrt() - 1) ** 2
    for p in l_net.parameters():
        p.grad = None
    penalty.mean().backward()
    tx = torch.tensor(x0, requires_grad=True)
    (tgx,) = torch.autograd.grad(t_net(tx).sum(), tx, create_graph=True)
    tpen = ((tgx * tgx).sum(dim=(1, 2, 3, 4)).sqrt() - 1) ** 2
    tpen.mean().backward()
    np.testing.assert_allclose(penalty.detach().numpy(), tpen.detach().numpy(), rtol=1e-10)
    for (name, p), tp in zip(l_net.named_parameters(), t_net.parameters()):
        np.testing.assert_allclose(
            p.grad.numpy(), tp.grad.numpy(), rtol=1e-8, atol=1e-12, err_msg=name
        )
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_maml_inner_step_against_pytorch():
    torch = pytest.importorskip("torch")
    w0, xs, xq = (RNG.standard_normal(s) for s in ((3, 2, 3, 3), (2, 2, 5, 5), (2, 2, 5, 5)))
    lr = 0.1

    def lucid_meta(w):
        inner = (F.conv2d(lucid.tensor(xs), w, padding=1).tanh() ** 2).mean()
        (gw,) = grad(inner, w, create_graph=True)
        fast = w - lr * gw
        return (F.conv2d(lucid.tensor(xq), fast, padding=1).sigmoid() ** 2).mean()

    def torch_meta(w):
        tf = torch.nn.functional
        inner = (tf.conv2d(torch.tensor(xs), w, padding=1).tanh() ** 2).mean()
        (gw,) = torch.autograd.grad(inner, w, create_graph=True)
        fast = w - lr * gw
        return (tf.conv2d(torch.tensor(xq), fast, padding=1).sigmoid() ** 2).mean()

    w = lucid.tensor(w0, dtype="float64", requires_grad=True)
    tw = torch.tensor(w0, requires_grad=True)
    lm, tm = lucid_meta(w), torch_meta(tw)
    lm.backward()
    tm.backward()
    np.testing.assert_allclose(lm.item(), tm.item(), rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-9, atol=1e-13)


def test_a_compiled_step_with_a_gradient_penalty_equals_the_eager_one():
    def make():
        lucid.manual_seed(0)
        net = nn.Sequential(
            nn.Conv3d(1, 4, 3, padding=1),
            nn.Tanh(),
            nn.AvgPool3d(2),
            nn.Flatten(),
            nn.Linear(32, 1),
        )
        return net, lucid.optim.SGD(net.parameters(), lr=0.05)

    def step(net, opt, x):
        x = x.detach().requires_grad_(True)
        out = net(x)
        (g,) = grad(out.sum(), x, create_graph=True)
        loss = out.mean() + ((g * g).sum() - 1) ** 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    eager_net, eager_opt = make()
    net, opt = make()
    compiled = lucid.compile(lambda x: step(net, opt, x))
    for _ in range(4):
        x = lucid.randn(2, 1, 4, 4, 4)
        np.testing.assert_allclose(
            compiled(x).item(), step(eager_net, eager_opt, x).item(), rtol=1e-5
        )
    assert compiled.traces == 1
    for p, q in zip(net.parameters(), eager_net.parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-5, atol=1e-6)
