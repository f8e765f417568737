"""Fused loss ops: forward beside backward, for the losses whose composite form would be slower
or numerically wrong.

- ``cross_entropy`` (class indices): one op instead of log_softmax + gather + mask, so a volume
  of logits (N, C, D, H, W) costs one full-size intermediate (the log-probabilities) and its
  backward is the closed form ``softmax * A - a``.
- ``nll_loss``: a gather whose backward is a scatter.
- ``binary_cross_entropy``: PyTorch's clamped logs (>= -100) with the gradient formula that
  stays finite at p = 0 and p = 1 (the composite form would give 0 * inf = NaN there).
- ``binary_cross_entropy_with_logits``: the stable softplus form with the exact gradient
  ``sigmoid(x) - t`` (a composite through abs() would be wrong at x = 0).

The ops return per-element losses (no reduction, weights for the class ops applied); the
functional layer reduces them. Class axis is 1; targets are already validated there. Each op
also gives its gradient on Tensors (``rule``) or its transpose (``adjoint``), so that gradients
of these losses can be differentiated again (``create_graph``).
"""

from __future__ import annotations

from lucid import _backend as B
from lucid.ops import elementwise as E, shape as S
from lucid.ops._util import op, record
from lucid.ops.activation import logsigmoid, softmax
from lucid.tensor import Tensor


def _class_axis_shape(ndim: int, c: int) -> tuple:
    """Shape that puts a (C,) vector on axis 1 of an ndim-array."""
    return (1, c) + (1,) * (ndim - 2)


def target_weights(target, weight, ignore_index: int, dtype):
    """(safe class indices with ignored entries set to 0, per-position weight w[y] * not-ignored)
    as backend arrays; ``weight`` is a (C,) array or None."""
    keep = B.not_equal(target, ignore_index)
    safe = B.where(keep, target, 0)
    if weight is None:
        wy = keep.astype(dtype)
    else:
        wy = B.where(keep, B.take(weight, safe, axis=0), 0).astype(dtype)
    return safe, wy


def _softplus_neg(x):
    """log(1 + exp(-x)), stable for every x."""
    return B.log1p(B.exp(-B.abs(x))) + B.maximum(-x, 0)


@op
def cross_entropy(x, target, weight=None, ignore_index=-100, label_smoothing=0.0):
    """Per-position cross entropy of logits ``x`` (N, C, *S) against class indices ``target``
    (N, *S) (a backend int array), with optional class ``weight`` (a (C,) backend array),
    ``ignore_index`` positions giving 0, and ``label_smoothing`` eps:
    ``loss = -m * ((1 - eps) * w[y] * logp[y] + eps / C * sum_c w[c] * logp[c])``.
    """
    xd = x.data
    c = xd.shape[1]
    eps = float(label_smoothing)
    w = None if weight is None else weight.astype(xd.dtype)
    safe, wy = target_weights(target, w, ignore_index, xd.dtype)
    idx = B.expand_dims(safe, 1)
    # log-probabilities (MLX cannot reduce an empty array: an empty batch has nothing to do)
    z = xd - B.logsumexp(xd, axis=1, keepdims=True) if xd.size else xd
    loss = -(1.0 - eps) * wy * B.reshape(B.take_along_axis(z, idx, axis=1), wy.shape)
    keep = B.not_equal(target, ignore_index).astype(xd.dtype)
    w_b = None if w is None else B.reshape(w, _class_axis_shape(xd.ndim, c))
    if eps > 0:
        wz = z if w is None else z * w_b
        loss = loss - (eps / c) * keep * B.sum(wz, axis=1)
    # dL/dx = p * A - a with a[c] = m * ((1 - eps) * w[y] * [c == y] + eps / C * w[c]), A = sum a
    wsum = float(c) if w is None else B.sum(w)
    total = (1.0 - eps) * wy + (eps / c) * wsum * keep

    def backward(g):
        gx = B.exp(z) * B.expand_dims(g * total, 1)
        if eps > 0:
            smooth = B.expand_dims(g * keep * (eps / c), 1)
            gx = gx - (smooth if w is None else smooth * w_b)
        at_target = B.take_along_axis(gx, idx, axis=1) - B.expand_dims(g * wy * (1.0 - eps), 1)
        return (B.put_along_axis(gx, idx, at_target, axis=1),)

    def rule(g, _out, x):  # the backward above on Tensors: softmax * A - a
        def const(a):
            return Tensor._wrap(a, x._device)

        gx = E.mul(softmax(x, 1), S.unsqueeze(E.mul(g, const(total)), 1))
        if eps > 0:
            smooth = S.unsqueeze(E.mul(g, const(keep * (eps / c))), 1)
            gx = E.sub(gx, smooth if w is None else E.mul(smooth, const(w_b)))
        zeros = B.zeros(xd.shape, dtype=xd.dtype)
        onehot = B.put_along_axis(zeros, idx, B.ones(idx.shape, dtype=xd.dtype), axis=1)
        picked = S.unsqueeze(E.mul(g, const(wy * (1.0 - eps))), 1)
        return (E.sub(gx, E.mul(picked, const(onehot))),)

    return record(loss, (x,), backward, "CrossEntropy", rule=rule)


