"""Running one parity case: the same inputs through Lucid and PyTorch in float64, then the values
and the gradients (of a fixed random weighting of the outputs) compared.

A case is data, not code: ``Case(name, lucid_fn, torch_fn, samples)``. Each sample is a tuple of
positional arguments plus keyword arguments; numpy arrays in it become tensors on both sides
(floating ones require grad when the case is differentiable), everything else is passed as is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

import lucid

RNG = np.random.default_rng(20261130)


@dataclasses.dataclass
class Sample:
    """Positional and keyword arguments of one call."""

    args: tuple
    kwargs: dict


def s(*args, **kwargs) -> Sample:
    """One sample: ``s(array, 1, dim=0)``."""
    return Sample(args, kwargs)


@dataclasses.dataclass
class Case:
    """A public Lucid name, how to call it and PyTorch's counterpart, and samples to try."""

    name: str
    lucid_fn: Callable
    torch_fn: Callable
    samples: list[Sample]
    grad: bool = True
    rtol: float = 1e-10
    atol: float = 1e-12
    exact_dtype: bool = False  # compare dtype names too (creation ops), not only their kind
    # a reason, when PyTorch's second-order gradient is NaN at a sample's singular points (e.g.
    # a zero norm) where Lucid's is the 0 of its first-order subgradient: there Lucid must give 0
    grad2_nan_is_zero: str = ""
    # a reason, when PyTorch cannot differentiate the op twice: order 2 is then checked by
    # lucid.autograd.gradgradcheck (finite differences of the recorded first-order gradients)
    grad2_fd: str = ""


@dataclasses.dataclass(frozen=True)
class Const:
    """An array in a sample that becomes a tensor without a gradient (targets, class weights)."""

    array: np.ndarray


def c(array) -> Const:
    """``c(target)``: a sample array that takes no gradient."""
    return Const(np.asarray(array))


@dataclasses.dataclass(frozen=True)
class Raw:
    """A sample value passed to both frameworks as is (a numpy array for ``from_numpy``)."""

    value: object


def raw(value) -> Raw:
    """``raw(array)``: not converted to a tensor."""
    return Raw(value)


@dataclasses.dataclass(frozen=True)
class DType:
    """A dtype in a sample, by name: becomes ``lucid.<name>`` and ``torch.<name>``."""

    name: str


def method(name: str) -> tuple[Callable, Callable]:
    """(lucid, torch) callables for the method ``name`` of the first argument."""

    def call(x, *args, **kwargs):
        return getattr(x, name)(*args, **kwargs)

    return call, call


def rand(*shape, low=-2.0, high=2.0):
    """float64 sample data."""
    return RNG.uniform(low, high, shape)


def positive(*shape):
    """float64 sample data in [0.5, 2.5)."""
    return RNG.uniform(0.5, 2.5, shape)


def distinct(*shape):
    """float64 data without ties (so argmax/sort/max gradients are unambiguous)."""
    n = int(np.prod(shape))
    return (RNG.permutation(n).reshape(shape) + RNG.uniform(0.1, 0.9, shape)) / n * 4 - 2


def _convert(torch, sample: Sample, grad: bool):
    lucid_args, torch_args, leaves = [], [], []

    def conv(v, grad=grad):
        if isinstance(v, Raw):
            return v.value, (v.value.copy() if isinstance(v.value, np.ndarray) else v.value)
        if isinstance(v, Const):
            return conv(v.array, grad=False)
        if isinstance(v, DType):
            return getattr(lucid, v.name), getattr(torch, v.name)
        if isinstance(v, np.ndarray):
            rg = grad and v.dtype.kind == "f"
            lt = lucid.tensor(
                v, dtype=str(v.dtype) if v.dtype != np.bool_ else "bool", requires_grad=rg
            )
            tt = torch.tensor(v, requires_grad=rg)
            if rg:
                leaves.append((lt, tt))
            return lt, tt
        if isinstance(v, list) and v and all(isinstance(e, np.ndarray) for e in v):
            pairs = [conv(e) for e in v]
            return [p[0] for p in pairs], [p[1] for p in pairs]
        return v, v

    for a in sample.args:
        la, ta = conv(a)
        lucid_args.append(la)
        torch_args.append(ta)
    lucid_kw, torch_kw = {}, {}
    for k, v in sample.kwargs.items():
        lucid_kw[k], torch_kw[k] = conv(v)
    return lucid_args, lucid_kw, torch_args, torch_kw, leaves


def flatten(out) -> list:
    """The leaves of an op's output: tensors and Python numbers, in order."""
    if isinstance(out, (tuple, list)):
        return [leaf for o in out for leaf in flatten(o)]
    return [out]


def as_numpy(torch, v):
    """A tensor or number of either framework as a numpy array."""
    if isinstance(v, lucid.Tensor):
        return v.numpy()
    if isinstance(v, torch.Tensor):
        return v.detach().numpy()
    return np.asarray(v)


def _dtype_name(v) -> str:
    dt = v if type(v).__name__ == "dtype" else getattr(v, "dtype", None)
    return str(dt).rsplit(".", 1)[-1] if dt is not None else type(v).__name__


