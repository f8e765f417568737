"""Batch, instance, group and layer normalisation: values against float64 numpy, gradients by
finite differences (gradcheck), BatchNorm/InstanceNorm running statistics against a numpy
re-implementation over several steps, eval behaviour, and clear errors."""

import numpy as np
import pytest

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
from lucid.autograd import gradcheck

EPS = 1e-5


def _standardize(x, axes, eps=EPS):
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


def _channel(v, ndim):
    return v.reshape((-1,) + (1,) * (ndim - 2))


def _t(a, grad=False):
    return lucid.tensor(a, dtype="float64", requires_grad=grad)


# ----------------------------------------------------------------------------- batch norm
@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 5), (2, 3, 3, 2), (2, 2, 2, 3, 2)])
def test_batch_norm_training_values_and_gradcheck(shape):
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape) * 2 + 1
    w, b = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
    axes = (0,) + tuple(range(2, len(shape)))
    want = _standardize(x, axes) * _channel(w, x.ndim) + _channel(b, x.ndim)
    y = F.batch_norm(_t(x), None, None, _t(w), _t(b), training=True)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-10)
    assert gradcheck(
        lambda *a: F.batch_norm(a[0], None, None, a[1], a[2], training=True),
        [_t(x, True), _t(w, True), _t(b, True)],
    )


def _numpy_batchnorm_run(batches, momentum, eps=EPS):
    """Running statistics a numpy BatchNorm keeps over ``batches`` (momentum None: average)."""
    c = batches[0].shape[1]
    rm, rv = np.zeros(c), np.ones(c)
    for t, x in enumerate(batches, start=1):
        axes = (0,) + tuple(range(2, x.ndim))
        n = x.size // c
        f = 1.0 / t if momentum is None else momentum
        rm = (1 - f) * rm + f * x.mean(axis=axes)
        rv = (1 - f) * rv + f * x.var(axis=axes) * n / (n - 1)
    return rm, rv


@pytest.mark.parametrize("momentum", [0.1, 0.5, None])
def test_batchnorm3d_running_stats_and_eval(momentum):
    rng = np.random.default_rng(7)
    batches = [rng.standard_normal((2, 3, 2, 3, 2)) * (i + 1) + i for i in range(4)]
    bn = nn.BatchNorm3d(3, momentum=momentum).double()
    bn.weight.data = np.array([1.5, -0.5, 2.0])
    bn.bias.data = np.array([0.1, 0.2, -0.3])
    for x in batches:
        y = bn(_t(x))
        want = _standardize(x, (0, 2, 3, 4)) * _channel(bn.weight.numpy(), 5) + _channel(
            bn.bias.numpy(), 5
        )
        np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-10)
    rm, rv = _numpy_batchnorm_run(batches, momentum)
    np.testing.assert_allclose(bn.running_mean.numpy(), rm, rtol=1e-10)
    np.testing.assert_allclose(bn.running_var.numpy(), rv, rtol=1e-10)
    assert bn.num_batches_tracked.item() == 4

    bn.eval()
    x = rng.standard_normal((2, 3, 2, 2, 2))
    xt = _t(x, True)
    y = bn(xt)
    scale = bn.weight.numpy() / np.sqrt(rv + EPS)
    want = (x - _channel(rm, 5)) * _channel(scale, 5) + _channel(bn.bias.numpy(), 5)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-10)
    g = rng.standard_normal(x.shape)
    y.backward(_t(g))
    np.testing.assert_allclose(xt.grad.numpy(), g * _channel(scale, 5), rtol=1e-10)
    np.testing.assert_allclose(bn.bias.grad.numpy(), g.sum(axis=(0, 2, 3, 4)), rtol=1e-10)
    np.testing.assert_allclose(
        bn.weight.grad.numpy(),
        (g * (x - _channel(rm, 5)) / _channel(np.sqrt(rv + EPS), 5)).sum(axis=(0, 2, 3, 4)),
        rtol=1e-10,
    )
    np.testing.assert_allclose(bn.running_mean.numpy(), rm)  # eval leaves the statistics alone
    assert bn.num_batches_tracked.item() == 4


