"""Shape ops: values against numpy, gradients against finite differences, bad shapes/dims, and
PyTorch's meanings (transpose swaps two dims, repeat tiles, split takes sizes, squeeze of a
non-1 dim is a no-op) checked as plain values and against torch when it is installed."""

import numpy as np
import pytest

import lucid
from tests.helpers import check_op, grads_of, rand


@pytest.mark.parametrize(
    "fn,np_fn,shape",
    [
        (lambda x: x.reshape(3, 4), lambda x: x.reshape(3, 4), (2, 6)),
        (lambda x: x.reshape((4, -1)), lambda x: x.reshape(4, -1), (2, 6)),
        (lambda x: x.reshape(-1), lambda x: x.reshape(-1), (2, 3, 2)),
        (lambda x: x.view(2, 1, 3), lambda x: x.reshape(2, 1, 3), (6,)),
        (lambda x: x.reshape(()), lambda x: x.reshape(()), (1, 1)),
        (lambda x: x.reshape(0, 5), lambda x: x.reshape(0, 5), (5, 0)),
        (lambda x: x.flatten(), lambda x: x.reshape(-1), (2, 3, 2)),
        (lambda x: x.flatten(1), lambda x: x.reshape(2, -1), (2, 3, 2)),
        (lambda x: lucid.flatten(x, 0, -2), lambda x: x.reshape(6, 2), (2, 3, 2)),
        (lambda x: x.flatten(), lambda x: x.reshape(1), ()),
        (lambda x: x.squeeze(), np.squeeze, (1, 3, 1, 2)),
        (lambda x: x.squeeze(-2), lambda x: np.squeeze(x, -2), (1, 3, 1, 2)),
        (lambda x: x.squeeze((0, 2)), lambda x: np.squeeze(x, (0, 2)), (1, 3, 1, 2)),
        (lambda x: x.squeeze(1), lambda x: x, (1, 3, 1, 2)),  # size 3: a no-op, as PyTorch
        (lambda x: x.squeeze((1, 2)), lambda x: np.squeeze(x, 2), (1, 3, 1, 2)),
        (lambda x: x.unsqueeze(0), lambda x: np.expand_dims(x, 0), (2, 3)),
        (lambda x: x.unsqueeze(-1), lambda x: np.expand_dims(x, -1), (2, 3)),
        (lambda x: x.unsqueeze(1), lambda x: np.expand_dims(x, 1), (2, 3)),
        (lambda x: x.unsqueeze(0), lambda x: np.expand_dims(x, 0), ()),
        (lambda x: x.transpose(0, 1), lambda x: np.swapaxes(x, 0, 1), (2, 3, 4)),
        (lambda x: x.transpose(-1, 0), lambda x: np.swapaxes(x, -1, 0), (2, 3, 4)),
        (lambda x: lucid.permute_dims(x), np.transpose, (2, 3, 4)),
        (
            lambda x: lucid.permute_dims(x, (1, 0, 2)),
            lambda x: np.transpose(x, (1, 0, 2)),
            (2, 3, 4),
        ),
        (lambda x: x.t(), lambda x: x.T, (2, 3)),
        (lambda x: x.t(), lambda x: x, (3,)),
        (lambda x: x.permute(2, 0, 1), lambda x: np.transpose(x, (2, 0, 1)), (2, 3, 4)),
        (lambda x: x.permute((-1, 0, 1)), lambda x: np.transpose(x, (2, 0, 1)), (2, 3, 4)),
        (lambda x: x.swapaxes(0, -1), lambda x: np.swapaxes(x, 0, -1), (2, 3, 4)),
        (lambda x: x.swapdims(1, 2), lambda x: np.swapaxes(x, 1, 2), (2, 3, 4)),
        (lambda x: x.T, lambda x: x.T, (2, 3)),
        (lambda x: x.T, lambda x: x.T, ()),
        (lambda x: x.mT, lambda x: np.swapaxes(x, -1, -2), (2, 3, 4)),
        (lambda x: x.broadcast_to(2, 3, 4), lambda x: np.broadcast_to(x, (2, 3, 4)), (3, 1)),
        (lambda x: x.broadcast_to((2, 3)), lambda x: np.broadcast_to(x, (2, 3)), ()),
        (lambda x: x.expand(2, -1, 4), lambda x: np.broadcast_to(x, (2, 3, 4)), (3, 1)),
        (lambda x: x.repeat_interleave(2, dim=1), lambda x: np.repeat(x, 2, axis=1), (2, 3)),
        (lambda x: x.repeat_interleave(3), lambda x: np.repeat(x, 3), (2, 2)),
        (lambda x: lucid.repeat_interleave(x, 2, -1), lambda x: np.repeat(x, 2, axis=-1), (2, 3)),
        (lambda x: x.repeat(2, 1), lambda x: np.tile(x, (2, 1)), (2, 3)),
        (lambda x: x.repeat(2, 1, 3), lambda x: np.tile(x, (2, 1, 3)), (2, 3)),
        (lambda x: x.repeat((1, 2)), lambda x: np.tile(x, (1, 2)), (2, 3)),
        (lambda x: x.tile((2, 1, 3)), lambda x: np.tile(x, (2, 1, 3)), (2, 2)),
        (lambda x: x.tile(2), lambda x: np.tile(x, 2), (2, 3)),
    ],
)
def test_reshaping_ops(fn, np_fn, shape):
    check_op(fn, np_fn, rand(*shape))


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("name", ["cat", "concatenate", "concat"])
def test_concatenate(dim, name):
    a, b, c = rand(2, 3), rand(2, 3), rand(2, 3)
    check_op(
        lambda x, y, z: getattr(lucid, name)([x, y, z], dim=dim),
        lambda x, y, z: np.concatenate([x, y, z], axis=dim),
        a,
        b,
        c,
    )
    check_op(
        lambda x, y, z: getattr(lucid, name)([x, y, z], dim),  # positional, and numpy's
        lambda x, y, z: np.concatenate([x, y, z], axis=dim),
        a,
        b,
        c,
    )  # axis= alias:
    check_op(
        lambda x, y, z: getattr(lucid, name)([x, y, z], axis=dim),
        lambda x, y, z: np.concatenate([x, y, z], axis=dim),
        a,
        b,
        c,
    )


