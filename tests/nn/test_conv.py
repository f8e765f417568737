"""Conv layers: the reference page's examples (in the consistent reading of ERRATA.md), layer
configuration, initialisation, repr, and clear errors for bad input."""

import importlib.util
import math
import pathlib

import numpy as np
import pytest

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
from tests import reference as ref


def test_page_example_1_no_bias():
    # ERRATA 1: one input channel; 204 = 1^2 + ... + 8^2, dy/dx = W, dy/dW = x
    conv3d = nn.Conv3d(in_channels=1, out_channels=1, kernel_size=2, bias=False)
    conv3d.weight.data = lucid.arange(1, 9, dtype="float32").reshape(1, 1, 2, 2, 2)
    x = lucid.tensor(np.arange(1, 9, dtype=np.float32).reshape(1, 1, 2, 2, 2), requires_grad=True)
    out = conv3d(x)
    assert out.shape == (1, 1, 1, 1, 1)
    assert repr(out) == "Tensor([[[[[204.0]]]]], grad=None)"
    out.backward()
    np.testing.assert_array_equal(x.grad.numpy(), conv3d.weight.numpy())
    np.testing.assert_array_equal(conv3d.weight.grad.numpy(), x.numpy())


def test_page_example_1_with_two_channels_gives_1496():
    conv3d = nn.Conv3d(2, 1, 2, bias=False)
    conv3d.weight.data = np.tile(
        np.arange(1, 9, dtype=np.float32).reshape(1, 1, 2, 2, 2), (1, 2, 1, 1, 1)
    )
    x = lucid.tensor(
        np.tile(np.arange(1, 9, dtype=np.float32).reshape(1, 1, 2, 2, 2), (1, 2, 1, 1, 1))
    )
    assert conv3d(x).item() == 408.0  # two channels of 1..8: 2 * 204
    conv3d.weight.data = np.arange(1, 17, dtype=np.float32).reshape(1, 2, 2, 2, 2)
    x = lucid.tensor(np.arange(1, 17, dtype=np.float32).reshape(1, 2, 2, 2, 2))
    assert conv3d(x).item() == 1496.0  # ERRATA 1: two channels of 1..16 (1^2 + ... + 16^2)


def test_page_example_2_batch_with_bias():
    x_np = np.arange(1, 109, dtype=np.float64).reshape(2, 2, 3, 3, 3)  # ERRATA 2: (2, 2, 3, 3, 3)
    w_np = np.arange(1, 33, dtype=np.float64).reshape(2, 2, 2, 2, 2)
    conv3d = nn.Conv3d(in_channels=2, out_channels=2, kernel_size=2, bias=True)
    conv3d.weight.data = w_np.astype(np.float32)
    conv3d.bias.data = np.array([17.0, 18.0], dtype=np.float32)
    x = lucid.tensor(x_np.astype(np.float32), requires_grad=True)
    out = conv3d(x)
    assert out.shape == (2, 2, 2, 2, 2)
    expected = ref.conv_forward(x_np, w_np, (1, 1, 1), ((0, 0),) * 3, (1, 1, 1), 1)
    np.testing.assert_allclose(
        out.numpy(), expected + np.array([17, 18]).reshape(1, 2, 1, 1, 1), rtol=1e-6
    )
    out.backward()
    ones = np.ones(expected.shape)
    np.testing.assert_allclose(
        x.grad.numpy(),
        ref.conv_input_grad(ones, w_np, (3, 3, 3), (1, 1, 1), ((0, 0),) * 3, (1, 1, 1), 1),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        conv3d.weight.grad.numpy(),
        ref.conv_weight_grad(x_np, ones, (2, 2, 2), (1, 1, 1), ((0, 0),) * 3, (1, 1, 1), 1),
        rtol=1e-6,
    )
    np.testing.assert_array_equal(conv3d.bias.grad.numpy(), [16.0, 16.0])


