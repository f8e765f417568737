"""Initialisers: sample statistics against the intended distributions, fans of conv-shaped
weights, gains, orthogonality, in-place semantics, seeding and bad input."""

import math

import numpy as np
import pytest

import lucid
import lucid.nn as nn
from lucid.nn import Parameter, init

CONV_SHAPE = (32, 16, 3, 3, 3)  # (out, in, kD, kH, kW): 13824 elements


def _param(shape=CONV_SHAPE, dtype="float32"):
    return Parameter(lucid.zeros(*shape, dtype=dtype))


def _close(value, target, rel):
    assert abs(value - target) <= rel * abs(target), f"{value} is not within {rel:.0%} of {target}"


def test_calculate_gain():
    assert init.calculate_gain("linear") == 1.0 and init.calculate_gain("conv3d") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_fans_of_linear_and_conv_weights():
    assert init.calculate_fan_in_and_fan_out(lucid.zeros(5, 3)) == (3, 5)
    assert init.calculate_fan_in_and_fan_out(lucid.zeros(*CONV_SHAPE)) == (16 * 27, 32 * 27)
    # grouped conv: the weight stores in_channels / groups, e.g. Conv3d(16, 32, 3, groups=4)
    assert init.calculate_fan_in_and_fan_out(lucid.zeros(32, 4, 3, 3, 3)) == (4 * 27, 32 * 27)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.calculate_fan_in_and_fan_out(lucid.zeros(4))


def test_uniform_and_normal_statistics():
    lucid.random.seed(0)
    w = _param()
    assert init.uniform_(w, -0.5, 1.5) is w
    v = w.numpy()
    assert v.min() >= -0.5 and v.max() < 1.5
    _close(v.mean(), 0.5, 0.03)
    _close(v.std(), 2 / math.sqrt(12), 0.03)
    init.normal_(w, mean=2.0, std=0.5)
    v = w.numpy()
    _close(v.mean(), 2.0, 0.01)
    _close(v.std(), 0.5, 0.03)
    assert w.requires_grad and w.is_leaf and w.dtype == lucid.float32


def test_constant_zeros_ones_keep_dtype():
    w = _param((3, 4), "float64")
    init.constant_(w, 0.25)
    assert w.dtype == lucid.float64 and np.all(w.numpy() == 0.25)
    assert np.all(init.zeros_(w).numpy() == 0) and np.all(init.ones_(w).numpy() == 1)
    counts = lucid.zeros(3, dtype="int64")
    assert init.constant_(counts, 2).tolist() == [2, 2, 2]


@pytest.mark.parametrize("gain", [1.0, 2.0])
def test_xavier(gain):
    lucid.random.seed(1)
    fan_in, fan_out = 16 * 27, 32 * 27
    std = gain * math.sqrt(2 / (fan_in + fan_out))
    w = init.xavier_uniform_(_param(), gain=gain).numpy()
    assert np.abs(w).max() <= std * math.sqrt(3) * (1 + 1e-6)
    _close(w.std(), std, 0.03)
    assert abs(w.mean()) < 0.03 * std
    w = init.xavier_normal_(_param(), gain=gain).numpy()
    _close(w.std(), std, 0.03)
    assert abs(w.mean()) < 0.03 * std


@pytest.mark.parametrize(
    "mode,a,nonlinearity",
    [
        ("fan_in", 0, "relu"),
        ("fan_out", 0, "relu"),
        ("fan_in", math.sqrt(5), "leaky_relu"),
        ("fan_out", 0.1, "leaky_relu"),
        ("fan_in", 0, "linear"),
    ],
)
def test_kaiming(mode, a, nonlinearity):
    lucid.random.seed(2)
    fan = 16 * 27 if mode == "fan_in" else 32 * 27
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    w = init.kaiming_uniform_(_param(), a=a, mode=mode, nonlinearity=nonlinearity).numpy()
    assert np.abs(w).max() <= std * math.sqrt(3) * (1 + 1e-6)
    assert np.abs(w).max() > 0.95 * std * math.sqrt(3)  # fills the whole interval
    _close(w.std(), std, 0.03)
    w = init.kaiming_normal_(_param(), a=a, mode=mode, nonlinearity=nonlinearity).numpy()
    _close(w.std(), std, 0.03)
    assert abs(w.mean()) < 0.03 * std


def test_kaiming_a_sqrt5_reproduces_the_linear_default_bound():
    # PyTorch's default layer init: kaiming_uniform_(a=sqrt(5)) gives U(-1/sqrt(fan_in), ...)
    lucid.random.seed(3)
    w = init.kaiming_uniform_(_param((64, 100)), a=math.sqrt(5)).numpy()
    assert np.abs(w).max() <= 0.1 * (1 + 1e-6) and np.abs(w).max() > 0.099