def run(torch, case: Case, sample: Sample, order: int = 1) -> None:
    """Compare values and gradients of ``case`` on ``sample`` (with ``order=2``, the gradients
    of a weighting of the first-order gradients); raise AssertionError on a difference."""
    la, lk, ta, tk, leaves = _convert(torch, sample, case.grad)
    if order == 2 and case.grad2_fd:
        _second_order_fd(case, la, lk, [lt for lt, _ in leaves])
        return
    lout = flatten(case.lucid_fn(*la, **lk))
    tout = flatten(case.torch_fn(*ta, **tk))
    assert len(lout) == len(tout), f"{len(lout)} outputs, PyTorch gives {len(tout)}"
    weights = []
    for i, (lo, to) in enumerate(zip(lout, tout)):
        if isinstance(lo, lucid.dtype) or isinstance(to, torch.dtype):
            assert _dtype_name(lo) == _dtype_name(to), f"output {i}: {lo}, PyTorch {to}"
            continue
        ln, tn = as_numpy(torch, lo), as_numpy(torch, to)
        assert ln.shape == tn.shape, f"output {i}: shape {ln.shape}, PyTorch {tn.shape}"
        assert (ln.dtype.kind == "f") == (tn.dtype.kind == "f") and (ln.dtype.kind == "b") == (
            tn.dtype.kind == "b"
        ), f"output {i}: dtype {ln.dtype}, PyTorch {tn.dtype}"
        if case.exact_dtype:
            assert _dtype_name(lo) == _dtype_name(to), (
                f"output {i}: dtype {_dtype_name(lo)}, PyTorch {_dtype_name(to)}"
            )
        np.testing.assert_allclose(
            ln, tn, rtol=case.rtol, atol=case.atol, err_msg=f"output {i} values", equal_nan=True
        )
        if isinstance(lo, lucid.Tensor) and lo.requires_grad and tn.dtype.kind == "f":
            weights.append((lo, to, RNG.uniform(0.5, 1.5, tn.shape)))
    if not (case.grad and leaves and weights):
        return
    lloss = sum((lo * lucid.tensor(w, dtype="float64")).sum() for lo, _, w in weights)
    tloss = sum((to * torch.tensor(w)).sum() for _, to, w in weights)
    if order == 2:
        _second_order(torch, case, lloss, tloss, leaves)
        return
    lloss.backward()
    tloss.backward()
    _compare_leaf_grads(case, leaves)


def _second_order(torch, case: Case, lloss, tloss, leaves) -> None:
    """Differentiate a random weighting of the first-order gradients (``create_graph=True`` on
    both sides) and compare the gradients that reach the inputs. PyTorch's first-order
    gradients that carry no graph (a linear op) have zero second derivatives."""
    lgrads = lucid.autograd.grad(
        lloss, [lt for lt, _ in leaves], create_graph=True, allow_unused=True
    )
    tgrads = torch.autograd.grad(
        tloss, [tt for _, tt in leaves], create_graph=True, allow_unused=True
    )
    lsum, tsum = None, None
    for i, (lg, tg) in enumerate(zip(lgrads, tgrads)):
        if tg is None:
            assert lg is None or not np.any(lg.numpy()), f"input {i}: gradient, PyTorch none"
            continue
        if lg is None:  # no path to this input in Lucid (copy_ overwrites it): zeros in PyTorch
            assert not np.any(tg.detach().numpy(force=True)), f"input {i}: none, PyTorch nonzero"
            continue
        np.testing.assert_allclose(
            lg.detach().numpy(),
            tg.detach().numpy(force=True),  # PyTorch may return a ZeroTensor
            rtol=max(case.rtol, 1e-9),
            atol=max(case.atol, 1e-11),
            err_msg=f"first-order gradient of input {i} (create_graph=True)",
        )
        w = RNG.uniform(0.5, 1.5, tuple(tg.shape))
        if lg.requires_grad:
            term = (lg * lucid.tensor(w, dtype="float64")).sum()
            lsum = term if lsum is None else lsum + term
        if tg.requires_grad:
            tterm = (tg * torch.tensor(w)).sum()
            tsum = tterm if tsum is None else tsum + tterm
    if lsum is not None:
        lsum.backward()
    if tsum is not None:
        tsum.backward()
    if case.grad2_nan_is_zero:  # Lucid must give 0 where PyTorch gives NaN
        for _, tt in leaves:
            if tt.grad is not None:
                tt.grad = torch.tensor(np.nan_to_num(tt.grad.numpy(force=True), nan=0.0))
    _compare_leaf_grads(case, leaves, "second-order gradient")


def _second_order_fd(case: Case, args, kwargs, leaves) -> None:
    """Order 2 without PyTorch (``Case.grad2_fd``): ``gradgradcheck`` of a fixed random
    weighting of the floating outputs, with respect to the sample's floating inputs."""
    if not (case.grad and leaves):
        return
    weights: list = []

    def swap(v, mapping):
        if isinstance(v, list):
            return [swap(e, mapping) for e in v]
        return mapping.get(id(v), v)

    def fn(*xs):
        mapping = {id(lt): x for lt, x in zip(leaves, xs)}
        outs = flatten(case.lucid_fn(*swap(list(args), mapping), **swap_kw(kwargs, mapping)))
        outs = [o for o in outs if isinstance(o, lucid.Tensor) and o.is_floating_point()]
        if not weights:
            weights.extend(RNG.uniform(0.5, 1.5, tuple(o.shape)) for o in outs)
        return sum((o * lucid.tensor(w, dtype="float64")).sum() for o, w in zip(outs, weights))

    def swap_kw(kw, mapping):
        return {k: swap(v, mapping) for k, v in kw.items()}

    lucid.autograd.gradgradcheck(fn, leaves)


def _compare_leaf_grads(case: Case, leaves, what: str = "gradient") -> None:
    for i, (lt, tt) in enumerate(leaves):
        tg = np.zeros(tt.shape) if tt.grad is None else tt.grad.numpy(force=True)  # ZeroTensor
        lg = np.zeros(tt.shape) if lt.grad is None else lt.grad.numpy()
        np.testing.assert_allclose(
            lg,
            tg,
            rtol=max(case.rtol, 1e-9),
            atol=max(case.atol, 1e-11),
            err_msg=f"{what} of input {i}",
        )
