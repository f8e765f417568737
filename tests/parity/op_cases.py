"""The op table of the parity suite: every public op with sample inputs, one ``Case`` each.

Names are the public spelling (``lucid.x``, ``Tensor.x``, ``F.x``); ``test_parity`` checks that
every name Lucid shares with PyTorch has a case here or an exemption with a reason.
"""

from __future__ import annotations

import numpy as np

import lucid
import lucid.nn.functional as LF
from tests.parity.harness import Case, DType, distinct, method, positive, rand, s


def build(torch):
    """The cases, built with the ``torch`` module (imported only when the suite runs)."""
    TF = torch.nn.functional
    cases = []

    def add(name, lucid_fn, torch_fn, *samples, **opts):
        cases.append(Case(name, lucid_fn, torch_fn, list(samples), **opts))

    def both(module_name, fn_name, *samples, lucid_mod=lucid, torch_mod=torch, **opts):
        # a name Lucid does not have is left out here; REQUIRED in test_parity lists the ones
        # it must have
        if hasattr(lucid_mod, fn_name):
            add(
                f"{module_name}.{fn_name}",
                getattr(lucid_mod, fn_name),
                getattr(torch_mod, fn_name),
                *samples,
                **opts,
            )

    def meth(fn_name, *samples, **opts):
        if hasattr(lucid.Tensor, fn_name):
            add(f"Tensor.{fn_name}", *method(fn_name), *samples, **opts)

    x23, x234 = rand(2, 3), rand(2, 3, 4)
    # --- elementwise ---------------------------------------------------------------------------
    for name in ("exp", "sin", "cos", "tanh", "sigmoid", "neg", "square", "erf", "abs", "relu"):
        both("lucid", name, s(rand(3, 4)))
        meth(name, s(rand(3, 4)))
    for name in ("log", "sqrt", "log1p", "rsqrt", "reciprocal"):
        if hasattr(lucid, name):
            both("lucid", name, s(positive(3, 4)))
            meth(name, s(positive(3, 4)))
    for name in ("add", "sub", "mul", "div"):
        both("lucid", name, s(distinct(2, 3), distinct(3)), s(rand(2, 3), 1.5))
    for name in ("maximum", "minimum"):  # PyTorch's take a tensor ``other`` only
        both("lucid", name, s(distinct(2, 3), distinct(3)), s(distinct(2, 3), np.array(0.1)))
    both("lucid", "pow", s(positive(2, 3), rand(2, 3)), s(positive(2, 3), 3))
    both("lucid", "where", s(rand(2, 3) > 0, rand(2, 3), rand(2, 3)))
    both("lucid", "sign", s(rand(2, 3)), grad=False)
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        both("lucid", name, s(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0])), grad=False)
    both(
        "lucid",
        "clamp",
        s(rand(3, 4), -0.5, 0.5),
        s(rand(3, 4), min=0.0),
        s(distinct(3, 4), distinct(3, 4) - 1, distinct(3, 4) + 1),
    )
    both("lucid", "clip", s(rand(3, 4), -0.5, 0.5))
    both("lucid", "lerp", s(rand(3), rand(3), 0.3), s(rand(3), rand(3), rand(3)))
    both("lucid", "isnan", s(np.array([1.0, np.nan, np.inf])), grad=False)
    both("lucid", "isinf", s(np.array([1.0, np.nan, -np.inf])), grad=False)
    both("lucid", "floor_divide", s(rand(3, 4) * 5, positive(3, 4)), grad=False)
    both("lucid", "isfinite", s(np.array([1.0, np.nan, -np.inf, 0.0])), grad=False)
    halves = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 1.26, -3.7, 0.0])
    for name in ("round", "floor", "ceil", "trunc"):  # the gradient is zero (and recorded)
        both("lucid", name, s(rand(3, 4) * 4), s(halves))
        meth(name, s(rand(3, 4) * 4))
    both(
        "lucid",
        "round",
        s(rand(3, 4) * 4, decimals=1),
        s(np.array([1.25, 2.675, -0.35]), decimals=2),
    )
    meth("isfinite", s(np.array([1.0, np.nan, np.inf])), grad=False)
    # --- reductions ----------------------------------------------------------------------------
    for name in ("sum", "mean", "prod", "logsumexp"):
        samples = [
            s(x234, 1),
            s(x234, 2 if name == "prod" else (0, 2), keepdim=True),
            s(x234, dim=-1),
        ]  # prod takes a single dim in PyTorch
        if name in ("sum", "mean", "prod"):
            samples.append(s(x234))
        both("lucid", name, *samples)
        meth(name, *samples)
    for name in ("std", "var"):
        samples = [
            s(x234),
            s(x234, 1),
            s(x234, dim=(0, 2), keepdim=True),
            s(x234, 1, unbiased=False),
            s(x234, dim=1, correction=0),
        ]
        both("lucid", name, *samples)
        meth(name, *samples)
    for name in ("max", "min"):
        samples = [s(distinct(3, 4)), s(distinct(3, 4), 1), s(distinct(3, 4), dim=0, keepdim=True)]
        both("lucid", name, *samples)
        meth(name, *samples)
        both("lucid", name, s(distinct(3, 4), distinct(3, 4)))
    for name in ("amax", "amin"):
        both("lucid", name, s(distinct(3, 4), 1), s(distinct(3, 4), dim=(0, 1)))
    for name in ("argmax", "argmin"):
        both(
            "lucid",
            name,
            s(distinct(3, 4)),
            s(distinct(3, 4), 1),
            s(distinct(3, 4), dim=0, keepdim=True),
            grad=False,
        )
        meth(name, s(distinct(3, 4), dim=1), grad=False)
    for name in ("all", "any"):
        both("lucid", name, s(rand(3, 4) > 0), s(rand(3, 4) > 0, 1), grad=False)
    both("lucid", "cumsum", s(x234, 1), s(x234, dim=-1))
    meth("cumsum", s(x234, 0))
    both("lucid", "cumprod", s(rand(2, 5), 1))
    # --- shape ---------------------------------------------------------------------------------
    meth("transpose", s(x234, 0, 1), s(x234, -1, 0))
    both("lucid", "transpose", s(x234, 0, 2))
    meth("permute", s(x234, 2, 0, 1), s(x234, (1, 2, 0)))
    both("lucid", "permute", s(x234, (2, 0, 1)))
    meth("t", s(x23))
    both("lucid", "t", s(x23))
    meth("reshape", s(x234, 4, 6), s(x234, (-1, 2)))
    both("lucid", "reshape", s(x234, (6, 4)))
    meth("view", s(x234, 24), s(x234, -1, 3))
    meth("flatten", s(x234), s(x234, 1), s(x234, start_dim=0, end_dim=1))
    both("lucid", "flatten", s(x234, 1))
    meth("squeeze", s(rand(2, 1, 3)), s(rand(2, 1, 3), 1), s(rand(2, 1, 3), 0))
    both("lucid", "squeeze", s(rand(1, 3, 1)), s(rand(2, 1, 3), dim=1))
    meth("unsqueeze", s(x23, 0), s(x23, -1))
    both("lucid", "unsqueeze", s(x23, 1))
    meth("repeat", s(x23, 2, 1), s(x23, (1, 2, 3)))
    both("lucid", "repeat_interleave", s(x23, 2), s(x23, 2, dim=1))
    both("lucid", "tile", s(x23, (2, 2)))
    meth("expand", s(rand(1, 3), 4, 3), s(rand(1, 3), 2, -1))
    both("lucid", "broadcast_to", s(rand(1, 3), (4, 3)))
    meth("split", s(rand(10, 2), 4), s(rand(10, 2), [3, 7]), s(rand(2, 10), 3, dim=1))
    both("lucid", "split", s(rand(10, 2), 4), s(rand(10, 2), [3, 7]))
    meth("chunk", s(rand(10, 2), 3), s(rand(2, 10), 4, dim=1))
    both("lucid", "chunk", s(rand(10, 2), 3))
    both("lucid", "cat", s([x23, rand(1, 3)]), s([x23, rand(2, 2)], dim=1))
    both("lucid", "concatenate", s([x23, rand(1, 3)]))
    both("lucid", "stack", s([x23, x23 + 1]), s([x23, x23 + 1], dim=2))
    both("lucid", "flip", s(x234, (0, 2)), s(x234, [1]))
    both("lucid", "roll", s(x234, 1, 2), s(x234, (1, -2), (0, 2)), s(x234, 5))
    both("lucid", "diag", s(rand(3, 3)), s(rand(3)), s(rand(3, 4), 1))
    both("lucid", "swapaxes", s(x234, 0, 2))
    meth("swapaxes", s(x234, 1, 2))
    both("lucid", "movedim", s(x234, 0, 2))
    both("lucid", "narrow", s(x234, 2, 1, 2))
    # --- indexing ------------------------------------------------------------------------------
    both("lucid", "gather", s(rand(3, 4), 1, np.array([[0, 3], [1, 1], [2, 0]])))
    both("lucid", "index_select", s(rand(3, 4), 1, np.array([3, 0, 3])))
    both("lucid", "masked_fill", s(rand(3, 4), rand(3, 4) > 0, 0.5))
    both("lucid", "scatter", s(rand(3, 4), 1, np.array([[0], [2], [3]]), rand(3, 1)))
    both("lucid", "scatter_add", s(rand(3, 4), 1, np.array([[0, 0], [2, 1], [3, 3]]), rand(3, 2)))
    add("Tensor.__getitem__", lambda x: x[1:, [0, 2]], lambda x: x[1:, [0, 2]], s(x234))
    add("Tensor.__getitem__[bool]", lambda x: x[x > 0], lambda x: x[x > 0], s(rand(3, 4)))
    # --- sort / search -------------------------------------------------------------------------
    both(
        "lucid",
        "sort",
        s(distinct(3, 5)),
        s(distinct(3, 5), 0, True),
        s(distinct(3, 5), dim=1, descending=True),
    )
    both(
        "lucid", "argsort", s(distinct(3, 5)), s(distinct(3, 5), dim=0, descending=True), grad=False
    )
    both("lucid", "topk", s(distinct(3, 6), 2), s(distinct(3, 6), 3, dim=0, largest=False))
    both(
        "lucid", "bincount", s(np.array([0, 1, 1, 4])), s(np.array([2, 2]), minlength=5), grad=False
    )
    # --- linear algebra ------------------------------------------------------------------------
    both("lucid", "matmul", s(rand(2, 3, 4), rand(4, 5)), s(rand(3), rand(3, 2)))
    both("lucid", "dot", s(rand(4), rand(4)))
    both("lucid", "einsum", s("ij,jk->ik", rand(2, 3), rand(3, 4)), s("bii->bi", rand(2, 3, 3)))
    # --- norms (subgradients at zero, zero elements and ties included) -------------------------
    inf, kinks = np.inf, np.array([3.0, -4.0, 0.0, 4.0])
    norm_samples = [
        s(x234),
        s(x234, 1, 2),
        s(x234, "fro", (0, 1)),
        s(x234, 3, (1, 2), True),
        s(x234, inf, dim=0),
        s(x234, 1, (0, 1, 2)),
        s(x234, None, 1),
        s(rand(3, 4), "nuc"),
        s(np.zeros(3)),
        s(kinks, inf),
        s(x234, dtype=DType("float64")),
    ]
    zero_norm = "PyTorch's second derivative is NaN at a zero norm and (p < 1) a zero element"
    both("lucid", "norm", *norm_samples, grad2_nan_is_zero=zero_norm)
    meth("norm", *norm_samples, grad2_nan_is_zero=zero_norm)
    LL, TL = lucid.linalg, torch.linalg
    both(
        "linalg",
        "vector_norm",
        s(x234),
        s(x234, 1, (0, 2)),
        s(x234, inf, -1, True),
        s(x234, -inf),
        s(x234, 0.5, 1),
        s(x234, -1.5, dim=2),
        s(x234, 0),
        s(x234, 2, ()),
        s(np.zeros(4)),
        s(np.zeros(4), 3),
        s(np.zeros((2, 3)), -inf, 1),
        s(kinks, inf),
        s(kinks, -inf),
        s(kinks, 0.5),
        s(kinks, -1),
        s(kinks, 1),
        s(np.array(-2.5)),
        lucid_mod=LL,
        torch_mod=TL,
        grad2_nan_is_zero=zero_norm,
    )
    matrix_samples = [s(x234, o) for o in ("fro", "nuc", inf, -inf, 1, -1, 2, -2)]
    matrix_samples += [s(x234, o, (0, 2), True) for o in ("fro", "nuc", inf, -1, 2, -2)]
    matrix_samples += [s(x234, o, (2, 1)) for o in (1, -inf, 2, "nuc")]
    both("linalg", "matrix_norm", *matrix_samples, lucid_mod=LL, torch_mod=TL)
    both(
        "linalg",
        "norm",
        s(x234),
        s(rand(3, 4), 2),
        s(rand(3, 4), -inf),
        s(rand(4), 3),
        s(x234, None, 1),
        s(x234, 1, (0, 2)),
        s(x234, "nuc", (0, 2), True),
        lucid_mod=LL,
        torch_mod=TL,
    )
    # --- whole-tensor comparisons, nonzero ------------------------------------------------------
    close_a = np.array([1.0, np.inf, -np.inf, np.nan, 1.0, 0.0, 100.0])
    close_b = np.array([1.0 + 1e-6, np.inf, np.inf, np.nan, np.nan, 1e-8, 100.01])
    close_samples = [
        s(close_a, close_b),
        s(close_a, close_b, equal_nan=True),
        s(close_a, close_b, 1e-4, 0.0),
        s(rand(3, 1), rand(4)),
        s(np.array([1, 5, 100]), np.array([1, 6, 101]), 0.01, 0.0),
    ]
    for name in ("isclose", "allclose"):
        both("lucid", name, *close_samples, grad=False)
        meth(name, *close_samples, grad=False)
    equal_samples = [
        s(np.array([1, 2]), np.array([1.0, 2.0])),
        s(np.array([1.0, np.nan]), np.array([1.0, np.nan])),
        s(np.array([1.0, 2.0]), np.array([[1.0, 2.0]])),
        s(x23, x23 + 0),
    ]
    both("lucid", "equal", *equal_samples, grad=False)
    meth("equal", *equal_samples, grad=False)
    nonzero_samples = [
        s(rand(3, 4) > 0),
        s(np.array([[1.0, 0.0], [np.nan, 2.0]])),
        s(np.array(0.0)),
    ]
    both("lucid", "nonzero", *nonzero_samples, s(rand(2, 3) > 0, as_tuple=True), grad=False)
    meth("nonzero", s(rand(3, 4) > 0), s(np.array(3.0), as_tuple=True), grad=False)
    # --- activations and softmax ---------------------------------------------------------------
    for name in (
        "relu",
        "relu6",
        "elu",
        "selu",
        "celu",
        "gelu",
        "silu",
        "mish",
        "hardswish",
        "hardtanh",
        "logsigmoid",
        "softsign",
        "softplus",
        "tanhshrink",
        "hardshrink",
        "softshrink",
        "leaky_relu",
        "sigmoid",
        "tanh",
    ):
        both("F", name, s(rand(3, 5) * 2), lucid_mod=LF, torch_mod=TF)
    # PyTorch's float64 hardsigmoid backward multiplies by 1/6 rounded to float32 (a 3e-8
    # relative error); its values equal relu6(x + 3) / 6, whose gradient is exact.
    add("F.hardsigmoid", LF.hardsigmoid, lambda x: TF.relu6(x + 3) / 6, s(rand(3, 5) * 2))
    both("F", "threshold", s(rand(3, 5), 0.3, -1.0), lucid_mod=LF, torch_mod=TF)
    both("F", "glu", s(rand(3, 6)), s(rand(4, 3), dim=0), lucid_mod=LF, torch_mod=TF)
    for name in ("softmax", "log_softmax", "softmin"):
        both("F", name, s(rand(3, 5), dim=1), s(rand(2, 3, 4), dim=0), lucid_mod=LF, torch_mod=TF)
    meth("softmax", s(rand(3, 5), 1))
    meth("log_softmax", s(rand(3, 5), dim=-1))
    both("F", "prelu", s(rand(2, 3, 4), positive(3) / 4), lucid_mod=LF, torch_mod=TF)
    both(
        "F",
        "one_hot",
        s(np.array([0, 2, 1])),
        s(np.array([[1], [3]]), 5),
        lucid_mod=LF,
        torch_mod=TF,
        grad=False,
    )
    both(
        "F",
        "pad",
        s(x234, (1, 2)),
        s(x234, (1, 1, 0, 2), mode="constant", value=0.5),
        s(rand(1, 2, 5), (2, 1), mode="reflect"),
        s(rand(1, 2, 5), (2, 3), mode="replicate"),
        s(rand(1, 2, 5), (2, 3), mode="circular"),
        s(rand(1, 2, 4, 5), (1, 2, 2, 1), mode="reflect"),
        s(x234, (-1, 1)),
        lucid_mod=LF,
        torch_mod=TF,
    )
    return cases
