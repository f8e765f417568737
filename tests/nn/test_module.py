"""Module system: registration, traversal order, state_dict round trips and errors, modes,
devices/dtypes, hooks, repr, and the containers (Sequential, ModuleList, ModuleDict)."""

import copy
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import lucid
import lucid.nn as nn
from lucid.nn import Parameter
from lucid.nn.modules.module import StateDictError


class Block(nn.Module):
    """A small layer with a parameter, an optional bias, a buffer and a non-persistent buffer."""

    def __init__(self, n=3, bias=True):
        super().__init__()
        self.weight = Parameter(lucid.randn(n, n))
        self.bias = Parameter(lucid.randn(n)) if bias else None
        self.register_buffer("running", lucid.arange(n).astype("float32"))
        self.register_buffer("count", lucid.tensor(0))
        self.register_buffer("scratch", lucid.zeros(2), persistent=False)

    def forward(self, x):
        y = x @ self.weight
        return y if self.bias is None else y + self.bias


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Block()
        self.act = nn.ReLU()
        self.b = Block(bias=False)
        self.scale = Parameter(lucid.ones(1))

    def forward(self, x):
        return self.b(self.act(self.a(x))) * self.scale


def _values(module):
    return {k: v.numpy().copy() for k, v in module.state_dict().items()}


# --- registration -------------------------------------------------------------------------------
def test_registration_and_naming_order():
    net = Net()
    assert [k for k, _ in net.named_parameters()] == ["scale", "a.weight", "a.bias", "b.weight"]
    assert [k for k, _ in net.named_buffers()] == [
        "a.running",
        "a.count",
        "a.scratch",
        "b.running",
        "b.count",
        "b.scratch",
    ]
    assert [k for k, _ in net.named_children()] == ["a", "act", "b"]
    assert [k for k, _ in net.named_modules()] == ["", "a", "act", "b"]
    assert list(net.children()) == [net.a, net.act, net.b]
    assert len(list(net.parameters(recurse=False))) == 1
    assert net.num_parameters() == 1 + 9 + 3 + 9
    assert isinstance(net.a.weight, Parameter) and net.a.weight.requires_grad
    assert "weight" in dir(net.a)


def test_none_parameter_and_reassignment():
    blk = Block()
    blk.bias = None  # a registered parameter set to None stays registered but is skipped
    assert "bias" in blk._parameters and blk.bias is None
    assert [k for k, _ in blk.named_parameters()] == ["weight"]
    assert "bias" not in blk.state_dict()
    blk.bias = Parameter(lucid.zeros(3))
    assert [k for k, _ in blk.named_parameters()] == ["weight", "bias"]
    with pytest.raises(TypeError, match="Parameter or None"):
        blk.weight = lucid.zeros(3, 3)  # a plain Tensor is not a parameter
    blk.register_parameter("extra", None)
    assert blk.extra is None


def test_reassigning_a_name_moves_it_between_kinds():
    m = nn.Module()
    m.x = Parameter(lucid.zeros(2))
    m.x = nn.ReLU()
    assert "x" not in m._parameters and m._modules["x"] is m.x
    del m.x
    assert not hasattr(m, "x")
    m.plain = 3
    assert m.plain == 3 and "plain" in m.__dict__


def test_assigning_before_init_and_bad_registrations_fail():
    class Bad(nn.Module):
        def __init__(self):
            self.w = Parameter(lucid.zeros(1))
            super().__init__()

    with pytest.raises(AttributeError, match=r"super\(\)\.__init__\(\) first"):
        Bad()
    m = nn.Module()
    with pytest.raises(KeyError, match="'.'"):
        m.register_buffer("a.b", lucid.zeros(1))
    with pytest.raises(TypeError, match="Tensor or None"):
        m.register_buffer("buf", np.zeros(2))
    with pytest.raises(TypeError, match="Parameter"):
        m.register_parameter("p", lucid.zeros(1))
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("train", lucid.zeros(1))
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        m.missing  # noqa: B018
    with pytest.raises(NotImplementedError, match="forward"):
        m(1)