def test_concatenate_unequal_sizes_along_axis():
    check_op(
        lambda x, y: lucid.cat([x, y], dim=1),
        lambda x, y: np.concatenate([x, y], 1),
        rand(2, 1),
        rand(2, 4),
    )


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_stack(dim):
    check_op(
        lambda x, y: lucid.stack([x, y], dim=dim),
        lambda x, y: np.stack([x, y], axis=dim),
        rand(2, 3),
        rand(2, 3),
    )
    check_op(
        lambda x, y: lucid.stack([x, y], axis=dim),
        lambda x, y: np.stack([x, y], axis=dim),
        rand(2, 3),
        rand(2, 3),
    )


def test_stack_of_0d_tensors():
    check_op(
        lambda x, y: lucid.stack((x, y)),
        lambda x, y: np.stack((x, y)),
        np.array(1.5),
        np.array(-2.0),
    )


@pytest.mark.parametrize(
    "size_or_sizes,dim,sizes",
    [
        (2, 0, [2, 2]),
        (3, 1, [3, 1]),
        (4, 1, [4]),
        (5, -1, [4]),
        ([1, 3], 1, [1, 3]),
        ([4], -1, [4]),
        ([0, 4], 1, [0, 4]),
        ([2, 0, 2], 0, [2, 0, 2]),
    ],
)
def test_split_takes_piece_sizes(size_or_sizes, dim, sizes):
    a = rand(4, 4)
    pieces = lucid.split(lucid.tensor(a), size_or_sizes, dim=dim)
    assert isinstance(pieces, tuple)
    expected = np.split(a, np.cumsum(sizes)[:-1], axis=dim)
    assert [p.shape[dim] for p in pieces] == sizes
    for p, e in zip(pieces, expected):
        np.testing.assert_allclose(p.numpy(), e, rtol=1e-6)
    assert [p.shape for p in lucid.tensor(a).split(size_or_sizes, dim)] == [p.shape for p in pieces]
    # each piece's gradient lands in its own slice of the input
    weights = [np.random.default_rng(i).standard_normal(e.shape) for i, e in enumerate(expected)]

    def weighted(x):
        pieces = lucid.split(x, size_or_sizes, dim)
        return lucid.stack(
            [(p * lucid.tensor(w, dtype="float64")).sum() for p, w in zip(pieces, weights)]
        )

    (g,) = grads_of(weighted, a)
    np.testing.assert_allclose(g, np.concatenate(weights, axis=dim), rtol=1e-12)


