"""Creation ops, logical and bitwise ops, the remaining ``lucid.*`` names and the Tensor methods
that are not ops (conversions, metadata, in-place forms, ``new_*``, hooks) in the parity table.

Creation and conversion cases compare dtypes by name (``exact_dtype``); a call that takes no
tensor is compared on its result alone. PyTorch's default dtype is float64 while the suite runs,
so calls that rely on the default dtype run PyTorch's under float32, its usual default.
"""

from __future__ import annotations

import contextlib

import numpy as np

import lucid
from tests.parity.harness import Case, DType, c, distinct, method, positive, rand, raw, s

F64, F32, I64, I32 = DType("float64"), DType("float32"), DType("int64"), DType("int32")


def build(torch):
    """The cases, built with the ``torch`` module."""
    cases = []

    @contextlib.contextmanager
    def default_float32():
        old = torch.get_default_dtype()
        torch.set_default_dtype(torch.float32)
        try:
            yield
        finally:
            torch.set_default_dtype(old)

    def under_float32(fn):
        def call(*args, **kwargs):
            with default_float32():
                return fn(*args, **kwargs)

        return call

    def add(name, lucid_fn, torch_fn, *samples, **opts):
        cases.append(Case(name, lucid_fn, torch_fn, list(samples), **opts))

    def both(name, *samples, **opts):
        add(
            f"lucid.{name}",
            getattr(lucid, name),
            under_float32(getattr(torch, name)),
            *samples,
            **opts,
        )

    def meth(name, *samples, **opts):
        lf, tf = method(name)
        add(f"Tensor.{name}", lf, under_float32(tf), *samples, **opts)

    def same(name, fn, *samples, **opts):
        """``fn(framework, *args)`` run with lucid and with torch."""
        add(
            name,
            lambda *a, **k: fn(lucid, *a, **k),
            under_float32(lambda *a, **k: fn(torch, *a, **k)),
            *samples,
            **opts,
        )

    # --- creation ------------------------------------------------------------------------------
    exact = {"exact_dtype": True, "grad": False}
    both(
        "arange",
        s(5),
        s(2, 9, 3),
        s(0, 1, 0.125),
        s(1.5, 4),
        s(5, dtype=F64),
        s(start=-3, end=3, step=2, dtype=I32),
        **exact,
    )
    both("linspace", s(0, 1, 5), s(-2.5, 4, 7, dtype=F64), s(3, 3, 1), **exact)
    both("eye", s(3), s(2, 4), s(3, dtype=I64), s(n=2, m=3, dtype=F64), **exact)
    both("full", s((2, 3), 1.5), s((2,), 7), s((3, 1), True), s([2, 2], 0.25, dtype=F64), **exact)
    for name in ("ones", "zeros"):
        both(name, s(2, 3), s((4,)), s(2, 1, dtype=I64), s([3], dtype=F64), **exact)
    for name in ("ones_like", "zeros_like"):
        both(name, s(rand(2, 3)), s(np.arange(4)), s(rand(2), dtype=I32), **exact)
    both("full_like", s(rand(2, 3), 0.5), s(np.arange(4), 3), s(rand(2), 2, dtype=I32), **exact)
    both(
        "as_tensor",
        s(raw(np.arange(4.0))),
        s(raw(np.arange(3))),
        s(raw(np.ones(2, np.float32))),
        s([1, 2, 3]),
        s([[1.5, 2.0]]),
        s(1.5),
        s(raw(np.arange(3)), dtype=F64),
        s(rand(2, 3)),
        **exact,
    )
    both(
        "tensor",
        s(raw(np.arange(4.0))),
        s(raw(np.arange(3))),
        s(raw(np.ones(2, np.float32))),
        s([1, 2, 3]),
        s([[1.5, 2.0]]),
        s(2.5),
        s(True),
        s(raw(np.arange(3)), dtype=F64),
        **exact,
    )  # a numpy array keeps its dtype (float64 too), as in PyTorch
    both(
        "from_numpy",
        s(raw(np.arange(4.0))),
        s(raw(np.arange(3, dtype=np.int32))),
        s(raw(np.ones((2, 2), np.float32))),
        s(raw(np.array([True, False]))),
        **exact,
    )
    both("is_tensor", s(rand(2)), s(3.0), s([1.0]), grad=False)
    both("numel", s(rand(2, 3)), s(rand(4)), grad=False)
    # --- logical, bitwise ----------------------------------------------------------------------
    b1, b2 = rand(3, 4) > 0, rand(3, 4) > 0
    i1, i2 = np.array([[5, 3, -2], [0, 12, 7]]), np.array([[3, 6, 1], [-1, 10, 7]])
    for name in ("logical_and", "logical_or", "logical_xor"):
        both(name, s(b1, b2), s(rand(3, 4), rand(3, 4) > 0), s(i1, i2), grad=False)
        meth(name, s(b1, b2), grad=False)
    both("logical_not", s(b1), s(np.array([0.0, 1.5, -2.0])), s(i1), grad=False)
    meth("logical_not", s(b1), grad=False)
    for name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        both(name, s(b1, b2), s(i1, i2), exact_dtype=True, grad=False)
        meth(name, s(i1, i2), grad=False)
    both("bitwise_not", s(b1), s(i1), exact_dtype=True, grad=False)
    meth("bitwise_not", s(i1), grad=False)
    for op in ("__and__", "__or__", "__xor__"):
        meth(op, s(b1, b2), s(i1, i2), exact_dtype=True, grad=False)
    meth("__invert__", s(b1), s(i1), exact_dtype=True, grad=False)
    # --- the remaining lucid.* names ----------------------------------------------------------
    for name in ("softmax", "log_softmax"):
        both(name, s(rand(3, 5), 1), s(rand(2, 3, 4), dim=0))
    both("swapdims", s(rand(2, 3, 4), 0, 2), s(rand(2, 3), -1, 0))
    meth("swapdims", s(rand(2, 3, 4), 1, 2))
    both(
        "meshgrid",
        s(rand(3), rand(4), indexing="ij"),
        s(rand(2), rand(3), indexing="xy"),
        s([rand(2), rand(3), rand(2)], indexing="ij"),
    )
    same(
        "lucid.Size",
        lambda fw, x: (
            fw.Size((2, 3)),
            x.shape,
            x.size(),
            x.size(-1),
            x.shape[1:],
            x.shape.numel(),
        ),
        s(rand(2, 3, 4)),
        grad=False,
    )

    def compiled(fw, x, w):
        def step(a, b):
            return (a @ b).tanh().sum(dim=0) * 2

        # a pure function: Lucid asks for state=[] (docs/coming-from-pytorch.md)
        # (PyTorch's eager backend: its contract without a C++ build in the suite)
        fast = fw.compile(step, state=[]) if fw is lucid else fw.compile(step, backend="eager")
        return fast(x, w), fast(x, w), step(x, w)

    same("lucid.compile", compiled, s(rand(3, 4), rand(4, 2)), grad=False)
    # --- Tensor: conversions ---------------------------------------------------------------
    for name in ("double", "float", "half", "int", "long", "short", "bool", "byte"):
        meth(
            name,
            s(rand(2, 3) * 3),
            s(np.arange(4)),
            s(b1),
            exact_dtype=True,
            grad=name in ("double", "float"),
        )
    same(
        "Tensor.bfloat16",
        lambda fw, x: (x.bfloat16().dtype, x.bfloat16().double()),
        s(np.array([1.0, -2.5, 3.0625])),
        grad=False,
    )
    same(
        "Tensor.to",
        lambda fw, x: (x.to(fw.float32), x.to(dtype=fw.int64), x.to("cpu"), x.to(x)),
        s(rand(2, 3) * 3),
        exact_dtype=True,
    )
    same(
        "Tensor.type_as",
        lambda fw, x, y: x.type_as(y),
        s(rand(2, 3), np.arange(3)),
        s(np.arange(3), rand(2)),
        exact_dtype=True,
    )
    for name in ("clone", "contiguous", "detach", "cpu"):
        meth(name, s(rand(2, 3)))
    meth("numpy", s(rand(2, 3)), s(np.arange(3)), grad=False)
    same(
        "Tensor.tolist",
        lambda fw, x: np.array(x.tolist()),
        s(rand(2, 3)),
        s(np.arange(3)),
        grad=False,
    )
    same(
        "Tensor.item",
        lambda fw, x: (x[0, 1].item(), type(x[0, 1].item()) is float, x.sum().item()),
        s(rand(2, 3)),
        grad=False,
    )
    # --- Tensor: metadata ----------------------------------------------------------------------
    for name in (
        "dim",
        "ndimension",
        "nelement",
        "numel",
        "element_size",
        "is_floating_point",
        "is_contiguous",
    ):
        meth(name, s(rand(2, 3)), s(np.arange(4)), s(b1), grad=False)
    meth("size", s(rand(2, 3, 4)), s(rand(2, 3, 4), 1), s(rand(2, 3, 4), dim=-1), grad=False)
    for name in ("shape", "ndim", "dtype", "T", "mT"):
        second = {"mT": s(rand(4, 2, 3)), "T": s(rand(3, 1))}.get(name, s(np.arange(3)))
        same(
            f"Tensor.{name}",
            lambda fw, x, name=name: getattr(x, name),
            s(rand(2, 3)),
            second,
            exact_dtype=True,
        )
    same(
        "Tensor.requires_grad",
        lambda fw, x: (x.requires_grad, x.detach().requires_grad, (x * 2).requires_grad),
        s(rand(2)),
    )
    same(
        "Tensor.is_leaf", lambda fw, x: (x.is_leaf, (x * 2).is_leaf, x.detach().is_leaf), s(rand(2))
    )
    same(
        "Tensor.requires_grad_",
        lambda fw, x: (
            x.detach().requires_grad_().requires_grad,
            x.detach().requires_grad_(False).requires_grad,
        ),
        s(rand(2)),
    )
    # --- Tensor: views of the same data ------------------------------------------------------
    meth("view_as", s(rand(2, 6), rand(3, 4)))
    meth("reshape_as", s(rand(2, 6), c(rand(4, 3))))
    meth("expand_as", s(rand(1, 3), c(rand(4, 3))))
    meth("where", s(rand(2, 3), rand(2, 3) > 0, rand(2, 3)), s(rand(2, 3), rand(2, 3) > 0, 0.5))
    # --- Tensor: in place (on a copy, so the gradient reaches the input through the clone) ---
    for name in ("add_", "sub_", "mul_", "div_"):
        same(
            f"Tensor.{name}",
            lambda fw, x, y, name=name: getattr(x.clone(), name)(y),
            s(rand(2, 3), rand(2, 3)),
            s(rand(2, 3), 1.5),
            s(rand(2, 3), rand(3)),
        )
    same(
        "Tensor.pow_",
        lambda fw, x, y: x.clone().pow_(y),
        s(positive(2, 3), 2),
        s(positive(2, 3), rand(2, 3)),
    )
    for name in ("abs_", "exp_", "neg_", "relu_", "sigmoid_", "tanh_"):
        same(f"Tensor.{name}", lambda fw, x, name=name: getattr(x.clone(), name)(), s(rand(2, 3)))
    for name in ("log_", "sqrt_"):
        same(
            f"Tensor.{name}", lambda fw, x, name=name: getattr(x.clone(), name)(), s(positive(2, 3))
        )
    for name in ("clamp_", "clip_"):
        same(
            f"Tensor.{name}",
            lambda fw, x, name=name: getattr(x.clone(), name)(-0.5, 0.7),
            s(distinct(3, 4)),
        )
    same(
        "Tensor.masked_fill_",
        lambda fw, x, m: x.clone().masked_fill_(m, -0.5),
        s(rand(3, 4), rand(3, 4) > 0),
    )
    idx = np.array([[0, 0], [2, 1], [3, 3]])
    for name in ("scatter_", "scatter_add_"):
        same(
            f"Tensor.{name}",
            lambda fw, x, i, src, name=name: getattr(x.clone(), name)(1, i, src),
            s(rand(3, 4), idx, rand(3, 2))
            if name == "scatter_add_"
            else s(rand(3, 4), idx[:, :1], rand(3, 1)),
        )  # PyTorch's src gradient: index's shape
    same(
        "Tensor.copy_",
        lambda fw, x, y: x.clone().copy_(y),
        s(rand(2, 3), rand(2, 3)),
        s(rand(2, 3), rand(3)),
    )
    same(
        "Tensor.fill_",
        lambda fw, x: (x.clone().fill_(2.5), x.detach().clone().fill_(1)),
        s(rand(2, 3)),
    )
    same("Tensor.zero_", lambda fw, x: x.clone().zero_() + x, s(rand(2, 3)))
    # --- Tensor: new_* -------------------------------------------------------------------------
    same(
        "Tensor.new_zeros",
        lambda fw, x: (x.new_zeros(2, 3), x.new_zeros((4,), dtype=fw.int64)),
        s(rand(2)),
        s(np.arange(2)),
        exact_dtype=True,
        grad=False,
    )
    same(
        "Tensor.new_ones",
        lambda fw, x: (x.new_ones((2, 1)), x.new_ones(3, dtype=fw.float32)),
        s(rand(2)),
        s(np.arange(2)),
        exact_dtype=True,
        grad=False,
    )
    same(
        "Tensor.new_full",
        lambda fw, x: (x.new_full((2, 3), 1.5), x.new_full((2,), 7)),
        s(rand(2)),
        s(np.arange(2)),
        exact_dtype=True,
        grad=False,
    )
    same(
        "Tensor.new_empty",
        lambda fw, x: (x.new_empty(2, 3).shape, x.new_empty((4,)).dtype),
        s(rand(2)),
        s(np.arange(2)),
        grad=False,
    )
    same(
        "Tensor.new_tensor",
        lambda fw, x: (x.new_tensor([1, 2]), x.new_tensor([[0.5]])),
        s(rand(2)),
        s(np.arange(2)),
        exact_dtype=True,
        grad=False,
    )

    # --- Tensor: hooks -------------------------------------------------------------------------
    def hooked(fw, x):
        y = x * 2
        y.register_hook(lambda g: g * 3)  # the gradient reaching x is scaled by 3
        return y.sin()

    same("Tensor.register_hook", hooked, s(rand(2, 3)))
    # --- Tensor: operators ---------------------------------------------------------------------
    for op in (
        "__add__",
        "__sub__",
        "__mul__",
        "__truediv__",
        "__radd__",
        "__rsub__",
        "__rmul__",
        "__rtruediv__",
    ):
        meth(op, s(rand(2, 3), rand(3)), s(rand(2, 3), 2.5))
    meth("__pow__", s(positive(2, 3), rand(2, 3)), s(rand(2, 3), 2))
    meth("__rpow__", s(rand(2, 3), 2.0))
    meth("__matmul__", s(rand(2, 3), rand(3, 4)))
    meth("__neg__", s(rand(2, 3)))
    meth("__abs__", s(rand(2, 3)))
    meth("__floordiv__", s(rand(2, 3) * 5, positive(2, 3)), grad=False)
    for op in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
        meth(op, s(rand(2, 3), rand(2, 3)), s(np.array([1.0, 2.0]), 2.0), grad=False)

    def augmented(fw, x):  # y += 1 writes into y (the same object), not a rebinding
        y = x.clone()
        alias = y
        y += 1
        y *= 2
        return y is alias, alias

    same("Tensor.__iadd__", augmented, s(rand(2, 3)))
    for op in ("__iadd__", "__isub__", "__imul__", "__itruediv__"):
        same(
            f"Tensor.{op}",
            lambda fw, x, y, op=op: getattr(x.clone(), op)(y),
            s(rand(2, 3), rand(2, 3)),
            s(rand(2, 3), 2.0),
        )
    return cases
