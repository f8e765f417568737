"""Matrix products and norms (``torch.norm``, ``torch.linalg.vector_norm``/``matrix_norm``/
``norm``; the latter three are public as ``lucid.linalg.*``)."""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from lucid import _backend as B
from lucid._typing import Dims, DTypeLike, TensorOrScalar
from lucid.autograd.graph import unbroadcast
from lucid.dtypes import as_dtype_name
from lucid.ops import elementwise as E, reduce as R, shape as S
from lucid.ops._util import as_tensor, normalize_axes, op, record
from lucid.tensor import Tensor


@op
def matmul(a, b):
    """Matrix product with numpy's rules (1-D operands, broadcast batch dimensions)."""
    a, b = as_tensor(a), as_tensor(b, a)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul needs at least 1-D operands, got shapes {a.shape} and {b.shape}")
    ka = a.shape[-1]
    kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned ({ka} != {kb})")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(
            f"matmul: the batch dimensions of shapes {a.shape} and {b.shape} cannot "
            "be broadcast together"
        ) from None
    ad, bd = a.data, b.data
    a2 = ad if ad.ndim > 1 else B.reshape(ad, (1, -1))
    b2 = bd if bd.ndim > 1 else B.reshape(bd, (-1, 1))
    dev = a._device
    out2 = B.matmul_on(a2, b2, dev)
    out_shape = out2.shape
    out = out2
    if ad.ndim == 1:
        out = B.reshape(out, out.shape[:-2] + out.shape[-1:])
    if bd.ndim == 1:
        out = B.reshape(out, out.shape[:-1])

    def backward(g):
        g2 = B.reshape(g, out_shape)
        ga = B.matmul_on(g2, B.swapaxes(b2, -1, -2), dev)
        gb = B.matmul_on(B.swapaxes(a2, -1, -2), g2, dev)
        ga = B.reshape(unbroadcast(ga, a2.shape), ad.shape)
        gb = B.reshape(unbroadcast(gb, b2.shape), bd.shape)
        return ga, gb

    return record(out, (a, b), backward, "MatMul", rule=_matmul_rule)


def _matmul_rule(g, _out, a, b):
    """matmul's gradients as recorded matmuls (1-D operands as a row / a column)."""
    a2 = a if a.ndim > 1 else S.reshape(a, (1, -1))
    b2 = b if b.ndim > 1 else S.reshape(b, (-1, 1))
    batch = np.broadcast_shapes(tuple(a2.shape[:-2]), tuple(b2.shape[:-2]))
    g2 = S.reshape(g, tuple(batch) + (a2.shape[-2], b2.shape[-1]))
    ga = matmul(g2, S.swapaxes(b2, -1, -2))
    gb = matmul(S.swapaxes(a2, -1, -2), g2)
    if a.ndim == 1:  # the engine sums broadcast batch dims; a row's must be summed here
        ga = R.sum(ga, tuple(range(ga.ndim - 1)))
    if b.ndim == 1:
        gb = R.sum(gb, tuple(range(gb.ndim - 2)) + (gb.ndim - 1,))
    return ga, gb


def dot(a, b: TensorOrScalar) -> Tensor:
    """Inner product of two 1-D tensors (matmul otherwise)."""
    return matmul(a, b)


# --- norms ----------------------------------------------------------------------------------------
_FLOATS = ("float16", "bfloat16", "float32", "float64")
_WIDTH = {"float16": 1, "bfloat16": 1, "float32": 2, "float64": 3}


