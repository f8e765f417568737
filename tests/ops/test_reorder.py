"""flip / roll: values and gradients against numpy and finite differences, PyTorch's forms."""

import numpy as np
import pytest

import lucid
from tests.helpers import check_op, rand


@pytest.mark.parametrize(
    "fn,np_fn",
    [
        (lambda t: lucid.flip(t, (0, 2)), lambda a: np.flip(a, (0, 2))),
        (lambda t: t.flip(-1), lambda a: np.flip(a, -1)),
        (lambda t: t.flip(0, 1), lambda a: np.flip(a, (0, 1))),
        (lambda t: lucid.flip(t, dims=[0, -1]), lambda a: np.flip(a, (0, -1))),
        (lambda t: t.flip(dims=(1,)), lambda a: np.flip(a, 1)),
        (lambda t: t.flip([2, 0]), lambda a: np.flip(a, (2, 0))),
        (lambda t: lucid.flip(t, ()), lambda a: a),
        (lambda t: lucid.roll(t, 2), lambda a: np.roll(a, 2)),
        (lambda t: t.roll(-1, 1), lambda a: np.roll(a, -1, 1)),
        (lambda t: lucid.roll(t, (1, -2), (0, 2)), lambda a: np.roll(a, (1, -2), (0, 2))),
        (lambda t: lucid.roll(t, 7, dims=2), lambda a: np.roll(a, 7, 2)),
    ],
)
def test_values_and_gradients(fn, np_fn):
    check_op(fn, np_fn, rand(2, 3, 4))


def test_errors():
    x = lucid.ones(2, 3)
    with pytest.raises(ValueError, match="same length"):
        lucid.roll(x, (1, 2), 0)
    with pytest.raises(ValueError, match="dims=None"):
        lucid.roll(x, (1, 2))
    with pytest.raises(ValueError, match="dim 2 is out of range"):
        x.flip(2)
    with pytest.raises(ValueError, match="repeated dim"):
        lucid.flip(x, dims=(0, -2))
    with pytest.raises(TypeError, match="dims"):
        x.flip()  # as PyTorch: dims is required
    with pytest.raises(TypeError, match="dims must be ints"):
        x.flip(dims=(0.5,))
    with pytest.raises(TypeError, match="one sequence or as ints"):
        x.flip((0,), 1)


def test_flip_forms_match_torch():
    torch = pytest.importorskip("torch")
    a = rand(2, 3, 4)
    for fn in (
        lambda m, x: m.flip(x, dims=(0, 2)),
        lambda m, x: m.flip(x, [1]),
        lambda m, x: x.flip(dims=(-1,)),
        lambda m, x: x.flip(0, 2),
        lambda m, x: x.flip([1, 2]),
    ):
        np.testing.assert_array_equal(
            fn(lucid, lucid.tensor(a)).numpy(), fn(torch, torch.tensor(a)).numpy()
        )
