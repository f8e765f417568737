"""Adam (optionally AMSGrad), AdamW (decoupled weight decay) and the moments they share with
NAdam, RAdam and Adamax."""

from __future__ import annotations

import math
from collections.abc import Iterable

from lucid import _backend as B
from lucid.optim._checks import check_betas
from lucid.optim.optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class _Betas(tuple):
    """A group's betas with their complements ``1 - b`` beside them (``None``: not given).
    ``lucid.compile`` puts these in a group while it traces: both are float32 inputs of the
    graph, the complements computed on the host in float64, since ``1 - b`` of a float32 ``b``
    keeps ``b``'s rounding (1.3e-5 relative for 0.999)."""

    complements: tuple

    def __new__(cls, values, complements):
        out = super().__new__(cls, values)
        out.complements = tuple(complements)
        return out

    @staticmethod
    def complement(betas, i):
        """``1 - betas[i]``: the one held beside it, else computed (in float64 for a number)."""
        held = getattr(betas, "complements", None)
        if held is not None and held[i] is not None:
            return held[i]
        return 1.0 - betas[i]

    @classmethod
    def replace(cls, betas, i, value=None, complement=None):
        """``betas`` with beta ``i`` (or its complement) replaced."""
        values = list(betas)
        held = list(getattr(betas, "complements", None) or [None] * len(values))
        if value is not None:
            values[i] = value
        if complement is not None:
            held[i] = complement
        return cls(values, held)


def _log_beta(c):
    """``log(b) = log1p(-c)`` from ``c = 1 - b``: accurate for b near 1."""
    return B.log1p(-c) if isinstance(c, B.Array) else math.log1p(-c)


def _bias_correction(b, c, t, log_b=None):
    """``1 - b**t``, given ``c = 1 - b``. Numbers (an eager step): PyTorch's formula, in float64.
    A traced beta or step count (float32 arrays): ``-expm1(t log(b))`` with ``log(b) =
    log1p(-c)`` (``log_b``, if given), which does not cancel as ``1 - b**t`` does in float32
    (``b**t`` is near 1, rounded to 6e-8: 2e-5 relative error of ``1 - 0.999**2``)."""
    if not isinstance(b, B.Array) and not isinstance(t, B.Array):
        return 1.0 - b**t
    return -B.expm1(t * (_log_beta(c) if log_b is None else log_b))