def test_batch_norm_eval_gradcheck():
    rng = np.random.default_rng(8)
    rm, rv = _t(rng.standard_normal(2)), _t(rng.uniform(0.5, 2, 2))
    x, w, b = rng.standard_normal((2, 2, 3)), rng.standard_normal(2), rng.standard_normal(2)
    assert gradcheck(
        lambda *a: F.batch_norm(a[0], rm, rv, a[1], a[2], training=False),
        [_t(x, True), _t(w, True), _t(b, True)],
    )


def test_batchnorm_without_tracking_or_affine():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 2, 4))
    bn = nn.BatchNorm1d(2, affine=False, track_running_stats=False).double()
    assert bn.running_mean is None and bn.weight is None and list(bn.parameters()) == []
    assert set(bn.state_dict()) == set()
    bn.eval()  # no running statistics: eval still normalises with the batch's
    np.testing.assert_allclose(bn(_t(x)).numpy(), _standardize(x, (0, 2)), rtol=1e-10, atol=1e-10)


def test_batchnorm_modules_ranks_state_and_repr():
    bn = nn.BatchNorm2d(4)
    assert set(bn.state_dict()) == {
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    }
    assert repr(bn) == (
        "BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    )
    assert nn.BatchNorm1d(3)(lucid.randn(5, 3)).shape == (5, 3)
    assert nn.BatchNorm1d(3)(lucid.randn(5, 3, 4)).shape == (5, 3, 4)
    y = nn.BatchNorm2d(4)(lucid.randn(2, 4, 3, 3))
    np.testing.assert_allclose(y.numpy().mean(axis=(0, 2, 3)), 0, atol=1e-5)
    bn.running_mean.data = lucid.ones(4).data
    bn.reset_running_stats()
    assert bn.running_mean.tolist() == [0.0] * 4 and bn.num_batches_tracked.item() == 0
    half = nn.BatchNorm3d(2)(lucid.randn(2, 2, 2, 2, 2).astype("float16"))
    assert half.dtype == lucid.float16


def test_batchnorm_errors():
    with pytest.raises(ValueError, match=r"expected input with 4 channels \(num_features\), got 3"):
        nn.BatchNorm3d(4)(lucid.randn(2, 3, 2, 2, 2))
    with pytest.raises(ValueError, match="BatchNorm3d expects a 5-D input"):
        nn.BatchNorm3d(3)(lucid.randn(2, 3, 2, 2))
    with pytest.raises(ValueError, match="2-D or 3-D input"):
        nn.BatchNorm1d(3)(lucid.randn(2, 3, 2, 2))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(lucid.randn(1, 3))
    with pytest.raises(ValueError, match="num_features must be a positive int"):
        nn.BatchNorm2d(0)
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        F.batch_norm(lucid.randn(2, 3), weight=lucid.ones(2), training=True)


# ----------------------------------------------------------------------------- instance norm
def test_instance_norm_values_and_gradcheck():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 2, 3, 2))
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    want = _standardize(x, (2, 3, 4)) * _channel(w, 5) + _channel(b, 5)
    np.testing.assert_allclose(
        F.instance_norm(_t(x), weight=_t(w), bias=_t(b)).numpy(), want, rtol=1e-10, atol=1e-10
    )
    xs = x[:, :, :2, :2, :2]
    assert gradcheck(
        lambda *a: F.instance_norm(a[0], weight=a[1], bias=a[2]),
        [_t(xs, True), _t(w, True), _t(b, True)],
    )


