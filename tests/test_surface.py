"""The public surface: ``lucid.*``, ``Tensor.*`` and ``lucid.nn.functional.*`` checked against the
one op table (lucid/_methods.py), and the PyTorch-style Tensor API (sizes, conversions, new_*,
in-place ops, logical operators, formatting) checked as plain values and against torch when it is
installed."""

import ast
import inspect
import textwrap

import numpy as np
import pytest

import lucid
import lucid.nn.functional as F
from lucid import _gen_methods as gen, ops
from lucid._gen_methods import COMMAND, main, method_source, stale
from lucid._methods import FP32, HALF, OPS
from lucid.tensor import Tensor

# names kept for numpy (or Lucid) behaviour, which PyTorch does not have
NOT_IN_TORCH = {"astype", "expand_dims", "permute_dims", "to_device", "pad"}


def _params(fn, drop_first):
    params = list(inspect.signature(fn).parameters.values())
    params = params[1:] if drop_first else params
    return [(p.name, p.kind, p.default) for p in params]


def _names(surface):
    return sorted(n for n, op in OPS.items() if surface in op.surfaces)


# --- the table ---------------------------------------------------------------------------------
def test_the_generated_blocks_are_what_the_table_implies():
    # Tensor's op methods, lucid.ops' imports and __all__, nn.functional's re-exports
    assert not stale(), f"{stale()} out of date with lucid/_methods.py: run `{COMMAND}`"
    assert main(["--check"]) == 0


@pytest.mark.parametrize("name", _names("T"))
def test_methods_are_defined_on_the_class_with_the_function_signature(name):
    fn = OPS[name].fn
    method = Tensor.__dict__.get(name)
    hint = f"; run `{COMMAND}`, which writes into lucid/tensor.py:\n{method_source(name)}"
    assert method is not None, f"Tensor.{name} is not defined in the class body" + hint
    assert method.__qualname__ == f"Tensor.{name}", f"Tensor.{name} is bound, not defined"
    assert inspect.getsourcefile(inspect.unwrap(method)).endswith("tensor.py")
    assert _params(method, True) == _params(fn, True), f"Tensor.{name} differs" + hint
    assert getattr(method, "dim_aliases", False) == getattr(fn, "dim_aliases", False)


def test_methods_call_their_op_directly():
    # no layer between a method and its op: the body is ``return _ops.name(self, ...)``
    for name in _names("T"):
        _, ret = ast.parse(textwrap.dedent(method_source(name))).body[0].body
        assert isinstance(ret, ast.Return) and ast.unparse(ret.value.func) == f"_ops.{name}"


def test_the_generator_finds_and_rewrites_a_hand_edited_block(tmp_path, monkeypatch):
    for path in gen.BLOCKS:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text((gen.ROOT / path).read_text())
    tensor_py = tmp_path / "tensor.py"
    source = tensor_py.read_text()
    edited = source.replace("return _ops.exp(self)", "return _ops.exp(self) + 0")
    assert edited != source
    tensor_py.write_text(edited)
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    assert gen.stale() == ["lucid/tensor.py"] and gen.main(["--check"]) == 1
    assert gen.write() == ["lucid/tensor.py"] and tensor_py.read_text() == source
    assert gen.stale() == [] and gen.write() == []


def test_fallback_annotations_fill_only_gaps(monkeypatch):
    # the op's own annotation wins; an entry it makes redundant is listed, to be deleted
    assert not gen.unneeded_fallbacks(), "delete from lucid/_gen_methods.py (the op has them)"
    monkeypatch.setitem(gen.MISSING_ANNOTATIONS, "abs", {"return": "int", "y": "int"})
    assert gen.unneeded_fallbacks() == [
        "MISSING_ANNOTATIONS['abs']['return']",
        "MISSING_ANNOTATIONS['abs']['y']",
    ]
    assert "-> Tensor:" in gen.method_source("abs")
    assert "-> Tensor:" in gen.method_source("eq")  # eq's def has no return annotation


@pytest.mark.parametrize("name", _names("L"))
def test_lucid_functions_are_the_table_entries(name):
    fn = OPS[name].fn
    assert getattr(lucid, name) is fn and getattr(ops, name) is fn and name in ops.__all__


