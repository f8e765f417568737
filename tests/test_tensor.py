"""lucid.Tensor: construction, dtypes, devices (with the no-GPU fallback), repr/str,
conversions, creation functions and seeded random draws."""

import warnings

import mlx.core as mx
import numpy as np
import pytest

import lucid
from lucid import _backend as B
from lucid._backend import core as backend_core


# --- construction ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data,shape,dtype",
    [
        (3.0, (), "float32"),
        (3, (), "int64"),
        (True, (), "bool"),
        ([[1.0, 2.0]], (1, 2), "float32"),
        ([1, 2, 3], (3,), "int64"),
        ([1, 2.5], (2,), "float32"),
        ([[True], [False]], (2, 1), "bool"),
        ([], (0,), "float32"),
        (np.float64(2.5), (), "float32"),
        (np.ones((2, 3)), (2, 3), "float32"),
        (np.ones(2, np.float16), (2,), "float16"),
        (np.arange(3, dtype=np.int32), (3,), "int64"),
        (np.arange(3, dtype=np.uint8), (3,), "uint8"),
        (np.arange(3, dtype=np.uint16), (3,), "int64"),
        (np.ones((3, 4))[:, ::2], (3, 2), "float32"),
        (mx.array([1.0, 2.0]), (2,), "float32"),
        (mx.array([1, 2], dtype=mx.int32), (2,), "int32"),
        ([lucid.tensor(1.0), lucid.tensor(2.0)], (2,), "float32"),
    ],
)
def test_construction(data, shape, dtype):
    # lucid.tensor keeps a numpy array's dtype, as torch.tensor; the Tensor constructor, like
    # torch.Tensor, makes float32 of floating data
    kept = data.dtype.name if isinstance(data, (np.ndarray, np.generic)) else None
    tensor_dtype = kept if kept in lucid.dtypes.BY_NAME else dtype
    for t, want in ((lucid.tensor(data), tensor_dtype), (lucid.Tensor(data), dtype)):
        assert t.shape == shape and t.dtype == want
        assert isinstance(t.data, mx.array)
        assert t.ndim == len(shape) and t.size() == shape and t.numel() == int(np.prod(shape))
        expected = np.asarray(
            data.tolist()
            if isinstance(data, mx.array)
            else [float(v.item()) for v in data]
            if isinstance(data, list) and data and isinstance(data[0], lucid.Tensor)
            else data
        )
        np.testing.assert_array_equal(t.numpy(), expected.astype(t.numpy().dtype))
        assert not t.requires_grad and t.grad is None and t.is_leaf


def test_from_another_tensor_shares_values_not_the_graph():
    a = lucid.tensor([1.0, 2.0], requires_grad=True)
    b = lucid.Tensor(a)
    c = lucid.tensor(a * 2, dtype="float16")
    assert b.tolist() == [1.0, 2.0] and not b.requires_grad and b.is_leaf
    assert c.dtype == lucid.float16 and c.tolist() == [2.0, 4.0] and c.is_leaf


def test_every_construction_path_sets_every_field_alike():
    """Tensor(), _wrap, an op's output (the tape's record), detach and Parameter all go through
    the one initialiser: every slot is set, a fresh tensor is at version 0 with no gradient,
    hooks or retained gradient, and only a recorded output has a node."""
    from lucid.nn import Parameter

    x = lucid.tensor([1.0, 2.0], requires_grad=True)
    made = {
        "Tensor()": lucid.Tensor([1.0, 2.0]),
        "_wrap": lucid.Tensor._wrap(x.data, "cpu", True),
        "record": x * 2.0,
        "record, no grad": lucid.tensor([1.0]) * 2.0,
        "detach": x.detach(),
        "Parameter": Parameter(lucid.ones(2)),
    }
    fields = [f for f in lucid.Tensor.__slots__ if f not in ("__weakref__", "__dict__")]
    for path, t in made.items():
        values = {f: getattr(t, f) for f in fields}  # an unset slot raises AttributeError
        assert values["_version"] == 0 and values["_device"] == "cpu", path
        assert values["_grad"] is values["_hooks"] is None and not values["_retains_grad"], path
        assert (values["_node"] is not None) == (path == "record"), path
        assert values["requires_grad"] == (path in ("_wrap", "record", "Parameter")), path
        assert not t.__dict__, path  # nothing set outside the slots


