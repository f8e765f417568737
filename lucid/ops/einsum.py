"""``einsum``: Einstein summation (PyTorch's signature), with its gradient.

The gradient for each operand is another einsum: the output gradient contracted with the other
operands onto that operand's subscripts. Two cases need care: a letter that appears only in that
operand (summed away: its gradient is constant along it) and a repeated letter (a diagonal: the
gradient lives on the diagonal only).
"""

from __future__ import annotations

import string

from lucid import _backend as B
from lucid.ops import shape as shape_ops
from lucid.ops._util import as_tensor, op, record
from lucid.tensor import Tensor


def _parse(equation, shapes):
    """(input subscripts, output subscripts) with ``...`` replaced by explicit letters."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(
            f"einsum: the equation {equation!r} has {len(terms)} operand(s), "
            f"got {len(shapes)} tensor(s)"
        )
    used = set(c for c in eq if c.isalpha())
    spare = [c for c in string.ascii_letters if c not in used]
    ell_rank = 0
    for term, shape in zip(terms, shapes):
        letters = term.replace("...", "")
        if not all(c.isalpha() for c in letters) or term.count("...") > 1:
            raise ValueError(f"einsum: invalid subscripts {term!r} in {equation!r}")
        if "..." in term:
            ell_rank = max(ell_rank, len(shape) - len(letters))
        elif len(letters) != len(shape):
            raise ValueError(
                f"einsum: subscripts {term!r} name {len(letters)} dimensions but the "
                f"operand has shape {tuple(shape)}"
            )
    ell = "".join(spare[:ell_rank])
    out_terms = []
    for term, shape in zip(terms, shapes):
        if "..." in term:
            n = len(shape) - len(term.replace("...", ""))
            term = term.replace("...", ell[ell_rank - n :] if n else "")
        out_terms.append(term)
    if arrow:
        output = rhs.replace("...", ell)
        if not all(c.isalpha() for c in output) or len(set(output)) != len(output):
            raise ValueError(f"einsum: invalid output subscripts {rhs!r} in {equation!r}")
        missing = set(output) - set("".join(out_terms))
        if missing:
            raise ValueError(f"einsum: output subscript(s) {sorted(missing)} appear in no operand")
    else:  # implicit mode: broadcast dims, then letters seen once, alphabetically
        counts = {}
        for c in "".join(out_terms):
            if c not in ell:
                counts[c] = counts.get(c, 0) + 1
        output = ell + "".join(sorted(c for c, k in counts.items() if k == 1))
    return out_terms, output


def _sizes(terms, shapes):
    sizes = {}
    for term, shape in zip(terms, shapes):
        for c, n in zip(term, shape):
            if sizes.get(c, n) != n and n != 1 and sizes[c] != 1:
                raise ValueError(
                    f"einsum: subscript {c!r} has size {sizes[c]} in one operand and {n} in another"
                )
            sizes[c] = max(sizes.get(c, n), n)
    return sizes


class _Arrays:
    """The functions ``_grad_for`` calls, on backend arrays (the first-order backward)."""

    einsum = staticmethod(B.einsum)
    reshape = staticmethod(B.reshape)
    broadcast_to = staticmethod(B.broadcast_to)

    @staticmethod
    def eye(n, like):
        return B.eye(n, dtype=like.dtype)


class _Tensors:
    """The same on Tensors, as recorded ops (the gradient for ``create_graph``)."""

    @staticmethod
    def einsum(eq, *operands):
        return einsum(eq, *operands)

    reshape = staticmethod(shape_ops.reshape)
    broadcast_to = staticmethod(shape_ops.broadcast_to)

    @staticmethod
    def eye(n, like):
        return Tensor._wrap(B.eye(n, dtype=like.data.dtype), like._device)


def _grad_for(i, terms, output, arrays, g, sizes, ops=_Arrays):
    """The gradient of the einsum with respect to operand ``i`` (on arrays, or with
    ``ops=_Tensors`` on Tensors)."""
    term = terms[i]
    unique = "".join(dict.fromkeys(term))
    others = [t for j, t in enumerate(terms) if j != i]
    available = set(output).union(*others)
    reachable = "".join(c for c in unique if c in available)
    eq = ",".join([output] + others) + "->" + reachable
    grad = ops.einsum(eq, g, *[a for j, a in enumerate(arrays) if j != i])
    # letters summed within this operand only: the gradient is constant along them
    full_shape = tuple(sizes[c] for c in unique)
    grad = ops.reshape(grad, tuple(sizes[c] if c in reachable else 1 for c in unique))
    grad = ops.broadcast_to(grad, full_shape)
    if unique == term:
        return grad
    # repeated letters: place the gradient on the diagonal of the operand's shape
    first = {c: term.index(c) for c in unique}
    shape = [1] * len(term)
    for c in unique:
        shape[first[c]] = sizes[c]
    grad = ops.reshape(grad, tuple(shape))  # ``unique`` is in first-occurrence order
    for pos, c in enumerate(term):
        if pos != first[c]:
            eye_shape = [1] * len(term)
            eye_shape[first[c]] = eye_shape[pos] = sizes[c]
            grad = grad * ops.reshape(ops.eye(sizes[c], g), tuple(eye_shape))
    return grad


@op
def einsum(equation, *operands) -> Tensor:
    """Sum of products over the subscripts of ``equation`` (``"ij,jk->ik"``; ``...`` broadcasts;
    without ``->`` the output is the letters seen once, alphabetically). Operands may also be
    given as one list."""
    if not isinstance(equation, str):
        raise TypeError(
            f"einsum: the first argument must be the equation string, got {type(equation).__name__}"
        )
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    operands = tuple(as_tensor(t) for t in operands)
    arrays = [t.data for t in operands]
    terms, output = _parse(equation, [a.shape for a in arrays])
    sizes = _sizes(terms, [a.shape for a in arrays])
    eq = ",".join(terms) + "->" + output
    y = B.einsum(eq, *arrays)

    def backward(g):
        return tuple(
            _grad_for(i, terms, output, arrays, g, sizes)
            if isinstance(t, Tensor) and t.requires_grad
            else None
            for i, t in enumerate(operands)
        )

    def rule(g, _out, *tensors):
        return tuple(
            _grad_for(i, terms, output, tensors, g, sizes, _Tensors) if t.requires_grad else None
            for i, t in enumerate(tensors)
        )

    return record(y, operands, backward, "Einsum", rule=rule)