@pytest.mark.parametrize("name", _names("F"))
def test_functional_names_take_the_same_leading_arguments(name):
    fn = OPS[name].fn
    ours = [p[0] for p in _params(getattr(F, name), True)]
    theirs = [p[0] for p in _params(fn, True)]
    assert ours[: len(theirs)] == theirs


def test_every_exported_op_is_in_the_table():
    assert set(ops.__all__) == set(_names("L"))


def test_autocast_policy_is_an_attribute_of_each_op():
    # set from the table on every decorator layer (the op decorator's hook sees the inner one);
    # a function listed twice with two policies would fail here
    for name, op in OPS.items():
        assert op.autocast in (None, HALF, FP32), name
        fn = op.fn
        while fn is not None:
            assert fn.autocast == op.autocast, name
            fn = getattr(fn, "__wrapped__", None)
    assert lucid.matmul.autocast == HALF and lucid.sum.autocast == FP32
    assert lucid.add.autocast is None and F.mse_loss.autocast == FP32


def test_no_method_is_bound_outside_the_class_body():
    # an op-backed attribute added with setattr would hide from IDEs: every public function on
    # Tensor is written in tensor.py
    for name, attr in vars(Tensor).items():
        if callable(attr) and not name.startswith("__") and hasattr(attr, "__qualname__"):
            assert attr.__qualname__.startswith("Tensor."), name


def test_names_exist_in_torch():
    torch = pytest.importorskip("torch")
    for name, op in OPS.items():
        if name in NOT_IN_TORCH:
            continue
        if "T" in op.surfaces:
            assert hasattr(torch.Tensor, name), f"Tensor.{name} is not PyTorch's"
        if "L" in op.surfaces:
            assert hasattr(torch, name), f"lucid.{name} is not PyTorch's"
        if "F" in op.surfaces:
            assert hasattr(torch.nn.functional, name), f"F.{name} is not PyTorch's"


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.sum(dim=1, keepdim=True),
        lambda m: m.mean(dim=(0, 2)),
        lambda m: m.std(dim=0),
        lambda m: m.var(dim=1, keepdim=True),
        lambda m: m.amax(dim=1),
        lambda m: m.argmax(dim=2),
        lambda m: m.argmin(dim=0, keepdim=True),
        lambda m: m.prod(dim=2),
        lambda m: m.flatten(start_dim=1),
        lambda m: m.squeeze(dim=0),
        lambda m: m.unsqueeze(dim=0),
        lambda m: m.max(dim=1).values,
        lambda m: m.min(dim=1)[1],
        lambda m: m.split(2, dim=2)[1],
        lambda m: m.chunk(2, dim=1)[0],
        lambda m: m.repeat_interleave(2, dim=0),
        lambda m: m.transpose(dim0=0, dim1=2),
        lambda m: (m > 0).all(dim=1),
        lambda m: (m > 0).any(dim=2, keepdim=True),
        lambda m: m.sum(axis=1, keepdims=True),
        lambda m: m.mean(axis=0),
    ],
)
def test_dim_keepdim_keywords_match_torch(call):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((2, 3, 4))
    ours, theirs = call(lucid.tensor(a)), call(torch.tensor(a))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.logsumexp(dim=1),
        lambda m: m.softmax(dim=1),
        lambda m: m.log_softmax(dim=-1),
        lambda m: m.softmax(axis=0),
    ],
)
def test_dim_keywords_of_exp_based_ops_match_torch(call):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((2, 3, 4))
    ours, theirs = call(lucid.tensor(a)), call(torch.tensor(a))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-14)


def test_functions_take_dim_keywords():
    x = lucid.ones(2, 3)
    assert lucid.cat([x, x], dim=1).shape == (2, 6)
    assert lucid.stack([x, x], dim=2).shape == (2, 3, 2)
    assert lucid.softmax(x, dim=0).shape == F.softmax(x, dim=0).shape == (2, 3)
    assert lucid.argmax(x, dim=1, keepdim=True).shape == (2, 1)
    assert lucid.flatten(x, start_dim=0, end_dim=1).shape == (6,)


