"""pad (PyTorch's F.pad): every mode against numpy's np.pad (float64) and finite differences,
negative amounts (crops), against torch when installed, and the errors."""

import numpy as np
import pytest

import lucid
import lucid.nn.functional as F
from tests.helpers import check_op, rand
from tests.torch_compare import compare_with_torch

NUMPY_MODE = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def np_pad(x, pad, mode, value=0.0):
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    kw = {"constant_values": value} if mode == "constant" else {}
    return np.pad(x, widths, mode=NUMPY_MODE[mode], **kw)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    "shape,pad",
    [
        ((2, 5), (1, 2)),
        ((1, 2, 5), (2, 1)),
        ((2, 4, 5), (1, 2, 3, 0)),
        ((1, 2, 3, 4, 5), (1, 1, 2, 0, 0, 2)),
        ((2, 3, 4, 5), (0, 1, 1, 0, 2, 2)),
    ],
)
def test_modes_match_numpy_and_gradcheck(mode, shape, pad):
    check_op(lambda x: F.pad(x, pad, mode=mode), lambda x: np_pad(x, pad, mode), rand(*shape))


@pytest.mark.parametrize(
    "shape,pad", [((3,), (1, 2)), ((2, 3, 4), (1, 0, 0, 2, 1, 1)), ((2, 3), (0, 0, 1, 1))]
)
def test_constant_any_rank_with_value(shape, pad):
    check_op(
        lambda x: lucid.pad(x, pad, value=2.5),
        lambda x: np_pad(x, pad, "constant", 2.5),
        rand(*shape),
    )


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", [(-1, 2), (2, -1), (-1, -2), (3, 0), (0, 0)])
def test_negative_pads_and_torch(mode, pad):
    torch = pytest.importorskip("torch")
    compare_with_torch(
        lambda x: F.pad(x, pad, mode=mode),
        lambda x: torch.nn.functional.pad(x, pad, mode=mode),
        rand(2, 3, 5),
    )


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "constant"])
def test_3d_volume_matches_torch(mode):
    torch = pytest.importorskip("torch")
    pad = (1, 2, 2, 1, 0, 1)
    compare_with_torch(
        lambda x: F.pad(x, pad, mode=mode),
        lambda x: torch.nn.functional.pad(x, pad, mode=mode),
        rand(2, 2, 3, 4, 5),
    )


def test_crop_gradient_is_zero_outside():
    x = lucid.tensor(rand(2, 4), requires_grad=True)
    F.pad(x, (-1, 1), value=3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 1, 1]] * 2)


def test_lucid_pad_is_f_pad():
    assert lucid.pad is F.pad
    x = lucid.ones(2, 3)
    assert lucid.pad(x, (1, 1)).shape == (2, 5)  # the last dimension only, as in PyTorch
    assert not hasattr(x, "pad")  # torch.Tensor has no pad method either


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda x: F.pad(x, (1,)), ValueError, "even"),
        (lambda x: F.pad(x, (1, 1) * 4), ValueError, "4 .*3 dimensions"),
        (lambda x: F.pad(x, 1), TypeError, "tuple of ints"),
        (lambda x: F.pad(x, (1.5, 1)), TypeError, "ints"),
        (lambda x: F.pad(x, (1, 1), mode="edge"), ValueError, "mode must be one of"),
        (lambda x: F.pad(x, (3, 0), mode="reflect"), ValueError, "smaller than the size 3"),
        (lambda x: F.pad(x, (4, 0), mode="circular"), ValueError, "more than once"),
        (lambda x: F.pad(x, (1, 1) * 3, mode="reflect"), ValueError, "4-D .*5-D.*3-D"),
        (lambda x: F.pad(x, (1, 1), mode="reflect", value=1.0), ValueError, "no fill value"),
        (lambda x: F.pad(x, (-2, -2)), ValueError, "output size -1"),
    ],
)
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call(lucid.ones(1, 2, 3))