@pytest.mark.parametrize(
    "spec,name",
    [
        ("float32", "float32"),
        (lucid.float16, "float16"),
        ("bfloat16", "bfloat16"),
        (lucid.int32, "int32"),
        ("int64", "int64"),
        (lucid.bool_, "bool"),
        (bool, "bool"),
        (float, "float32"),
        (int, "int64"),
        (np.float64, "float64"),
        (np.dtype("int32"), "int32"),
        (mx.float16, "float16"),
        ("lucid.float32", "float32"),
        (lucid.double, "float64"),
    ],
)
def test_dtype_specs(spec, name):
    t = lucid.tensor([1, 0], dtype=spec)
    assert t.dtype == name and t.dtype == getattr(lucid, "bool_" if name == "bool" else name)
    assert repr(t.dtype) == f"lucid.{name}"
    np.testing.assert_array_equal(
        t.numpy(), np.array([1, 0]).astype("float32" if name == "bfloat16" else name)
    )


def test_dtype_properties_and_equality():
    assert lucid.float32.is_floating_point and lucid.bfloat16.is_floating_point
    assert not lucid.int64.is_floating_point and not lucid.bool_.is_floating_point
    assert lucid.float32 == "float32" and lucid.float32 != lucid.float16 and lucid.float32 != 3
    assert lucid.tensor([1.0]).is_floating_point() and not lucid.tensor([1]).is_floating_point()
    assert len({lucid.float32, lucid.dtypes.float_, lucid.float16}) == 2


@pytest.mark.parametrize(
    "data,kwargs,error,pattern",
    [
        ("abc", {}, TypeError, "numpy dtype <U3"),
        (None, {}, TypeError, "numpy dtype object"),
        ([1.0], {"dtype": "float8"}, TypeError, "unknown dtype 'float8'"),
        ([1.0], {"dtype": np.complex64}, TypeError, "complex64"),
        ([1.0], {"device": "tpu"}, ValueError, "unknown device 'tpu'"),
        ([1, 2], {"requires_grad": True}, TypeError, "floating-point.*lucid.int64"),
        ([True], {"requires_grad": True}, TypeError, "floating-point.*lucid.bool"),
    ],
)
def test_bad_construction(data, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        lucid.tensor(data, **kwargs)


# --- creation functions --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make,expected",
    [
        (lambda: lucid.zeros(2, 3), np.zeros((2, 3))),
        (lambda: lucid.zeros((2, 3)), np.zeros((2, 3))),
        (lambda: lucid.zeros(()), np.zeros(())),
        (lambda: lucid.ones([4]), np.ones(4)),
        (lambda: lucid.ones(2, 0), np.ones((2, 0))),
        (lambda: lucid.full((2, 2), 1.5), np.full((2, 2), 1.5)),
        (lambda: lucid.full(3, 7), np.full(3, 7)),
        (lambda: lucid.empty(2, 3), np.zeros((2, 3))),
        (lambda: lucid.arange(5), np.arange(5)),
        (lambda: lucid.arange(2, 9, 3), np.arange(2, 9, 3)),
        (lambda: lucid.arange(5, 0, -2), np.arange(5, 0, -2)),
        (lambda: lucid.arange(0.0, 1.0, 0.25), np.arange(0.0, 1.0, 0.25)),
        (lambda: lucid.arange(3, 1), np.arange(3, 1)),
        (lambda: lucid.linspace(0, 1, 5), np.linspace(0, 1, 5)),
        (lambda: lucid.linspace(-1, 1, 1), np.linspace(-1, 1, 1)),
        (lambda: lucid.linspace(0, 1, steps=3), np.linspace(0, 1, 3)),
        (lambda: lucid.randint(3, (4,)) * 0, np.zeros(4, np.int64)),
        (lambda: lucid.eye(3), np.eye(3)),
        (lambda: lucid.eye(2, 3), np.eye(2, 3)),
    ],
)
def test_creation_values(make, expected):
    t = make()
    assert t.shape == expected.shape
    assert t.dtype == ("int64" if expected.dtype.kind == "i" else "float32")
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-6)


def test_creation_options():
    t = lucid.zeros(2, dtype="float16", requires_grad=True)
    assert t.dtype == lucid.float16 and t.requires_grad and t.is_leaf
    assert lucid.full((2,), True).dtype == lucid.bool_
    assert lucid.arange(3, dtype="float32").tolist() == [0.0, 1.0, 2.0]
    assert lucid.ones(2, dtype=lucid.int32).dtype == lucid.int32


@pytest.mark.parametrize("like", ["zeros_like", "ones_like", "empty_like", "full_like"])
def test_like_functions(like):
    src = lucid.tensor(np.arange(6.0).reshape(2, 3), dtype="float16")
    args = (2.5,) if like == "full_like" else ()
    t = getattr(lucid, like)(src, *args)
    assert t.shape == (2, 3) and t.dtype == lucid.float16 and t.device == "cpu"
    assert np.all(
        t.numpy() == {"zeros_like": 0, "ones_like": 1, "empty_like": 0, "full_like": 2.5}[like]
    )
    assert getattr(lucid, like)(src, *args, dtype="int32").dtype == lucid.int32