# --- sizes, conversions, new tensors -----------------------------------------------------------
def test_size_dim_numel():
    x = lucid.zeros(2, 3, 4)
    assert x.size() == (2, 3, 4) and isinstance(x.size(), lucid.Size)
    assert isinstance(x.shape, lucid.Size) and x.shape == x.size()
    assert x.size(0) == 2 and x.size(-1) == 4 and x.size(dim=1) == 3
    assert x.dim() == x.ndimension() == 3 and x.numel() == x.nelement() == 24
    assert lucid.numel(x) == 24 and x.size().numel() == 24
    with pytest.raises(IndexError, match="dim 3 is out of range for a tensor with 3 dim"):
        x.size(3)
    assert lucid.tensor(1.0).size() == () and lucid.tensor(1.0).dim() == 0


@pytest.mark.parametrize(
    "method,dtype,itemsize",
    [
        ("float", "float32", 4),
        ("double", "float64", 8),
        ("half", "float16", 2),
        ("bfloat16", "bfloat16", 2),
        ("long", "int64", 8),
        ("int", "int32", 4),
        ("short", "int16", 2),
        ("byte", "uint8", 1),
        ("bool", "bool", 1),
    ],
)
def test_dtype_conversions(method, dtype, itemsize):
    x = lucid.tensor([0.0, 1.0, 2.0])
    y = getattr(x, method)()
    assert y.dtype == dtype and y.element_size() == itemsize
    assert getattr(y, method)() is y  # already that dtype: the same tensor, as PyTorch
    assert x.type_as(y).dtype == dtype


def test_clone_contiguous_and_as_methods():
    x = lucid.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    c = x.clone()
    assert c is not x and c.tolist() == x.tolist() and not c.is_leaf
    with lucid.no_grad():
        c[0, 0] = 9.0  # the clone has its own storage
    assert x[0, 0].item() == 1.0
    (c * 2).sum().backward()
    assert x.grad.tolist() == [[2.0, 2.0], [2.0, 2.0]]
    assert x.contiguous() is x and x.is_contiguous()
    assert x.t().tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert x.view_as(lucid.zeros(4)).shape == (4,) and x.reshape_as(lucid.zeros(1, 4)).shape == (
        1,
        4,
    )
    assert lucid.ones(1, 2).expand_as(x).shape == (2, 2)


def test_new_tensors_take_dtype_and_device_from_self():
    x = lucid.ones(2, dtype=lucid.float16)
    for t, shape, value in (
        (x.new_zeros(3, 2), (3, 2), 0),
        (x.new_ones((2,)), (2,), 1),
        (x.new_full((2, 2), 7), (2, 2), 7),
        (x.new_empty(1), (1,), 0),
        (x.new_tensor([5, 6]), (2,), None),
    ):
        assert t.dtype == lucid.float16 and t.shape == shape and t.device == x.device
        if value is not None:
            assert (t == value).all().item()
    assert x.new_zeros(2, dtype=lucid.int64).dtype == lucid.int64
    assert x.new_tensor([5, 6]).tolist() == [5.0, 6.0]


def test_format_of_0d_tensors():
    loss = lucid.tensor(0.123456)
    assert f"{loss:.4f}" == "0.1235" and f"{lucid.tensor(3):>3d}" == "  3"
    assert f"{loss}" == str(loss)
    with pytest.raises(TypeError):
        f"{lucid.ones(2):.2f}"


# --- in-place ------------------------------------------------------------------------------------
def test_augmented_assignment_writes_in_place():
    y = lucid.tensor([1.0, 2.0])
    alias = y
    y += 1
    y *= 3
    y -= lucid.tensor([1.0, 1.0])
    y /= 2
    assert y is alias and y.tolist() == [2.5, 4.0]
    i = lucid.tensor([1, 2])
    i += 1
    assert i.dtype == lucid.int64 and i.tolist() == [2, 3]
    with pytest.raises(TypeError, match="float32.*int64"):
        i /= 2  # PyTorch: the float result cannot be written into an integer tensor
    h = lucid.ones(2, dtype=lucid.float16)
    h += lucid.ones(2)  # the tensor keeps its dtype
    assert h.dtype == lucid.float16 and h.tolist() == [2.0, 2.0]
    with pytest.raises(ValueError, match=r"shape \(2, 2\).*shape \(2,\)"):
        y += lucid.ones(2, 2)