def test_instancenorm3d_defaults_unbatched_and_running_stats():
    m = nn.InstanceNorm3d(2)
    assert not m.affine and not m.track_running_stats and list(m.parameters()) == []
    assert repr(m) == (
        "InstanceNorm3d(2, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False)"
    )
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 2, 2))
    y = m.double()(_t(x))  # unbatched (C, D, H, W)
    np.testing.assert_allclose(y.numpy(), _standardize(x, (1, 2, 3)), rtol=1e-10, atol=1e-10)

    tracked = nn.InstanceNorm1d(2, momentum=0.2, track_running_stats=True).double()
    batches = [rng.standard_normal((3, 2, 5)) + i for i in range(3)]
    rm, rv = np.zeros(2), np.ones(2)
    for x in batches:
        tracked(_t(x))
        rm = 0.8 * rm + 0.2 * x.mean(axis=2).mean(axis=0)
        rv = 0.8 * rv + 0.2 * (x.var(axis=2) * 5 / 4).mean(axis=0)
    np.testing.assert_allclose(tracked.running_mean.numpy(), rm, rtol=1e-10)
    np.testing.assert_allclose(tracked.running_var.numpy(), rv, rtol=1e-10)
    tracked.eval()
    x = rng.standard_normal((1, 2, 4))
    np.testing.assert_allclose(
        tracked(_t(x)).numpy(), (x - rm[:, None]) / np.sqrt(rv[:, None] + EPS), rtol=1e-10
    )
    with pytest.raises(ValueError, match="expected input with 2 channels"):
        nn.InstanceNorm2d(2)(lucid.randn(1, 3, 2, 2))
    with pytest.raises(ValueError, match="InstanceNorm2d expects a 4-D input"):
        nn.InstanceNorm2d(2)(lucid.randn(2, 2))


# ----------------------------------------------------------------------------- group norm
@pytest.mark.parametrize("groups", [1, 2, 4])
def test_group_norm_values_and_gradcheck(groups):
    rng = np.random.default_rng(groups)
    x = rng.standard_normal((2, 4, 3, 2))
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    g = x.reshape(2, groups, -1)
    want = _standardize(g, (2,)).reshape(x.shape) * _channel(w, 4) + _channel(b, 4)
    m = nn.GroupNorm(groups, 4).double()
    m.weight.data, m.bias.data = w, b
    np.testing.assert_allclose(m(_t(x)).numpy(), want, rtol=1e-10, atol=1e-10)
    assert gradcheck(
        lambda *a: F.group_norm(a[0], groups, a[1], a[2]), [_t(x, True), _t(w, True), _t(b, True)]
    )


def test_group_norm_errors_and_repr():
    assert repr(nn.GroupNorm(2, 4)) == "GroupNorm(2, 4, eps=1e-05, affine=True)"
    with pytest.raises(ValueError, match="divisible by num_groups=3"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match=r"expected an input \(N, 4, \*S\)"):
        nn.GroupNorm(2, 4)(lucid.randn(2, 6, 3))
    assert nn.GroupNorm(2, 4, affine=False).weight is None


# ----------------------------------------------------------------------------- layer norm
def test_layer_norm_values_and_gradcheck():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3, 2, 3))
    w, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    m = nn.LayerNorm((2, 3)).double()
    m.weight.data, m.bias.data = w, b
    np.testing.assert_allclose(
        m(_t(x)).numpy(), _standardize(x, (2, 3)) * w + b, rtol=1e-10, atol=1e-10
    )
    assert gradcheck(
        lambda *a: F.layer_norm(a[0], (2, 3), a[1], a[2]), [_t(x, True), _t(w, True), _t(b, True)]
    )
    assert repr(m) == "LayerNorm((2, 3), eps=1e-05, elementwise_affine=True)"
    plain = nn.LayerNorm(3, elementwise_affine=False)
    assert plain.weight is None and plain.bias is None
    np.testing.assert_allclose(
        plain.double()(_t(x)).numpy(), _standardize(x, (3,)), rtol=1e-10, atol=1e-10
    )
    with pytest.raises(ValueError, match="must match the trailing dims"):
        m(lucid.randn(2, 3, 3, 2))