def _page_model():
    """The page's Conv3dModel, exactly as examples/conv3d_reference.py (its one copy) holds it."""
    path = pathlib.Path(__file__).resolve().parents[2] / "examples" / "conv3d_reference.py"
    spec = importlib.util.spec_from_file_location("conv3d_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Conv3dModel


Conv3dModel = _page_model()


def test_page_example_3_model_on_10_cubed():
    lucid.random.seed(0)
    model = Conv3dModel()
    x = lucid.randn(1, 1, 10, 10, 10, requires_grad=True)
    out = model(x)
    assert out.shape == (1, 10)
    out.backward()
    assert x.grad.shape == x.shape
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
    with pytest.raises(ValueError):  # the page's printed 3x3x3 input cannot pass the pool
        model(lucid.randn(1, 1, 3, 3, 3))


def test_layer_shapes_init_and_repr():
    lucid.random.seed(1)
    conv = nn.Conv3d(4, 8, (3, 2, 1), groups=2)
    assert conv.weight.shape == (8, 2, 3, 2, 1) and conv.bias.shape == (8,)
    bound = 1 / math.sqrt(2 * 3 * 2 * 1)
    for p in (conv.weight, conv.bias):
        v = p.numpy()
        assert v.min() >= -bound and v.max() <= bound and v.std() > bound / 4
    assert repr(nn.Conv3d(2, 4, 3)) == "Conv3d(2, 4, kernel_size=(3, 3, 3), stride=(1, 1, 1))"
    assert "bias=False" in repr(nn.Conv2d(2, 4, 3, bias=False))
    assert nn.Conv3d(2, 4, 3, bias=False).bias is None
    t = nn.ConvTranspose3d(4, 6, 2, groups=2)
    assert t.weight.shape == (4, 3, 2, 2, 2) and t.bias.shape == (6,)
    assert len(list(nn.Conv1d(1, 1, 1).parameters())) == 2


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_same_padding_keeps_size_for_every_kernel(n, k):
    conv = nn.__dict__[f"Conv{n}d"](2, 3, k, padding="same", dilation=2)
    x = lucid.randn(*((1, 2) + (7,) * n))
    assert conv(x).shape == (1, 3) + (7,) * n
    assert nn.__dict__[f"Conv{n}d"](2, 3, k, padding="valid")(x).shape == (1, 3) + (8 - k,) * n


def test_unbatched_input():
    conv = nn.Conv3d(2, 3, 2)
    x = lucid.randn(2, 4, 4, 4)
    y = conv(x)
    assert y.shape == (3, 3, 3, 3)
    np.testing.assert_allclose(y.numpy(), conv(x.unsqueeze(0)).numpy()[0], rtol=1e-6)
    t = nn.ConvTranspose2d(2, 3, 2, stride=2)
    assert t(lucid.randn(2, 4, 4)).shape == (3, 8, 8)


def test_transposed_conv_is_the_adjoint_of_conv():
    # <conv(x), y> == <x, conv_transpose(y)> with the same weight
    rng = np.random.default_rng(0)
    x = lucid.tensor(rng.standard_normal((2, 3, 7, 6, 5)), dtype="float64")
    w = lucid.tensor(rng.standard_normal((4, 3, 3, 2, 3)), dtype="float64")
    y = F.conv3d(x, w, stride=2, padding=1, dilation=(1, 2, 1))
    r = lucid.tensor(rng.standard_normal(y.shape), dtype="float64")
    back = F.conv_transpose3d(
        r, w, stride=2, padding=1, dilation=(1, 2, 1), output_padding=(0, 1, 0)
    )
    assert back.shape == x.shape
    assert math.isclose((y * r).sum().item(), (x * back).sum().item(), rel_tol=1e-10)


@pytest.mark.parametrize(
    "build, x_shape, message",
    [
        (lambda: nn.Conv3d(2, 4, 3), (1, 3, 5, 5, 5), "expected input with 2 channels, got 3"),
        (lambda: nn.Conv3d(2, 4, 3), (2, 5, 5), "expects a 5-D input"),
        (lambda: nn.Conv3d(2, 4, 3), (1, 2, 5, 5, 5, 5), "expects a 5-D input"),
        (lambda: nn.Conv3d(2, 4, 3), (1, 2, 5, 2, 5), "larger than the padded input"),
        (lambda: nn.Conv2d(2, 4, 5, padding=1, dilation=2), (1, 2, 6, 6), "larger than the padded"),
    ],
)
def test_bad_input_errors(build, x_shape, message):
    with pytest.raises(ValueError, match=message):
        build()(lucid.zeros(*x_shape))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(in_channels=0, out_channels=4, kernel_size=3), "in_channels must be a positive int"),
        (
            dict(in_channels=2, out_channels=-1, kernel_size=3),
            "out_channels must be a positive int",
        ),
        (dict(in_channels=2, out_channels=4, kernel_size=0), "kernel_size must be >= 1"),
        (dict(in_channels=2, out_channels=4, kernel_size=3, stride=0), "stride must be >= 1"),
        (
            dict(in_channels=2, out_channels=4, kernel_size=3, dilation=(1, 0, 1)),
            "dilation must be >= 1",
        ),
        (dict(in_channels=2, out_channels=4, kernel_size=3, padding=-1), "padding must be >= 0"),
        (dict(in_channels=3, out_channels=4, kernel_size=3, groups=2), "groups=2 must divide both"),
        (dict(in_channels=4, out_channels=6, kernel_size=3, groups=4), "groups=4 must divide both"),
        (
            dict(in_channels=2, out_channels=4, kernel_size=3, padding="full"),
            "padding must be 'same'",
        ),
        (dict(in_channels=2, out_channels=4, kernel_size=3, padding="same", stride=2), "stride 1"),
        (dict(in_channels=2, out_channels=4, kernel_size=(3, 3)), "kernel_size must have 3 values"),
        (
            dict(in_channels=2, out_channels=4, kernel_size=3, stride=(1, 1, 1, 1)),
            "stride must have 3",
        ),
        (dict(in_channels=2, out_channels=4, kernel_size=3, padding=(1, 1)), "padding must have 3"),
    ],
)
def test_bad_configuration_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.Conv3d(**kwargs)


