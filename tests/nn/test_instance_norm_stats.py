"""InstanceNorm's running statistics follow PyTorch's instance-norm rules, which differ from
batch norm's: ``momentum=None`` means no running update (not a cumulative average), and
``num_batches_tracked`` is never advanced."""

import numpy as np
import pytest

import lucid
import lucid.nn as nn

RNG = np.random.default_rng(4)


def _batches():
    return [RNG.normal(size=(2, 3, 4, 4)) * 3 + 1 for _ in range(3)]


@pytest.mark.parametrize("momentum", [None, 0.1, 0.0])
def test_running_stats_and_batch_count(momentum):
    xs = _batches()
    m = nn.InstanceNorm2d(3, momentum=momentum, track_running_stats=True).double()
    mean, var = np.zeros(3), np.ones(3)
    for x in xs:
        m(lucid.tensor(x, dtype="float64"))
        if momentum:  # numpy: batch average of per-instance stats, unbiased variances
            mean = (1 - momentum) * mean + momentum * x.mean(axis=(2, 3)).mean(0)
            var = (1 - momentum) * var + momentum * x.var(axis=(2, 3), ddof=1).mean(0)
    np.testing.assert_allclose(m.running_mean.numpy(), mean, rtol=1e-12)
    np.testing.assert_allclose(m.running_var.numpy(), var, rtol=1e-12)
    assert int(m.num_batches_tracked.item()) == 0
    m.eval()
    x = xs[0]
    want = (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(m(lucid.tensor(x, dtype="float64")).numpy(), want, rtol=1e-10)
    torch = pytest.importorskip("torch")
    tm = torch.nn.InstanceNorm2d(3, momentum=momentum, track_running_stats=True).double()
    for x in xs:
        tm(torch.tensor(x))
    np.testing.assert_allclose(m.running_mean.numpy(), tm.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(m.running_var.numpy(), tm.running_var.numpy(), rtol=1e-12)
    assert int(tm.num_batches_tracked) == 0


@pytest.mark.parametrize("fn", ["batch_norm", "instance_norm"])
def test_one_running_buffer_without_the_other_is_refused(fn):
    """Both buffers or neither: instance norm used to update a lone running_mean and then fail
    with an AttributeError on the missing variance, and ignore a lone running_var."""
    x, stat = lucid.randn(2, 3, 4), lucid.zeros(3)
    f = getattr(lucid.nn.functional, fn)
    for kw in ({"running_mean": stat}, {"running_var": stat}):
        with pytest.raises(ValueError, match=f"{fn}: give both running_mean and running_var"):
            f(x, **kw) if fn == "instance_norm" else f(x, training=True, **kw)
    np.testing.assert_array_equal(stat.numpy(), np.zeros(3))
