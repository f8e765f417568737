"""Adam (optionally AMSGrad) and AdamW (decoupled weight decay)."""

from __future__ import annotations

from collections.abc import Iterable

from lucid import _backend as B
from lucid.optim._checks import check_betas
from lucid.optim.optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam with PyTorch's update rule. With t the step count:

    ``g += weight_decay * p`` (L2, coupled); ``m = b1 m + (1 - b1) g``;
    ``v = b2 v + (1 - b2) g^2``; with ``amsgrad``, ``v_max = max(v_max, v)`` replaces v below;
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
    """

    _decoupled = False

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

    def _check_group(self, group):
        self._nonnegative(group, "lr", "eps", "weight_decay")
        group["betas"] = check_betas(group["betas"])

    def _update(self, group, param, grad, state):
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if wd:
            if self._decoupled:
                param = param * (1.0 - lr * wd)
            else:
                grad = grad + wd * param
        step = state.get("step", 0) + 1
        state["step"] = step
        m, v = state.get("exp_avg"), state.get("exp_avg_sq")
        m = (1.0 - b1) * grad if m is None else b1 * m.data + (1.0 - b1) * grad
        v = (1.0 - b2) * grad * grad if v is None else b2 * v.data + (1.0 - b2) * grad * grad
        self._buffer(state, "exp_avg", m)
        self._buffer(state, "exp_avg_sq", v)
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