def _truncated_moments(mean, std, a, b):
    """Mean and standard deviation of N(mean, std^2) truncated to [a, b] (closed form)."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = lambda t: math.exp(-t * t / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda t: 0.5 * (1 + math.erf(t / math.sqrt(2)))  # noqa: E731
    z = cdf(beta) - cdf(alpha)
    m = (pdf(alpha) - pdf(beta)) / z
    var = 1 + (alpha * pdf(alpha) - beta * pdf(beta)) / z - m * m
    return mean + std * m, std * math.sqrt(var)


@pytest.mark.parametrize(
    "mean,std,a,b", [(0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -0.04, 0.04), (1.0, 2.0, 2.0, 5.0)]
)
def test_trunc_normal(mean, std, a, b):
    lucid.random.seed(4)
    w = init.trunc_normal_(_param(), mean=mean, std=std, a=a, b=b).numpy()
    assert w.min() >= a and w.max() <= b
    m, s = _truncated_moments(mean, std, a, b)
    assert abs(w.mean() - m) < 0.03 * s
    _close(w.std(), s, 0.03)
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(_param(), a=1.0, b=1.0)


@pytest.mark.parametrize("shape", [(6, 10), (10, 6), (8, 4, 3, 3, 3)])
def test_orthogonal(shape):
    lucid.random.seed(5)
    w = init.orthogonal_(_param(shape), gain=2.0).numpy().astype(np.float64)
    m = w.reshape(shape[0], -1) / 2.0
    small = min(m.shape)
    gram = m @ m.T if m.shape[0] == small else m.T @ m
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-5)


def test_initialisers_are_seeded_and_preserve_the_parameter():
    w = _param((4, 5))
    optimizer_reference = w
    lucid.random.seed(9)
    a = init.kaiming_normal_(w).numpy()
    lucid.random.seed(9)
    b = init.kaiming_normal_(w).numpy()
    np.testing.assert_array_equal(a, b)
    assert w is optimizer_reference and w.grad_fn is None and w.requires_grad
    assert not np.array_equal(a, init.kaiming_normal_(w).numpy())
    w64 = _param((4, 5), "float64")
    init.xavier_uniform_(w64)
    assert w64.dtype == lucid.float64
    layer = nn.Linear(4, 4)
    layer.apply(lambda m: init.zeros_(m.bias) if isinstance(m, nn.Linear) else None)
    assert np.all(layer.bias.numpy() == 0)


def test_bad_input():
    with pytest.raises(TypeError, match="floating"):
        init.normal_(lucid.zeros(3, 3, dtype="int32"))
    with pytest.raises(TypeError, match="Tensor"):
        init.uniform_(np.zeros(3))
    with pytest.raises(ValueError, match="fan_in"):
        init.kaiming_uniform_(_param((3, 3)), mode="fan_avg")
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_uniform_(_param((3,)))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.orthogonal_(_param((3,)))
    with pytest.raises(ValueError, match="std"):
        init.normal_(_param((3,)), std=-1.0)


# --- eye_, dirac_, sparse_ ---------------------------------------------------------------------
def test_eye_matches_numpy_and_torch():
    for shape in [(3, 3), (2, 5), (5, 2)]:
        w = nn.init.eye_(lucid.zeros(*shape))
        np.testing.assert_array_equal(w.numpy(), np.eye(*shape))
    with pytest.raises(ValueError, match="2-D"):
        nn.init.eye_(lucid.zeros(2, 2, 2))


@pytest.mark.parametrize(
    "shape,groups", [((4, 2, 3), 1), ((6, 3, 3, 3), 2), ((4, 2, 3, 2, 3), 2), ((3, 5, 3), 1)]
)
def test_dirac_matches_torch(shape, groups):
    w = nn.init.dirac_(lucid.zeros(*shape), groups=groups)
    torch = pytest.importorskip("torch")
    expected = torch.nn.init.dirac_(torch.zeros(shape), groups=groups).numpy()
    np.testing.assert_array_equal(w.numpy(), expected)


def test_dirac_conv_preserves_channels():
    conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)
    nn.init.dirac_(conv.weight)
    x = lucid.randn(1, 3, 5, 5)
    np.testing.assert_allclose(conv(x).numpy(), x.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="groups=4 .* dim 0"):
        nn.init.dirac_(lucid.zeros(6, 3, 3), groups=4)


def test_sparse_zeros_per_column_and_std():
    lucid.random.seed(3)
    w = nn.init.sparse_(lucid.zeros(400, 30), 0.25, std=0.5).numpy()
    assert (w == 0).sum(axis=0).tolist() == [100] * 30
    assert abs(w[w != 0].std() - 0.5) < 0.02
    with pytest.raises(ValueError, match="2-D"):
        nn.init.sparse_(lucid.zeros(2, 2, 2), 0.1)