@op
def nll_loss(x, target, weight=None, ignore_index=-100):
    """Per-position negative log-likelihood ``-w[y] * x[n, y]`` of log-probabilities ``x``
    (N, C, *S) at class indices ``target`` (N, *S); ``ignore_index`` positions give 0."""
    xd = x.data
    w = None if weight is None else weight.astype(xd.dtype)
    safe, wy = target_weights(target, w, ignore_index, xd.dtype)
    idx = B.expand_dims(safe, 1)
    loss = -wy * B.reshape(B.take_along_axis(xd, idx, axis=1), wy.shape)
    shape, dtype = xd.shape, xd.dtype

    def backward(g):
        return (
            B.put_along_axis(B.zeros(shape, dtype=dtype), idx, B.expand_dims(-g * wy, 1), axis=1),
        )

    def adjoint(_i, v):  # the transpose of the scatter: v read at the targets
        return -wy * B.reshape(B.take_along_axis(v, idx, axis=1), wy.shape)

    return record(loss, (x,), backward, "NllLoss", adjoint=adjoint)


@op
def binary_cross_entropy(p, t):
    """Elementwise ``-(t * max(log p, -100) + (1 - t) * max(log(1 - p), -100))``."""
    pd, td = p.data, (t.data if hasattr(t, "data") else t)
    log_p = B.maximum(B.log(pd), -100.0)
    log_q = B.maximum(B.log1p(-pd), -100.0)
    loss = -(td * log_p + (1.0 - td) * log_q)

    def backward(g):
        gp = g * (pd - td) / B.maximum(pd * (1.0 - pd), 1e-12)  # PyTorch's guarded formula
        gt = g * (log_q - log_p)
        return gp, gt

    return record(loss, (p, t), backward, "BinaryCrossEntropy", rule=_bce_rule)


def _wants_grad(t):
    return isinstance(t, Tensor) and t.requires_grad


def _bce_rule(g, _out, p, t):
    gp = E.div(E.mul(g, E.sub(p, t)), E.maximum(E.mul(p, 1.0 - p), 1e-12))
    gt = None
    if _wants_grad(t):
        log_p = E.maximum(E.log(p), -100.0)
        log_q = E.maximum(E.log1p(-p), -100.0)
        gt = E.mul(g, E.sub(log_q, log_p))
    return gp, gt


@op
def binary_cross_entropy_with_logits(x: Tensor, t, pos_weight: Tensor | None = None) -> Tensor:
    """Elementwise ``(1 - t) * x + (1 + (pos_weight - 1) * t) * log(1 + exp(-x))``, stable."""
    xd, td = x.data, (t.data if hasattr(t, "data") else t)
    pw = None if pos_weight is None else pos_weight.data.astype(xd.dtype)
    sp = _softplus_neg(xd)
    lw = 1.0 if pw is None else 1.0 + (pw - 1.0) * td
    loss = (1.0 - td) * xd + lw * sp

    def backward(g):
        gx = g * ((1.0 - td) - lw * B.sigmoid(-xd))
        gt = g * (-xd if pw is None else (pw - 1.0) * sp - xd)
        gpw = None if pw is None else g * td * sp
        return gx, gt, gpw

    return record(
        loss, (x, t, pos_weight), backward, "BinaryCrossEntropyWithLogits", rule=_bce_logits_rule
    )


def _bce_logits_rule(g, _out, x, t, pw):
    sp = -logsigmoid(x)  # log(1 + exp(-x)), with its exact derivative -sigmoid(-x)
    lw = 1.0 if pw is None else E.add(E.mul(E.sub(pw, 1.0), t), 1.0)
    gx = E.mul(g, E.sub(E.sub(1.0, t), E.mul(lw, E.sigmoid(-x))))
    gt = gpw = None
    if _wants_grad(t):
        gt = E.mul(g, -x if pw is None else E.sub(E.mul(E.sub(pw, 1.0), sp), x))
    if _wants_grad(pw):
        gpw = E.mul(E.mul(g, t), sp)
    return gx, gt, gpw