def test_shared_parameters_are_listed_once():
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    b.weight = a.weight
    seq = nn.Sequential(a, b, a)
    assert len(list(seq.parameters())) == 3  # a.weight, a.bias, b.bias
    assert [k for k, _ in seq.named_modules()] == ["", "0", "1"]
    assert list(seq.state_dict()) == [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "2.weight",
        "2.bias",
    ]


# --- Parameter -----------------------------------------------------------------------------------
def test_parameter_data_assignment_in_place():
    p = Parameter(lucid.zeros(2, 2))
    holder = p
    p.data = [[1, 2], [3, 4]]
    assert holder.dtype == lucid.float32 and holder.tolist() == [[1, 2], [3, 4]]
    p.data = np.arange(6, dtype=np.float64).reshape(3, 2)  # shape may change, dtype stays
    assert p.shape == (3, 2) and p.dtype == lucid.float32
    p.data = lucid.full((2,), 5.0, dtype="float64")
    assert p.tolist() == [5.0, 5.0] and p.dtype == lucid.float32
    assert p.requires_grad and p.is_leaf
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [10.0, 10.0])
    with pytest.raises(TypeError, match="floating"):
        Parameter(lucid.tensor([1, 2]))
    assert not Parameter(lucid.tensor([1, 2]), requires_grad=False).requires_grad
    assert Parameter().shape == (0,)


# --- state_dict ---------------------------------------------------------------------------------
def test_state_dict_round_trip_is_bit_exact():
    lucid.random.seed(1)
    src, dst = Net(), Net()
    src.a.count.data = lucid.tensor(7).data
    state = src.state_dict()
    assert list(state) == [
        "scale",
        "a.weight",
        "a.bias",
        "a.running",
        "a.count",
        "b.weight",
        "b.running",
        "b.count",
    ]  # no non-persistent buffer
    weight_obj = dst.a.weight
    result = dst.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert dst.a.weight is weight_obj  # loaded in place
    for k, v in dst.state_dict().items():
        assert v.dtype == state[k].dtype
        np.testing.assert_array_equal(v.numpy(), state[k].numpy())
    assert dst.a.count.dtype == lucid.int64 and dst.a.count.item() == 7
    # a float64 copy (e.g. from numpy) is cast to the model's dtype on load
    dst.load_state_dict(
        {
            k: v.numpy().astype(np.float64) if v.is_floating_point() else v.numpy()
            for k, v in state.items()
        }
    )
    assert dst.a.weight.dtype == lucid.float32
    np.testing.assert_array_equal(dst.a.weight.numpy(), state["a.weight"].numpy())


def test_state_dict_is_a_snapshot():
    blk = Block()
    state = blk.state_dict()
    before = state["weight"].numpy().copy()
    with lucid.no_grad():
        blk.weight[0, 0] = 100.0
    blk.bias.data = lucid.zeros(3)
    np.testing.assert_array_equal(state["weight"].numpy(), before)
    assert not state["weight"].requires_grad
    assert blk.state_dict(keep_vars=True)["weight"] is blk.weight


def test_load_state_dict_errors_leave_the_module_unchanged():
    lucid.random.seed(2)
    net = Net()
    before = _values(net)
    good = Net().state_dict()
    bad = OrderedDict(good)
    del bad["a.bias"]
    bad["b.bias"] = lucid.zeros(3)
    bad["b.weight"] = lucid.zeros(4, 3)
    with pytest.raises(StateDictError) as info:
        net.load_state_dict(bad)
    msg = str(info.value)
    assert "missing key(s): a.bias" in msg and "unexpected key(s): b.bias" in msg
    assert "b.weight: shape (4, 3) in the state dict, (3, 3) in the model" in msg
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ValueError)
    for k, v in _values(net).items():
        np.testing.assert_array_equal(v, before[k])  # the valid entries were not loaded either
    # non-strict: mis-shaped entries still raise ...
    with pytest.raises(StateDictError, match="b.weight"):
        net.load_state_dict(bad, strict=False)
    # ... while missing/unexpected keys are reported and the rest is loaded
    bad["b.weight"] = good["b.weight"]
    result = net.load_state_dict(bad, strict=False)
    assert result.missing_keys == ["a.bias"] and result.unexpected_keys == ["b.bias"]
    np.testing.assert_array_equal(net.a.bias.numpy(), before["a.bias"])
    np.testing.assert_array_equal(net.a.weight.numpy(), good["a.weight"].numpy())
    with pytest.raises(TypeError, match="dict"):
        net.load_state_dict([1, 2])


