"""Adam (optionally AMSGrad), AdamW (decoupled weight decay) and the moments they share with
NAdam, RAdam and Adamax."""

from __future__ import annotations

from collections.abc import Iterable

from lucid import _backend as B
from lucid.optim._checks import check_betas
from lucid.optim.optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


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

    def _first_moment(self, state, grad, b1):
        """``exp_avg`` moved toward ``grad`` by ``1 - b1``, as PyTorch's ``lerp_``: ``m + (1 -
        b1) (g - m)``, which rounds differently from ``b1 m + (1 - b1) g``."""
        m = state.get("exp_avg")
        m = (1.0 - b1) * grad if m is None else m.data + (1.0 - b1) * (grad - m.data)
        self._buffer(state, "exp_avg", m)
        return m

    def _second_moment(self, state, grad, b2):
        """``exp_avg_sq = b2 v + (1 - b2) g^2`` (PyTorch's ``mul_(b2).addcmul_(g, g, 1 - b2)``)."""
        v = state.get("exp_avg_sq")
        v = (1.0 - b2) * grad * grad if v is None else b2 * v.data + (1.0 - b2) * grad * grad
        self._buffer(state, "exp_avg_sq", v)
        return v

    def step(self, closure=None):
        """One update of every parameter with a gradient (see :class:`Optimizer`)."""
        self._next_counts: dict = {}
        try:
            return super().step(closure)
        finally:
            del self._next_counts

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
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        param, grad = self._decay(group, param, grad)
        step = self._count(state)
        m = self._first_moment(state, grad, b1)
        v = self._second_moment(state, grad, b2)
        if group["amsgrad"]:
            vmax = state.get("max_exp_avg_sq")
            v = v if vmax is None else B.maximum(vmax.data, v)
            self._buffer(state, "max_exp_avg_sq", v)
        bias1 = 1.0 - b1**step
        bias2_sqrt = (1.0 - b2**step) ** 0.5  # step may be a 0-d array (lucid.compile)
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
