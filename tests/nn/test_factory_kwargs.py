"""device= / dtype= constructor keywords: every layer that creates parameters or buffers makes
them in that dtype (floating ones; counters stay int64) on that device, as PyTorch."""

import pytest

import lucid
import lucid.nn as nn

LAYERS = [
    lambda **kw: nn.Linear(3, 2, **kw),
    lambda **kw: nn.Conv1d(2, 2, 3, **kw),
    lambda **kw: nn.Conv2d(2, 2, 3, padding_mode="reflect", **kw),
    lambda **kw: nn.Conv3d(2, 2, 3, **kw),
    lambda **kw: nn.ConvTranspose1d(2, 2, 3, **kw),
    lambda **kw: nn.ConvTranspose2d(2, 2, 3, **kw),
    lambda **kw: nn.ConvTranspose3d(2, 2, 3, **kw),
    lambda **kw: nn.BatchNorm1d(3, **kw),
    lambda **kw: nn.BatchNorm2d(3, **kw),
    lambda **kw: nn.BatchNorm3d(3, **kw),
    lambda **kw: nn.InstanceNorm3d(3, affine=True, track_running_stats=True, **kw),
    lambda **kw: nn.GroupNorm(1, 3, **kw),
    lambda **kw: nn.LayerNorm(3, **kw),
    lambda **kw: nn.Embedding(5, 3, **kw),
    lambda **kw: nn.PReLU(3, **kw),
    lambda **kw: nn.RMSNorm(3, **kw),
]


@pytest.mark.parametrize("make", LAYERS)
def test_dtype_and_device_keywords(make):
    m = make(dtype=lucid.float64, device="cpu")
    tensors = list(m.parameters()) + [b for b in m.buffers() if b is not None]
    assert tensors
    for t in tensors:
        assert t.dtype == (lucid.float64 if t.is_floating_point() else lucid.int64)
        assert t.device == "cpu"
    default = make()
    assert all(p.dtype == lucid.float32 for p in default.parameters())