# --- modes, gradients, devices, apply ------------------------------------------------------------
def test_train_eval_propagate():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5), nn.ReLU()))
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net[1].train()
    assert not net.training and net[1].training and net[1][0].training
    with pytest.raises(TypeError):
        net.train("yes")


def test_zero_grad_and_requires_grad():
    net = Net()
    net(lucid.randn(2, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.a.requires_grad_(False)
    assert net.num_parameters(trainable_only=True) == 1 + 9
    assert not net.a.weight.requires_grad and net.b.weight.requires_grad


def test_to_changes_dtype_in_place_and_keeps_references():
    net = Net()
    net(lucid.randn(2, 3)).sum().backward()
    w = net.a.weight
    assert net.to(lucid.float64) is net
    assert net.a.weight is w and w.dtype == lucid.float64 and w.grad.dtype == lucid.float64
    assert net.a.running.dtype == lucid.float64 and net.a.count.dtype == lucid.int64
    out = net(lucid.randn(2, 3, dtype="float64"))
    assert out.dtype == lucid.float64
    net.float()
    assert w.dtype == lucid.float32
    with pytest.raises(TypeError, match="floating"):
        net.to(dtype="int32")


def test_to_device_moves_parameters_and_buffers_in_place():
    net = Net()
    w = net.a.weight
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no GPU here: falls back to the CPU
        net.to("gpu")
    expected = "gpu" if lucid.device_info()["gpu"] else "cpu"
    assert net.a.weight is w
    assert all(t.device == expected for t in list(net.parameters()) + list(net.buffers()))
    net.to(device="cpu")
    assert all(t.device == "cpu" for t in list(net.parameters()) + list(net.buffers()))
    with pytest.raises(ValueError, match="unknown device"):
        net.to("tpu")


def test_float64_to_gpu_is_refused_before_anything_moves():
    if not lucid.device_info()["gpu"]:
        pytest.skip("no GPU: 'gpu' is the CPU here")
    net = Net().double()
    with pytest.raises(TypeError, match="float64"):
        net.to("gpu")
    assert all(p.device == "cpu" for p in net.parameters())


def test_apply_visits_children_first():
    net = Net()
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Block", "ReLU", "Block", "Net"]

    def init_weights(m):
        if isinstance(m, Block):
            m.weight.data = lucid.ones(3, 3)

    net.apply(init_weights)
    assert np.all(net.a.weight.numpy() == 1) and np.all(net.b.weight.numpy() == 1)


def test_forward_hooks():
    lin = nn.Linear(2, 2)
    calls = []
    h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    h2 = lin.register_forward_hook(lambda m, args, out: calls.append(out.shape) or out + 1)
    out = lin(lucid.ones(1, 2))
    np.testing.assert_allclose(out.numpy(), lin.bias.numpy()[None] + 1, rtol=1e-6)
    assert calls == [(1, 2)]
    h1.remove()
    h2.remove()
    x = lucid.ones(1, 2)
    np.testing.assert_allclose(
        lin(x).numpy(), x.numpy() @ lin.weight.numpy().T + lin.bias.numpy(), rtol=1e-6
    )


def test_deepcopy_is_independent():
    net = Net()
    twin = copy.deepcopy(net)
    assert twin.a.weight is not net.a.weight and isinstance(twin.a.weight, Parameter)
    np.testing.assert_array_equal(twin.a.weight.numpy(), net.a.weight.numpy())
    twin.a.weight.data = lucid.zeros(3, 3)
    assert not np.all(net.a.weight.numpy() == 0)


# --- repr ----------------------------------------------------------------------------------------
def test_repr_prints_the_tree():
    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def extra_repr(self):
            return "classes=2"

    model = nn.Sequential(OrderedDict(body=nn.Sequential(nn.Flatten(), nn.ReLU()), head=Head()))
    assert repr(model) == (
        "Sequential(\n"
        "  (body): Sequential(\n"
        "    (0): Flatten(start_dim=1, end_dim=-1)\n"
        "    (1): ReLU()\n"
        "  )\n"
        "  (head): Head(\n"
        "    classes=2\n"
        "    (fc): Linear(in_features=4, out_features=2, bias=True)\n"
        "  )\n"
        ")"
    )
    assert repr(nn.Module()) == "Module()"


# --- containers ----------------------------------------------------------------------------------
def test_sequential_indexing_slicing_and_forward():
    lucid.random.seed(3)
    l1, l2 = nn.Linear(3, 4), nn.Linear(4, 2)
    seq = nn.Sequential(l1, nn.Tanh(), l2)
    assert len(seq) == 3 and seq[0] is l1 and seq[-1] is l2 and list(seq)[1].__class__ is nn.Tanh
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and len(sub) == 2 and sub[1] is l2
    assert list(sub._modules) == ["1", "2"]
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    h = np.tanh(x.astype(np.float64) @ l1.weight.numpy().T + l1.bias.numpy())
    expected = h @ l2.weight.numpy().T + l2.bias.numpy()
    np.testing.assert_allclose(seq(lucid.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)
    seq.append(nn.ReLU())
    assert len(seq) == 4 and list(seq._modules) == ["0", "1", "2", "3"]
    assert [k for k, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    with pytest.raises(IndexError, match="out of range"):
        seq[4]
    with pytest.raises(TypeError, match="Module"):
        seq.append(lambda x: x)
    named = nn.Sequential(OrderedDict(first=nn.ReLU(), second=nn.Tanh()))
    assert [k for k, _ in named.named_children()] == ["first", "second"]
    assert isinstance(named.first, nn.ReLU)
    del named[0]
    assert list(named._modules) == ["second"]


def test_module_list():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and len(list(layers.parameters())) == 6
    layers.append(nn.ReLU())
    layers.extend([nn.Tanh()])
    layers.insert(0, nn.Sigmoid())
    assert [type(m).__name__ for m in layers] == [
        "Sigmoid",
        "Linear",
        "Linear",
        "Linear",
        "ReLU",
        "Tanh",
    ]
    assert list(layers._modules) == [str(i) for i in range(6)]
    del layers[0]
    assert isinstance(layers[0], nn.Linear) and list(layers._modules)[-1] == "4"
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    layers[-1] = nn.ELU()
    assert isinstance(layers[4], nn.ELU)
    assert not isinstance(nn.Sequential(), nn.ModuleList)
    with pytest.raises(NotImplementedError):
        layers(1)
    with pytest.raises(TypeError, match="single"):
        layers.extend(nn.ReLU())


def test_module_dict():
    d = nn.ModuleDict({"enc": nn.Linear(2, 3), "act": nn.ReLU()})
    d["dec"] = nn.Linear(3, 2)
    assert list(d.keys()) == ["enc", "act", "dec"] and "act" in d and len(d) == 3
    assert [k for k, _ in d.named_parameters()] == [
        "enc.weight",
        "enc.bias",
        "dec.weight",
        "dec.bias",
    ]
    assert isinstance(d.pop("act"), nn.ReLU) and list(d) == ["enc", "dec"]
    d.update([("act", nn.Tanh())])
    assert isinstance(d["act"], nn.Tanh)
    with pytest.raises(TypeError, match="Modules"):
        d["x"] = 3
    del d["act"]
    assert list(d) == ["enc", "dec"]