def test_in_place_methods():
    x = lucid.tensor([1.0, -2.0, 3.0])
    assert x.add_(1) is x and x.tolist() == [2.0, -1.0, 4.0]
    assert x.sub_(lucid.ones(3), alpha=2).tolist() == [0.0, -3.0, 2.0]
    assert x.mul_(2).tolist() == [0.0, -6.0, 4.0]
    assert x.div_(2).tolist() == [0.0, -3.0, 2.0]
    assert x.clamp_(-1, 1).tolist() == [0.0, -1.0, 1.0]
    assert x.pow_(2).tolist() == [0.0, 1.0, 1.0]
    assert x.fill_(7).tolist() == [7.0, 7.0, 7.0]
    assert x.zero_().tolist() == [0.0, 0.0, 0.0]
    assert x.copy_(lucid.tensor([1, 2, 3])).tolist() == [1.0, 2.0, 3.0] and x.dtype == "float32"
    assert x.copy_(lucid.tensor(5.0)).tolist() == [5.0, 5.0, 5.0]  # broadcast
    lucid.manual_seed(0)
    n = lucid.zeros(20_000).normal_(2.0, 0.5)
    assert abs(n.mean().item() - 2.0) < 0.02 and abs(n.std().item() - 0.5) < 0.02
    u = lucid.zeros(20_000).uniform_(-1.0, 3.0)
    assert u.min().item() >= -1.0 and u.max().item() < 3.0
    u.uniform_(**{"from": 5.0, "to": 6.0})
    assert u.min().item() >= 5.0


@pytest.mark.parametrize("name", ["abs", "neg", "exp", "log", "sqrt", "relu", "sigmoid", "tanh"])
def test_unary_in_place_methods(name):
    a = np.array([0.5, 1.5, 2.0])
    x = lucid.tensor(a)
    assert getattr(x, name + "_")() is x
    np.testing.assert_allclose(x.numpy(), getattr(lucid.tensor(a), name)().numpy(), rtol=1e-7)


def test_tensor_where():
    x = lucid.tensor([1.0, -2.0])
    assert x.where(x > 0, 0.0).tolist() == [1.0, 0.0]


def test_in_place_on_a_leaf_that_requires_grad_raises():
    w = lucid.ones(3, requires_grad=True)
    for write in (lambda: w.add_(1), lambda: w.zero_(), lambda: w.mul_(2)):
        with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
            write()
    with pytest.raises(RuntimeError, match="leaf"):
        w += 1
    with lucid.no_grad():
        w -= 0.5  # an optimizer-style update
        w.mul_(2)
    assert w.tolist() == [1.0, 1.0, 1.0] and w.is_leaf and w.requires_grad


def test_in_place_on_an_intermediate_is_recorded():
    torch = pytest.importorskip("torch")
    a = np.array([0.5, -1.0, 2.0])

    def residual(lib, x):
        out = x * 3
        out += x * x  # the residual pattern: out += identity
        out.mul_(x)
        out.clamp_(max=5.0)
        return out.sum()

    x, t = lucid.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    ours, theirs = residual(lucid, x), residual(torch, t)
    ours.backward()
    theirs.backward()
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_in_place_with_a_grad_requiring_operand_joins_the_graph():
    w = lucid.tensor([2.0, 3.0], requires_grad=True)
    buf = lucid.zeros(2)
    buf += w * w
    assert buf.requires_grad and not buf.is_leaf
    buf.sum().backward()
    assert w.grad.tolist() == [4.0, 6.0]


# --- logical operators, dtypes, creation, seeds, modes -----------------------------------------
def test_logical_and_bitwise_operators():
    a, b = lucid.tensor([True, True, False]), lucid.tensor([True, False, False])
    assert (a & b).tolist() == [True, False, False] and (a | b).tolist() == [True, True, False]
    assert (a ^ b).tolist() == [False, True, False] and (~a).tolist() == [False, False, True]
    assert (a & b).dtype == lucid.bool
    i, j = lucid.tensor([12, 10]), lucid.tensor([10, 6])
    assert (i & j).tolist() == [8, 2] and (i | j).tolist() == [14, 14]
    assert (i ^ j).tolist() == [6, 12] and (~i).tolist() == [-13, -11]
    assert (i & 4).tolist() == [4, 0] and (4 | i).tolist() == [12, 14]
    x = lucid.ones(2)
    mask = (x > 0) & (x < 2)
    assert mask.tolist() == [True, True]
    with pytest.raises(TypeError, match="bool or integer"):
        x & x
    with pytest.raises(TypeError, match="bool or integer"):
        ~x
    assert lucid.logical_and(x, lucid.zeros(2)).tolist() == [False, False]
    assert lucid.logical_xor(x, lucid.zeros(2)).tolist() == [True, True]
    m = lucid.tensor([True, False])
    m &= lucid.tensor([False, False])
    assert m.tolist() == [False, False]