@pytest.mark.parametrize(
    "call,error,pattern",
    [
        (lambda: lucid.zeros(2, -1), ValueError, r"non-negative.*\(2, -1\)"),
        (lambda: lucid.ones(2.5), TypeError, r"sizes must be ints, got \(2.5,\)"),
        (lambda: lucid.randn((2, 1.5)), TypeError, "sizes must be ints"),
        (lambda: lucid.arange(0, 5, 0), ValueError, "step must not be zero"),
        (lambda: lucid.ones(2, dtype="float8"), TypeError, "float8"),
        (lambda: lucid.randint(5, 5, (2,)), ValueError, r"empty range \[5, 5\)"),
    ],
)
def test_bad_creation(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# --- random ------------------------------------------------------------------------------------
def _draws():
    return [
        lucid.randn(2, 3),
        lucid.rand(4),
        lucid.randint(0, 10, (5,)),
        lucid.random.uniform(-1, 1, (3,)),
        lucid.random.normal(2.0, 0.5, 3),
        lucid.random.permutation(6),
        lucid.randn_like(lucid.zeros(2)),
        lucid.rand_like(lucid.zeros(2)),
    ]


def test_seed_makes_every_random_call_reproducible():
    lucid.random.seed(123)
    first = [t.numpy() for t in _draws()]
    lucid.random.seed(123)
    again = [t.numpy() for t in _draws()]
    lucid.random.seed(124)
    other = [t.numpy() for t in _draws()]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not all(np.array_equal(a, c) for a, c in zip(first, other))
    # successive draws after one seed differ from each other
    lucid.random.seed(5)
    assert not np.array_equal(lucid.randn(8).numpy(), lucid.randn(8).numpy())


def test_random_distributions():
    lucid.random.seed(0)
    n = lucid.randn(20000).numpy()
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1) < 0.05
    u = lucid.rand(20000).numpy()
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.02
    r = lucid.randint(-3, 4, size=(1000,))
    assert r.dtype == lucid.int64 and set(r.numpy().tolist()) == set(range(-3, 4))
    assert set(lucid.randint(3, size=100).numpy().tolist()) <= {0, 1, 2}
    assert sorted(lucid.random.permutation(7).tolist()) == list(range(7))
    assert lucid.randn(2, 3, dtype="float16").dtype == lucid.float16
    assert lucid.randn((2, 3)).shape == (2, 3)
    assert lucid.rand(2, requires_grad=True).requires_grad


# --- devices -----------------------------------------------------------------------------------
def test_cpu_device():
    t = lucid.tensor([1.0, 2.0], device="cpu")
    assert t.device == "cpu" and t.cpu() is t and t.to("cpu") is t
    assert lucid.zeros(2, device="CPU").device == "cpu"
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        t.to("tpu")


@pytest.mark.skipif(B.gpu_available(), reason="tests the fallback where MLX has no GPU")
def test_gpu_falls_back_to_cpu_with_one_warning(monkeypatch):
    monkeypatch.setattr(backend_core, "_warned_no_gpu", False)
    t = lucid.tensor([1.0, 2.0], requires_grad=True)
    with pytest.warns(RuntimeWarning, match="no GPU") as record:
        g = t.gpu()
    assert len(record) == 1 and g.device == "cpu" and g.tolist() == [1.0, 2.0]
    assert record[0].filename == __file__  # it points at the user's line, not into Lucid
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the warning is given once per process, not per call
        assert t.to("gpu").device == "cpu"
        assert lucid.zeros(2, device="gpu").device == "cpu"
        assert lucid.tensor([1.0], device="gpu:0").device == "cpu"
    with pytest.raises(RuntimeError, match="'cuda' is not available"):
        lucid.tensor([1.0], device="cuda")  # a named kind of GPU never runs on the CPU
    # float64 is fine there, since the data really stays on the CPU
    assert lucid.ones(2, dtype="float64", device="gpu").device == "cpu"
    (g * 3).sum().backward()
    assert t.grad.tolist() == [3.0, 3.0]


@pytest.mark.gpu
def test_gpu_device_where_available():
    t = lucid.tensor([1.0, 2.0], requires_grad=True)
    g = t.gpu()
    assert g.device == "gpu" and (g * 2).device == "gpu"
    (g * 2).sum().backward()
    assert t.grad.tolist() == [2.0, 2.0] and t.grad.device == "cpu"
    assert g.cpu().device == "cpu"
    with pytest.raises(TypeError, match="float64"):
        lucid.ones(2, dtype="float64").gpu()