def test_type_errors():
    with pytest.raises(TypeError, match="kernel_size must be an int or a tuple"):
        nn.Conv3d(2, 4, 2.5)
    with pytest.raises(TypeError, match="must be a lucid.Tensor"):
        nn.Conv3d(2, 4, 3)(np.zeros((1, 2, 5, 5, 5), dtype=np.float32))
    with pytest.raises(TypeError, match="input must be floating point"):
        nn.Conv3d(2, 4, 3)(lucid.zeros(1, 2, 5, 5, 5, dtype="int32"))
    with pytest.raises(TypeError, match="has dtype"):
        nn.Conv3d(2, 4, 3)(lucid.zeros(1, 2, 5, 5, 5, dtype="float16"))


def test_functional_errors():
    x = lucid.zeros(1, 4, 5, 5)
    with pytest.raises(ValueError, match="groups=3 must divide out_channels=4"):
        F.conv2d(x, lucid.zeros(4, 2, 3, 3), groups=3)
    with pytest.raises(ValueError, match="expected input with 6 channels, got 4"):
        F.conv2d(x, lucid.zeros(6, 2, 3, 3), groups=3)
    with pytest.raises(ValueError, match="bias must have shape"):
        F.conv2d(x, lucid.zeros(4, 4, 3, 3), lucid.zeros(3))
    with pytest.raises(ValueError, match="weight must be 4-D"):
        F.conv2d(x, lucid.zeros(4, 4, 3))
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(x, lucid.zeros(4, 2, 3, 3), stride=2, output_padding=2)


def test_page_model_trains_loss_falls():
    # a short training run of the page's Conv3dModel on 10x10x10 volumes: two classes told
    # apart by where the mass sits; the loss must fall clearly
    import lucid.nn.functional as F

    lucid.random.seed(0)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 16)
    vols = rng.normal(0, 0.3, (16, 1, 10, 10, 10)).astype(np.float32)
    for i, c in enumerate(labels):
        vols[i, 0, :5] += 1.0 if c == 0 else 0.0
        vols[i, 0, 5:] += 1.0 if c == 1 else 0.0
    x, y = lucid.tensor(vols), lucid.tensor(labels)
    model = Conv3dModel()
    opt = lucid.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