def test_logical_operators_match_torch():
    torch = pytest.importorskip("torch")
    a, b = np.array([5, -3, 0, 7]), np.array([3, 6, -1, 7])
    for op in (
        lambda x, y: x & y,
        lambda x, y: x | y,
        lambda x, y: x ^ y,
        lambda x, y: ~x,
        lambda x, y: (x > 0) & (y > 0),
        lambda x, y: ~(x > y),
    ):
        np.testing.assert_array_equal(
            op(lucid.tensor(a), lucid.tensor(b)).numpy(),
            op(torch.tensor(a), torch.tensor(b)).numpy(),
        )


def test_dtype_names():
    assert lucid.bool == lucid.bool_ and lucid.tensor([True]).dtype == lucid.bool
    assert lucid.float == lucid.float32 and lucid.int == lucid.int32
    assert lucid.long == lucid.int64 and lucid.half == lucid.float16 and lucid.short == lucid.int16
    assert lucid.ones(2, dtype=lucid.bool).dtype == "bool"


def test_numpy_arrays_keep_their_dtype():
    assert lucid.tensor(np.zeros(2)).dtype == lucid.float64
    assert lucid.tensor(np.zeros(2, np.int32)).dtype == lucid.int32
    assert lucid.tensor([0.5, 1.0]).dtype == lucid.float32 and lucid.tensor([1]).dtype == "int64"
    a = np.arange(3.0)
    t = lucid.from_numpy(a)
    assert t.dtype == lucid.float64 and t.tolist() == [0.0, 1.0, 2.0]
    a[0] = 9  # a copy (MLX cannot share numpy's memory): see docs/coming-from-pytorch.md
    assert t[0].item() == 0.0
    with pytest.raises(TypeError, match="numpy.ndarray"):
        lucid.from_numpy([1, 2])
    assert lucid.as_tensor(t) is t and lucid.as_tensor(t, dtype=lucid.float32).dtype == "float32"
    assert lucid.as_tensor([1.0, 2.0]).dtype == lucid.float32
    assert lucid.is_tensor(t) and not lucid.is_tensor(a)


def test_numpy_dtypes_match_torch():
    torch = pytest.importorskip("torch")
    for a in (
        np.zeros(2),
        np.zeros(2, np.float32),
        np.zeros(2, np.int32),
        np.zeros(2, np.int64),
        np.zeros(2, bool),
        np.zeros(2, np.uint8),
        np.float64(1.5),
    ):
        assert lucid.tensor(a).dtype.name == str(torch.tensor(a).dtype).replace("torch.", "")
    for data in ([1.5], [1], [True], 2.0):
        assert lucid.tensor(data).dtype.name == str(torch.tensor(data).dtype).replace("torch.", "")


def test_manual_seed_and_randint_forms():
    lucid.manual_seed(3)
    a = lucid.randn(4)
    lucid.manual_seed(3)
    assert (lucid.randn(4) == a).all().item()
    r = lucid.randint(3, (50,))
    assert r.shape == (50,) and set(r.tolist()) <= {0, 1, 2}
    assert set(lucid.randint(5, 7, (50,)).tolist()) <= {5, 6}


def test_inference_mode():
    x = lucid.ones(2, requires_grad=True)
    with lucid.inference_mode():
        assert not (x * 2).requires_grad
    with lucid.inference_mode(False):
        assert (x * 2).requires_grad

    @lucid.inference_mode()
    def f(t):
        return t * 2

    @lucid.inference_mode
    def g(t):
        return t * 2

    assert not f(x).requires_grad and not g(x).requires_grad
    assert (x * 2).requires_grad