def test_device_info():
    info = lucid.device_info()
    assert info["default"] == "cpu" and info["gpu"] in (None, "metal", "cuda")


# --- printing ----------------------------------------------------------------------------------
def test_repr_follows_the_reference_page():
    x = lucid.tensor([[1.0, 2.0]], requires_grad=True)
    assert repr(x) == "Tensor([[1.0, 2.0]], requires_grad=True)"
    assert repr(x * 2) == "Tensor([[2.0, 4.0]], grad=None)"
    assert repr(lucid.tensor([[1.0, 2.0]])) == "Tensor([[1.0, 2.0]])"
    assert (
        repr(lucid.tensor([[1.0, 2.0], [3.0, 4.0]])) == "Tensor([[1.0, 2.0],\n        [3.0, 4.0]])"
    )
    assert repr(lucid.tensor(3.0)) == "Tensor(3.0)"
    assert repr(lucid.tensor([1, 2])) == "Tensor([1, 2])"
    assert repr(lucid.tensor([0.5], dtype="float16")) == "Tensor([0.5], dtype=lucid.float16)"
    assert repr(lucid.tensor([1e-8, 0.1])) == "Tensor([1.0e-08, 1.0e-01])"
    x.sum().backward()
    assert repr(x.grad) == "Tensor([[1.0, 1.0]])"


def test_str_is_readable_and_elides_large_tensors():
    assert str(lucid.tensor([[1.0, 2.0]])) == "[[1.0, 2.0]]"
    big = str(lucid.arange(20000).reshape(100, 200))
    assert "..." in big and len(big) < 2000
    assert str(lucid.zeros(0, 3)) == "[]"


# --- conversions and protocols -----------------------------------------------------------------
def test_conversions():
    t = lucid.tensor([[1.0, 2.0], [3.0, 4.0]])
    n = t.numpy()
    n[0, 0] = 99.0  # a copy: the tensor is unchanged
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]] and isinstance(n, np.ndarray)
    assert np.asarray(t).dtype == np.float32 and np.asarray(t, dtype=np.float64).dtype == np.float64
    assert lucid.tensor([2.5]).item() == 2.5 and isinstance(lucid.tensor(3).item(), int)
    assert float(lucid.tensor(2.5)) == 2.5 and int(lucid.tensor([7])) == 7
    assert bool(lucid.tensor([1.0])) and not bool(lucid.tensor(0))
    assert [10, 20, 30][lucid.tensor(1)] == 20
    assert t.astype("int32").dtype == lucid.int32 and t.to(dtype="float16").dtype == "float16"
    assert t.to(lucid.bfloat16).dtype == lucid.bfloat16
    assert t.to("cpu", lucid.int32).dtype == "int32"
    assert lucid.tensor([1.5], dtype="bfloat16").numpy().dtype == np.float32
    assert t.T.tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert len(t) == 2 and [r.tolist() for r in t] == [[1.0, 2.0], [3.0, 4.0]]
    assert lucid.tensor(3.0).tolist() == 3.0


@pytest.mark.parametrize(
    "call,error,pattern",
    [
        (lambda: lucid.tensor([1.0, 2.0]).item(), ValueError, r"one element, got shape \(2,\)"),
        (lambda: bool(lucid.tensor([1.0, 2.0])), ValueError, "ambiguous"),
        (lambda: len(lucid.tensor(1.0)), TypeError, "0-d"),
        (lambda: iter(lucid.tensor(1.0)), TypeError, "0-d"),
        (lambda: [1, 2][lucid.tensor(1.0)], TypeError, "integer tensors"),
    ],
)
def test_bad_conversions(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_tensors_are_hashable_by_identity():
    a, b = lucid.tensor([1.0]), lucid.tensor([1.0])
    assert len({a, b, a}) == 2


@pytest.mark.parametrize(
    "data,dtype",
    [
        ([2**63], None),
        ([2**70], None),
        ([-(2**63) - 1], None),
        ([300], "uint8"),
        ([-1], "uint8"),
        ([2**31], "int32"),
        (np.array([2**40]), "int32"),
        ([128], "int8"),
        (np.array([2**63], dtype=np.uint64), "int64"),
    ],
)
def test_integers_out_of_the_dtype_range_are_refused_not_wrapped(data, dtype):
    with pytest.raises(OverflowError, match="does not fit dtype"):
        lucid.tensor(data, dtype=dtype)


def test_integers_at_the_dtype_limits_are_kept_exactly():
    assert lucid.tensor([2**63 - 1, -(2**63)]).tolist() == [2**63 - 1, -(2**63)]
    assert lucid.tensor([0, 255], dtype="uint8").tolist() == [0, 255]
    assert lucid.tensor([2**70], dtype="float64").item() == float(2**70)