def _norm_input(x, dtype, name) -> Tensor:
    """``x`` checked to be a floating Tensor, cast to ``dtype`` when one is given (widening only,
    as in PyTorch)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: input must be a Tensor, got {type(x).__name__}")
    have = B.dtype_name(x.data.dtype)
    if have not in _FLOATS:
        raise TypeError(f"{name}: input must be floating point, got {have}")
    if dtype is None:
        return x
    want = as_dtype_name(dtype)
    if want not in _FLOATS:
        raise TypeError(f"{name}: dtype must be a floating dtype, got {want}")
    if want != have and (_WIDTH[want] < _WIDTH[have] or _WIDTH[want] == _WIDTH[have]):
        raise TypeError(f"{name}: the input's {have} cannot be narrowed to dtype {want}")
    return x if want == have else x.astype(want)


def _vector_ord(ord, name) -> float:
    if isinstance(ord, str) or not isinstance(ord, numbers.Real):
        raise TypeError(f"{name}: ord must be a number (inf and -inf included), got {ord!r}")
    ord = float(ord)
    if math.isnan(ord):
        raise ValueError(f"{name}: ord must not be NaN")
    return ord


@op
def _vector_norm(x: Tensor, ord: float, axes: tuple, keepdim: bool) -> Tensor:
    """The ``ord``-norm of ``x`` over ``axes`` (a sorted tuple), and its (sub)gradient: 0 where
    the norm is 0, and for ``ord`` < 1 also at the zero elements; the inf-norms share the
    gradient evenly among tied extreme elements (PyTorch's choices)."""
    name = B.dtype_name(x.data.dtype)
    work = "float32" if name in ("float16", "bfloat16") else name
    xw = B.cast(x.data, work)
    a = B.abs(xw)
    if ord == math.inf:
        r = B.max(a, axis=axes, keepdims=True) if axes else a
    elif ord == -math.inf:
        r = B.min(a, axis=axes, keepdims=True) if axes else a
    elif ord == 0:
        r = B.sum(B.cast(a != 0, work), axis=axes, keepdims=True)
    elif ord == 1:
        r = B.accurate_sum(a, axes, keepdims=True) if axes else a
    elif ord == 2:
        r = B.sqrt(B.accurate_sum(a * a, axes, keepdims=True)) if axes else a
    else:
        with_p = B.power(a, ord)
        r = B.power(B.accurate_sum(with_p, axes, keepdims=True) if axes else with_p, 1.0 / ord)
    out_shape = r.shape if keepdim else tuple(n for i, n in enumerate(a.shape) if i not in axes)
    out = B.cast(B.reshape(r, out_shape), name)

    def backward(g):
        gk = B.reshape(B.cast(g, work), r.shape)
        if ord == 0:
            gx = B.zeros(a.shape, dtype=xw.dtype)
        elif ord in (math.inf, -math.inf):
            ties = B.cast(a == r, work)
            count = B.sum(ties, axis=axes, keepdims=True) if axes else ties
            gx = B.sign(xw) * ties * (gk / B.maximum(count, 1))
        elif ord == 1:
            gx = B.sign(xw) * gk
        else:
            dead = r == 0
            if ord < 1:
                dead = B.logical_or(dead, a == 0)
            safe_r = B.where(r == 0, 1, r)
            if ord == 2:
                scale = xw / safe_r
            else:
                scale = B.sign(xw) * B.power(a / safe_r, ord - 1)
            gx = B.where(dead, 0, scale * gk)
        return (B.cast(gx, name),)

    if ord in (0, 1, math.inf, -math.inf):  # linear in g with a piecewise-constant factor
        return record(
            out,
            (x,),
            backward,
            "VectorNorm",
            adjoint=_norm_adjoint(backward, axes, r.shape, out_shape),
        )
    return record(out, (x,), backward, "VectorNorm", rule=_norm_rule(ord, r.shape))


def _norm_adjoint(backward, axes, reduced_shape, out_shape):
    """The transpose of the 0/1/inf-norm backward ``g -> factor * g`` (``factor`` constant):
    ``v -> sum(factor * v)`` over the reduced axes."""

    def adjoint(_i, v):
        factor = backward(B.ones(reduced_shape, dtype=v.dtype))[0]
        return B.reshape(B.sum(factor * v, axis=list(axes), keepdims=True), out_shape)

    return adjoint


def _norm_rule(ord, reduced_shape):
    """The p-norm's gradient ``sign(x) (|x| / r)^(p-1) g`` (``x / r`` for p = 2) on Tensors, 0
    where the norm is 0 and, for p < 1, at the zero elements (the array backward's choices)."""

    def rule(g, out, x):
        gk = S.reshape(g, reduced_shape)
        r = S.reshape(out, reduced_shape)
        dead = E.eq(r, 0)
        safe_r = E.where(dead, 1.0, r)
        if ord < 1:
            dead = dead | E.eq(x, 0)
        if ord == 2:
            scale = E.div(x, safe_r)
        else:
            a = E.where(dead, 1.0, E.abs(x))  # no inf/NaN in the branch where() drops
            scale = E.mul(E.sign(x), E.pow(E.div(a, safe_r), ord - 1))
        return (E.where(dead, 0.0, E.mul(scale, gk)),)

    return rule


def vector_norm(
    x: Tensor,
    ord: float = 2,
    dim: Dims = None,
    keepdim: bool = False,
    *,
    dtype: DTypeLike = None,
) -> Tensor:
    """``torch.linalg.vector_norm``: ``(sum |x|^ord)^(1/ord)`` over ``dim`` (an int, a tuple, or
    None / ``()`` for every dim), with ``ord`` = inf (max |x|), -inf (min |x|) and 0 (the count
    of nonzeros). Floating input only; ``dtype`` casts the input first (widening only).
    Differentiable to any order; the gradient of a zero norm is 0, as in PyTorch, and so is its
    derivative (PyTorch's is NaN)."""
    x = _norm_input(x, dtype, "vector_norm")
    ord = _vector_ord(ord, "vector_norm")
    axes = normalize_axes(None if dim is None or dim == () else dim, x.ndim, "dim")
    if (ord < 0 or ord == math.inf) and any(x.shape[i] == 0 for i in axes):
        raise ValueError(
            f"vector_norm: the {ord:g}-norm of an empty set of values is undefined (reducing "
            f"dims {axes} of shape {x.shape})"
        )
    return _vector_norm(x, ord, axes, bool(keepdim))


def _matrix_dims(A, dim, name):
    if A.ndim < 2:
        raise ValueError(f"{name}: the input must have at least 2 dimensions, got {A.shape}")
    if isinstance(dim, (int, np.integer)) or len(tuple(dim)) != 2:
        raise ValueError(f"{name}: dim must be a 2-tuple, got {dim!r}")
    d0, d1 = (normalize_axes(d, A.ndim, "dim")[0] for d in dim)
    if d0 == d1:
        raise ValueError(f"{name}: the two dims must differ, got {tuple(dim)}")
    return d0, d1


@op
def _svd_norm(A: Tensor, ord, d0: int, d1: int, keepdim: bool) -> Tensor:
    """The nuclear (``"nuc"``), spectral (2) or smallest-singular-value (-2) norm of the
    matrices in dims ``(d0, d1)`` (rows, cols); the gradient is ``U diag(dS) V^T``."""
    name = B.dtype_name(A.data.dtype)
    perm = [i for i in range(A.ndim) if i not in (d0, d1)] + [d0, d1]
    u, s, vh = B.svd(B.transpose(A.data, perm))
    if ord == "nuc":
        value = B.sum(s, axis=-1)
    else:
        value = s[..., 0] if ord == 2 else s[..., -1]
    kept = tuple(1 if i in (d0, d1) else n for i, n in enumerate(A.shape))
    out = B.cast(B.reshape(value, kept) if keepdim else value, name)

    def backward(g):
        gl = B.reshape(B.cast(g, B.dtype_name(s.dtype)), value.shape + (1, 1))
        if ord == "nuc":
            gm = B.matmul_on(u, vh, A._device)
        else:
            i = 0 if ord == 2 else s.shape[-1] - 1
            gm = u[..., :, i : i + 1] * vh[..., i : i + 1, :]
        return (B.cast(B.transpose(gm * gl, list(np.argsort(perm))), name),)

    return record(out, (A,), backward, "MatrixNorm", rule=_svd_norm_rule(ord, d0, d1, kept))


def _svd_norm_rule(ord, d0, d1, kept):
    def rule(g, _out, A):
        return (E.mul(S.reshape(g, kept), _svd_norm_grad(A, ord, d0, d1)),)

    return rule


def _swap(a):
    return np.swapaxes(a, -1, -2)


def _svd_norm_grad(A: Tensor, ord, d0: int, d1: int) -> Tensor:
    """The gradient of the nuclear/spectral norm in dims ``(d0, d1)`` (``U V^T``, or ``u_i
    v_i^T`` for the largest/smallest singular value) as a recorded op of ``A``: its backward is
    the norm's Hessian (symmetric) applied to the cotangent, so the norm has second-order
    gradients (not third: this op has no rule). Computed on the host in float64."""
    name = B.dtype_name(A.data.dtype)
    perm = [i for i in range(A.ndim) if i not in (d0, d1)] + [d0, d1]
    inverse = list(np.argsort(perm))
    u, s, vh = np.linalg.svd(np.transpose(B.to_numpy(A.data).astype(np.float64), perm), False)
    i = 0 if ord in ("nuc", 2) else s.shape[-1] - 1
    gm = u @ vh if ord == "nuc" else u[..., :, i : i + 1] * vh[..., i : i + 1, :]

    def backward(w):
        e = np.transpose(B.to_numpy(w).astype(np.float64), perm)
        h = _nuclear_hessian(u, s, vh, e) if ord == "nuc" else _sigma_hessian(u, s, vh, e, i)
        return (B.asarray(np.transpose(h, inverse), name),)

    return record(B.asarray(np.transpose(gm, inverse), name), (A,), backward, "MatrixNormGrad")


def _nuclear_hessian(u, s, vh, e):
    """d(U V^T) in direction ``e`` for ``A = U diag(s) V^T`` (the reduced SVD): the skew part of
    ``U^T e V`` scaled by 1 / (s_i + s_j), plus the parts of ``e`` outside the row/column
    spaces scaled by 1 / s."""
    v = _swap(vh)
    eb = _swap(u) @ e @ v
    omega = (eb - _swap(eb)) / (s[..., :, None] + s[..., None, :])
    outside_u = e - u @ (_swap(u) @ e)  # (I - U U^T) e: nonzero when rows > cols
    outside_v = e - (e @ v) @ vh  # e (I - V V^T): nonzero when cols > rows
    return (
        u @ omega @ vh
        + outside_u @ (v / s[..., None, :]) @ vh
        + (u / s[..., None, :]) @ _swap(u) @ outside_v
    )


def _sigma_hessian(u, s, vh, e, i):
    """d(u_i v_i^T) in direction ``e`` (the gradient of the singular value ``s_i``), from the
    first-order perturbation of the singular vectors (distinct singular values assumed)."""
    v = _swap(vh)
    eb = _swap(u) @ e @ v
    si = s[..., i : i + 1]
    gap = si**2 - s**2
    gap[..., i] = 1.0
    e_ji, e_ij = eb[..., :, i], eb[..., i, :]
    cu = (si * e_ji + s * e_ij) / gap
    cv = (si * e_ij + s * e_ji) / gap
    cu[..., i] = cv[..., i] = 0.0
    ui, vi = u[..., :, i], v[..., :, i]
    outside_u = e - u @ (_swap(u) @ e)
    outside_v = e - (e @ v) @ vh
    du = (u @ cu[..., None])[..., 0] + (outside_u @ vi[..., None])[..., 0] / si
    dv = (v @ cv[..., None])[..., 0] + (_swap(outside_v) @ ui[..., None])[..., 0] / si
    return du[..., :, None] * vi[..., None, :] + ui[..., :, None] * dv[..., None, :]


_MATRIX_ORDS = ("fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2)


def matrix_norm(
    A: Tensor,
    ord: float | str = "fro",
    dim: tuple[int, int] = (-2, -1),
    keepdim: bool = False,
    *,
    dtype: DTypeLike = None,
) -> Tensor:
    """``torch.linalg.matrix_norm`` of the matrices in dims ``dim`` (rows, cols): ``"fro"``
    (Frobenius), ``"nuc"`` (sum of singular values), inf / -inf (largest / smallest row sum of
    |A|), 1 / -1 (largest / smallest column sum of |A|), 2 / -2 (largest / smallest singular
    value). Differentiable; twice for ``"nuc"``, 2 and -2 (their Hessian assumes distinct
    nonzero singular values). The singular values are LAPACK's, computed on the host in
    float64."""
    A = _norm_input(A, dtype, "matrix_norm")
    d0, d1 = _matrix_dims(A, dim, "matrix_norm")
    if isinstance(ord, bool) or ord not in _MATRIX_ORDS:
        raise ValueError(
            f"matrix_norm: ord must be 'fro', 'nuc', inf, -inf, 1, -1, 2 or -2, got {ord!r}"
        )
    if ord == "fro":
        return _vector_norm(A, 2.0, tuple(sorted((d0, d1))), bool(keepdim))
    if ord in ("nuc", 2, -2):
        if A.shape[d0] == 0 or A.shape[d1] == 0:
            raise ValueError(f"matrix_norm: ord={ord!r} needs non-empty matrices, got {A.shape}")
        return _svd_norm(A, ord, d0, d1, bool(keepdim))
    from lucid.ops.reduce import amax, amin

    # 1/-1: sum over the rows (d0), extreme over the columns; inf/-inf the other way round
    sum_dim, pick_dim = (d0, d1) if ord in (1, -1) else (d1, d0)
    if not A.shape[pick_dim]:
        raise ValueError(f"matrix_norm: ord={ord!r} of matrices with no columns/rows: {A.shape}")
    sums = _vector_norm(A, 1.0, (sum_dim,), bool(keepdim))
    pick = pick_dim if keepdim or pick_dim < sum_dim else pick_dim - 1  # sum_dim dropped
    return (amax if ord in (1, math.inf) else amin)(sums, pick, keepdim=bool(keepdim))


def linalg_norm(
    A: Tensor,
    ord: float | str | None = None,
    dim: Dims = None,
    keepdim: bool = False,
    *,
    dtype: DTypeLike = None,
) -> Tensor:
    """``torch.linalg.norm``: a vector norm when ``dim`` is an int (or one dim), a matrix norm
    when it is a 2-tuple; with ``dim=None``, the 2-norm of every element when ``ord`` is None,
    else a vector norm of 1-D and a matrix norm of 2-D input."""
    given: Any = ord  # a string ord reaching vector_norm raises its TypeError there
    if dim is not None:
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        if len(dims) == 1:
            return vector_norm(A, 2 if ord is None else given, dims, keepdim, dtype=dtype)
        if len(dims) == 2:
            return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
        raise ValueError(f"linalg.norm: dim must have 1 or 2 entries, got {dim!r}")
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    ndim = getattr(A, "ndim", None)
    if ndim == 1:
        return vector_norm(A, given, None, keepdim, dtype=dtype)
    if ndim == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    raise ValueError(
        f"linalg.norm: with ord given and dim=None the input must be 1-D or 2-D, got {ndim}-D"
    )


@op  # (named "norm" in autocast's float32 list, as PyTorch's)
def norm(
    input: Tensor,
    p: float | str | None = "fro",
    dim: Dims = None,
    keepdim: bool = False,
    dtype: DTypeLike = None,
) -> Tensor:
    """``torch.norm``: with a number ``p`` (None: 2), the vector ``p``-norm over ``dim`` (every
    dim when None, however many); with ``"fro"`` and at most two dims, the 2-norm over them;
    ``"nuc"`` (and ``"fro"`` over more dims, an error) goes to :func:`matrix_norm`, whose
    ``dim`` defaults to every dim. Prefer ``lucid.linalg.vector_norm``/``matrix_norm``."""
    if isinstance(p, str):
        dims = None if dim is None else ((dim,) if isinstance(dim, int) else tuple(dim))
        if p == "fro" and (dims is None or len(dims) <= 2):
            return vector_norm(input, 2, dims, keepdim, dtype=dtype)
        if dims is None:
            dims = tuple(range(getattr(input, "ndim", 0)))
        return matrix_norm(input, p, dims, keepdim, dtype=dtype)  # type: ignore[arg-type]
    return vector_norm(input, 2 if p is None else p, dim, keepdim, dtype=dtype)
