"""Conv*d(padding_mode=...): the layer's padding done by F.pad in that mode, against torch
(values and gradients) and against F.pad + an unpadded conv; ConvTranspose allows only zeros."""

import numpy as np
import pytest

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
from tests.helpers import rand
from tests.torch_compare import compare_with_torch


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note on even kernels
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    "n,padding,kw",
    [
        (1, 2, {}),
        (2, (1, 2), {"stride": 2}),
        (3, 1, {"dilation": 2}),
        (2, "same", {"groups": 2}),
        (3, "same", {"kernel_size": 2}),
    ],
)
def test_padding_modes_match_torch(mode, n, padding, kw):
    torch = pytest.importorskip("torch")
    kw = dict(kw)
    k = kw.pop("kernel_size", 3)
    ours = getattr(nn, f"Conv{n}d")(
        2, 4, k, padding=padding, padding_mode=mode, dtype=lucid.float64, **kw
    )
    theirs = getattr(torch.nn, f"Conv{n}d")(
        2, 4, k, padding=padding, padding_mode=mode, dtype=torch.float64, **kw
    )
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.numpy()))
        theirs.bias.copy_(torch.tensor(ours.bias.numpy()))
    compare_with_torch(ours, theirs, rand(2, 2, *(6,) * n), rtol=1e-9, atol=1e-10)
    assert (f"padding_mode={mode}" in repr(ours)) == (mode != "zeros")


def test_reflect_is_f_pad_then_valid_conv():
    conv = nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect", bias=False)
    x = lucid.tensor(rand(1, 1, 5, 5), dtype="float32")
    expected = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), conv.weight)
    np.testing.assert_allclose(conv(x).numpy(), expected.numpy(), rtol=1e-6)
    assert conv(x[0]).shape == (1, 5, 5)  # unbatched input


def test_bad_padding_modes():
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(1, 1, 3, padding_mode="edge")
    with pytest.raises(ValueError, match='Only "zeros" padding mode'):
        nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect")