def test_plain_pytorch_meanings():
    x = lucid.arange(6).reshape(2, 3)
    assert x.transpose(0, 1).tolist() == [[0, 3], [1, 4], [2, 5]]
    assert x.repeat(2, 1).tolist() == [[0, 1, 2], [3, 4, 5], [0, 1, 2], [3, 4, 5]]
    assert x.repeat_interleave(2, dim=0).tolist() == [[0, 1, 2], [0, 1, 2], [3, 4, 5], [3, 4, 5]]
    assert [p.tolist() for p in lucid.arange(10).split(4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [p.tolist() for p in lucid.arange(10).split([3, 7])] == [
        [0, 1, 2],
        [3, 4, 5, 6, 7, 8, 9],
    ]
    assert x.squeeze(0).shape == (2, 3)
    assert x.flatten(start_dim=0).shape == (6,)


def test_shape_ops_match_torch():
    torch = pytest.importorskip("torch")
    a = rand(2, 3, 4)
    x, t = lucid.tensor(a, dtype="float64"), torch.tensor(a)
    cases = [
        lambda m: m.transpose(0, 1),
        lambda m: m.transpose(-1, 0),
        lambda m: m.repeat(2, 1, 1),
        lambda m: m.repeat(1, 2, 1, 3),
        lambda m: m.repeat_interleave(2, dim=1),
        lambda m: m.repeat_interleave(3),
        lambda m: m.squeeze(0),
        lambda m: m[:1].squeeze(0),
        lambda m: m[:, :1].squeeze((0, 1)),
        lambda m: m.flatten(start_dim=1),
        lambda m: m.flatten(0, 1),
        lambda m: m.t() if m.ndim == 2 else m[0].t(),
        lambda m: m.swapdims(0, 2),
        lambda m: m.permute(2, 0, 1),
        lambda m: m.tile((2,)),
        lambda m: m.unsqueeze(dim=1),
        lambda m: m.mT,
        lambda m: m.expand(3, 2, 3, 4),
    ]
    for i, case in enumerate(cases):
        np.testing.assert_array_equal(case(x).numpy(), case(t).numpy(), err_msg=f"case {i}")
    for split_arg, dim in [(4, 2), (3, 2), ([1, 3], 2), (1, 0), ([2, 1], 1)]:
        ours, theirs = x.split(split_arg, dim), t.split(split_arg, dim)
        assert len(ours) == len(theirs)
        for o, r in zip(ours, theirs):
            np.testing.assert_array_equal(o.numpy(), r.numpy())
    for chunks, dim in [(2, 2), (3, 2), (5, 1), (4, -1)]:
        ours, theirs = x.chunk(chunks, dim), t.chunk(chunks, dim)
        assert [o.shape for o in ours] == [tuple(r.shape) for r in theirs]
    for fn in ("cat", "stack"):
        np.testing.assert_array_equal(
            getattr(lucid, fn)([x, x], dim=1).numpy(), getattr(torch, fn)([t, t], dim=1).numpy()
        )


def test_chunk():
    x = lucid.arange(7)
    assert [c.tolist() for c in x.chunk(3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert isinstance(x.chunk(3), tuple)
    assert [c.tolist() for c in lucid.arange(6).chunk(4)] == [[0, 1], [2, 3], [4, 5]]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64", "int32", "bool"])
def test_astype(dtype):
    x = lucid.tensor([[0.0, 1.5], [-2.0, 3.0]], requires_grad=True)
    y = x.astype(dtype)
    assert y.dtype == dtype
    np.testing.assert_array_equal(
        y.numpy(), x.numpy().astype(np.dtype("float32" if dtype == "bfloat16" else dtype))
    )
    if y.dtype.is_floating_point:
        (y * 3).sum().backward()
        assert x.grad.dtype == lucid.float32
        np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 2), 3.0))
    else:
        assert not y.requires_grad


def test_shape_ops_keep_gradients_through_chains():
    a = rand(2, 3, 4)
    check_op(
        lambda x: x.permute(2, 0, 1).reshape(4, 6)[1:].sum(dim=0).unsqueeze(0).T,
        lambda x: np.transpose(x, (2, 0, 1)).reshape(4, 6)[1:].sum(axis=0)[None].T,
        a,
    )


@pytest.mark.parametrize(
    "call,pattern",
    [
        (lambda x: x.reshape(4, 4), r"\(2, 3\).*\(4, 4\)"),
        (lambda x: x.reshape(-1, 4), r"\(2, 3\).*\(-1, 4\)"),
        (lambda x: x.reshape(-1, -1), "at most one -1"),
        (lambda x: x.squeeze(2), "dim 2 is out of range"),
        (lambda x: x.unsqueeze(3), "dim 3"),
        (lambda x: x.permute(0, 0), r"\(0, 0\).*\(2, 3\)"),
        (lambda x: x.permute(0, 1, 2), r"\(0, 1, 2\)"),
        (lambda x: x.transpose(0, 2), "dim1 2 is out of range"),
        (lambda x: x.t().unsqueeze(0).t(), r"<= 2 dims.*\(1, 3, 2\)"),
        (lambda x: x.broadcast_to(3, 3), r"\(2, 3\) to \(3, 3\)"),
        (lambda x: x.broadcast_to(3), r"\(2, 3\) to \(3,\)"),
        (lambda x: x.expand(3), r"\(3,\).*\(2, 3\)"),
        (lambda x: x.expand(-1, 2, 3), r"new leading .*\(-1, 2, 3\)"),
        (lambda x: lucid.concatenate([x, lucid.ones(3, 2)], axis=0), r"\(2, 3\).*\(3, 2\)"),
        (lambda x: lucid.concatenate([x, lucid.ones(3)]), r"\(2, 3\).*\(3,\)"),
        (lambda x: lucid.concatenate([]), "at least one"),
        (lambda x: lucid.stack([x, lucid.ones(3, 2)]), r"\(2, 3\).*\(3, 2\)"),
        (lambda x: lucid.stack([x, x], dim=3), "dim 3"),
        (lambda x: x.split([1, 1], dim=1), r"sizes \[1, 1\].*sum to the size 3 of dim 1"),
        (lambda x: x.split(0), "positive int, got 0"),
        (lambda x: x.repeat_interleave(-1), "non-negative"),
        (lambda x: x.repeat(2), r"1 repeat sizes \(2,\).*2 dims"),
        (lambda x: x.flatten(1, 0), "start_dim 1.*end_dim 0"),
        (lambda x: x.swapaxes(0, 2), "2 is out of range"),
    ],
)
def test_bad_shapes_raise_clear_errors(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call(lucid.ones(2, 3))


@pytest.mark.parametrize(
    "call,error,pattern",
    [
        (lambda x: x.reshape(2.5, 2), TypeError, r"sizes must be ints, got \(2.5, 2\)"),
        (lambda x: x.permute(1.0, 0), TypeError, "sizes must be ints"),
        (lambda x: x.chunk(0), ValueError, "chunks must be a positive int, got 0"),
        (lambda x: x.tile(-1), ValueError, r"reps must be non-negative ints, got \(-1,\)"),
        (lambda x: x.sum(dim=1.5), TypeError, "axis must be an int"),
    ],
)
def test_bad_argument_types(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call(lucid.ones(2, 3))


def test_astype_to_unknown_dtype():
    with pytest.raises(TypeError, match="unknown dtype 'float8'"):
        lucid.ones(2).astype("float8")