class _AdamLike(Optimizer):
    """What Adam, AdamW, NAdam, RAdam and Adamax share: checks, weight decay, the step count
    and the two moments, with PyTorch's formulas (the first moment as its ``lerp``)."""

    _decoupled = False  # the weight decay without a ``decoupled_weight_decay`` group entry

    def _check_group(self, group):
        self._nonnegative(group, "lr", "eps", "weight_decay")
        group["betas"] = check_betas(group["betas"])

    def _decay(self, group, param, grad):
        """(param, grad) after weight decay: decoupled (``p *= 1 - lr wd``) or L2."""
        wd = group["weight_decay"]
        if not wd:
            return param, grad
        if group.get("decoupled_weight_decay", self._decoupled):
            return param * (1.0 - group["lr"] * wd), grad
        return param, grad + wd * param

    @staticmethod
    def _betas(group):
        """``(b1, b2), (1 - b1, 1 - b2)``: the complements as PyTorch computes them (in float64)
        eagerly, and the host-computed inputs in a ``lucid.compile`` trace (see :class:`_Betas`)."""
        betas = group["betas"]
        return tuple(betas), tuple(_Betas.complement(betas, i) for i in range(len(betas)))

    def _first_moment(self, state, grad, c1):
        """``exp_avg`` moved toward ``grad`` by ``c1 = 1 - b1``, as PyTorch's ``lerp_``: ``m +
        (1 - b1) (g - m)``, which rounds differently from ``b1 m + (1 - b1) g``."""
        m = state.get("exp_avg")
        m = c1 * grad if m is None else m.data + c1 * (grad - m.data)
        self._buffer(state, "exp_avg", m)
        return m

    def _second_moment(self, state, grad, b2, c2):
        """``exp_avg_sq = b2 v + (1 - b2) g^2`` (PyTorch's ``mul_(b2).addcmul_(g, g, 1 - b2)``),
        with ``c2 = 1 - b2``."""
        v = state.get("exp_avg_sq")
        v = c2 * grad * grad if v is None else b2 * v.data + c2 * grad * grad
        self._buffer(state, "exp_avg_sq", v)
        return v

    def step(self, closure=None):
        """One update of every parameter with a gradient (see :class:`Optimizer`)."""
        self._next_counts: dict = {}
        self._step_memo: dict = {}
        try:
            return super().step(closure)
        finally:
            del self._next_counts, self._step_memo

    def _bias(self, b, c, t):
        """:func:`_bias_correction`; from arrays, ``log1p(-c)`` once per complement and the
        correction once per (complement, count) in a step, so a compiled graph has one chain
        per group and count rather than one per parameter (``expm1``/``log1p`` chains cost
        more than ``b**t`` did)."""
        if not isinstance(b, B.Array) and not isinstance(t, B.Array):
            return _bias_correction(b, c, t)
        log_b = self._once(("log1p", c), lambda: _log_beta(c))
        return self._once(("bias", c, t), lambda: _bias_correction(b, c, t, log_b))

    def _once(self, key, make):
        """``make()``, computed once per step for ``key`` (a tag and objects, by identity)."""
        memo = getattr(self, "_step_memo", None)
        if memo is None:
            return make()
        ids = (key[0],) + tuple(id(x) for x in key[1:])
        hit = memo.get(ids)
        if hit is None or any(x is not y for x, y in zip(hit[0], key[1:])):
            hit = memo[ids] = (key[1:], make())  # the objects are kept: their ids stay theirs
        return hit[1]

    def _count(self, state):
        """The step count after this step. In a ``lucid.compile`` step the count is a 0-d array;
        parameters whose counts are one array get one array back (so the compiled graph keeps
        one count, and one bias-correction chain, instead of one per parameter)."""
        old = state.get("step", 0)
        if not isinstance(old, B.Array):
            state["step"] = old + 1
            return state["step"]
        memo = getattr(self, "_next_counts", None)
        hit = memo.get(id(old)) if memo is not None else None
        if hit is None or hit[0] is not old:
            hit = (old, old + 1)
            if memo is not None:
                memo[id(old)] = hit
        state["step"] = hit[1]
        return hit[1]


class Adam(_AdamLike):
    """Adam with PyTorch's update rule. With t the step count:

    ``g += weight_decay * p`` (L2, coupled); ``m = m + (1 - b1) (g - m)``;
    ``v = b2 v + (1 - b2) g^2``; with ``amsgrad``, ``v_max = max(v_max, v)`` replaces v below;
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=tuple(betas),
                eps=eps,
                weight_decay=weight_decay,
                amsgrad=amsgrad,
                maximize=maximize,
            ),
        )

    def _update(self, group, param, grad, state):
        lr, eps = group["lr"], group["eps"]
        (b1, b2), (c1, c2) = self._betas(group)
        param, grad = self._decay(group, param, grad)
        step = self._count(state)
        m = self._first_moment(state, grad, c1)
        v = self._second_moment(state, grad, b2, c2)
        if group["amsgrad"]:
            vmax = state.get("max_exp_avg_sq")
            v = v if vmax is None else B.maximum(vmax.data, v)
            self._buffer(state, "max_exp_avg_sq", v)
        bias1 = self._bias(b1, c1, step)
        bias2_sqrt = self._bias(b2, c2, step) ** 0.5  # step may be a 0-d array
        denom = B.sqrt(v) / bias2_sqrt + eps
        return param - (lr / bias1) * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay: ``p *= 1 - lr * weight_decay`` before the Adam step
    (which then sees the raw gradient)."""

    _decoupled = True

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        maximize: bool = False,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)
