"""L-BFGS (limited-memory BFGS), PyTorch's algorithm: several iterations per ``step(closure)``,
a two-loop recursion over the last ``history_size`` curvature pairs, a fixed step ``lr`` (the
first iteration scaled by ``min(1, 1 / |g|_1)``), or a strong-Wolfe line search."""

from __future__ import annotations

from collections.abc import Iterable

from lucid import _backend as B
from lucid.autograd.grad_mode import enable_grad
from lucid.optim._checks import check_nonnegative
from lucid.optim._line_search import strong_wolfe
from lucid.optim.optimizer import Optimizer
from lucid.tensor import Tensor

__all__ = ["LBFGS"]


def _dot(a, b) -> float:
    return B.item(B.sum(a * b))


class LBFGS(Optimizer):
    """L-BFGS over every parameter as one flat vector (one parameter group only).

    ``step(closure)`` needs a closure that zeroes the gradients, recomputes the loss, calls
    ``backward()`` and returns the loss; it runs up to ``max_iter`` iterations (``max_eval``
    closure calls, default ``max_iter * 5 // 4``) and stops early when the largest gradient
    entry is ``<= tolerance_grad`` or the step or loss changes by less than
    ``tolerance_change``. ``line_search_fn`` is None (fixed step ``lr``) or ``'strong_wolfe'``.
    Returns the loss of the first closure call.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1.0,
        max_iter: int = 20,
        max_eval=None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn=None,
    ):
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        super().__init__(
            params,
            dict(
                lr=lr,
                max_iter=max_iter,
                max_eval=max_eval,
                tolerance_grad=tolerance_grad,
                tolerance_change=tolerance_change,
                history_size=history_size,
                line_search_fn=line_search_fn,
            ),
        )
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    def _check_group(self, group):
        check_nonnegative(group, "lr", "tolerance_grad", "tolerance_change")
        for name in ("max_iter", "max_eval", "history_size"):
            if not isinstance(group[name], int) or group[name] < 1:
                raise ValueError(f"Invalid {name} value: {group[name]} (expected an int >= 1)")
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(
                f"line_search_fn must be None or 'strong_wolfe', got {group['line_search_fn']!r}"
            )

    # --- the parameters as one flat vector ---------------------------------------------------
    def _flat_grad(self):
        parts = []
        for p in self._params:
            g = (
                B.zeros((p.numel(),), dtype=p.data.dtype)
                if p.grad is None
                else B.reshape(p.grad.data.astype(p.data.dtype), (-1,))
            )
            parts.append(g)
        return B.concatenate(parts, axis=0)

    def _flat_params(self):
        return B.concatenate([B.reshape(p.data, (-1,)) for p in self._params], axis=0)

    def _set_flat(self, flat) -> None:
        offset = 0
        for p in self._params:
            p.data = B.reshape(flat[offset : offset + p.numel()], p.shape).astype(p.data.dtype)
            offset += p.numel()

    def _evaluate(self, closure, flat):
        """(loss, flat gradient) with the parameters set to ``flat``."""
        self._set_flat(flat)
        with enable_grad():
            loss = float(closure())
        return loss, self._flat_grad()

    # --- the iterations ----------------------------------------------------------------------
    def step(self, closure=None):
        """Run up to ``max_iter`` L-BFGS iterations; returns the closure's first loss."""
        if closure is None:
            raise ValueError(
                "LBFGS.step needs a closure that recomputes the loss and its gradients"
            )
        group = self.param_groups[0]
        lr, history = group["lr"], group["history_size"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        evals = 1
        state["func_evals"] += 1
        g = self._flat_grad()
        if B.max(B.abs(g)).item() <= tol_grad:
            return orig_loss
        d, t = self._array(state, "d"), state.get("t")
        old_dirs = [v.data for v in state.get("old_dirs", [])]
        old_stps = [v.data for v in state.get("old_stps", [])]
        ro = list(state.get("ro", []))
        h_diag = state.get("H_diag", 1.0)
        prev_g, prev_loss = self._array(state, "prev_flat_grad"), state.get("prev_loss")
        n = 0
        while n < group["max_iter"]:
            n += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d, old_dirs, old_stps, ro, h_diag = -g, [], [], [], 1.0
            else:
                y, s = g - prev_g, d * t
                ys = _dot(y, s)
                if ys > 1e-10:  # keep only pairs that keep the Hessian estimate positive
                    if len(old_dirs) == history:
                        old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                    old_dirs.append(y), old_stps.append(s), ro.append(1.0 / ys)
                    h_diag = ys / _dot(y, y)
                d = self._two_loop(-g, old_dirs, old_stps, ro, h_diag)
            prev_g, prev_loss = g, loss
            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / B.sum(B.abs(g)).item()) * lr
            else:
                t = lr
            gtd = _dot(g, d)
            if gtd > -tol_change:  # not a descent direction
                break
            used = 0
            if group["line_search_fn"] == "strong_wolfe":
                x0 = self._flat_params()
                loss, g, t, used = strong_wolfe(
                    lambda x, step, direction: self._evaluate(closure, x + step * direction),
                    x0,
                    t,
                    d,
                    loss,
                    g,
                    gtd,
                )
                self._set_flat(x0 + t * d)
            else:
                self._set_flat(self._flat_params() + t * d)
                if n != group["max_iter"]:
                    with enable_grad():
                        loss = float(closure())
                    g = self._flat_grad()
                    used = 1
            evals += used
            state["func_evals"] += used
            if n == group["max_iter"] or evals >= group["max_eval"]:
                break
            if B.max(B.abs(g)).item() <= tol_grad:
                break
            if B.max(B.abs(d * t)).item() <= tol_change or abs(loss - prev_loss) < tol_change:
                break
        state.update(
            d=Tensor._wrap(d),
            t=t,
            H_diag=h_diag,
            ro=ro,
            prev_loss=prev_loss,
            old_dirs=[Tensor._wrap(v) for v in old_dirs],
            old_stps=[Tensor._wrap(v) for v in old_stps],
            prev_flat_grad=Tensor._wrap(prev_g),
        )
        B.evaluate(*(p.data for p in self._params))
        return orig_loss

    @staticmethod
    def _two_loop(q, dirs, stps, ro, h_diag):
        """The L-BFGS direction: the inverse-Hessian estimate applied to ``q`` (= -g)."""
        al = [0.0] * len(dirs)
        for i in range(len(dirs) - 1, -1, -1):
            al[i] = _dot(stps[i], q) * ro[i]
            q = q - al[i] * dirs[i]
        r = q * h_diag
        for i in range(len(dirs)):
            be = _dot(dirs[i], r) * ro[i]
            r = r + (al[i] - be) * stps[i]
        return r

    @staticmethod
    def _array(state, name):
        value = state.get(name)
        return None if value is None else value.data

    def _restore(self, value, param, name):
        """Flat vectors (and lists of them) keep their own shape; only the dtype follows."""
        if isinstance(value, list):
            return [self._restore(v, param, name) for v in value]
        if isinstance(value, Tensor) and B.is_floating(value.data.dtype):
            return Tensor._wrap(value.data.astype(param.data.dtype), param._device)
        return super()._restore(value, param, name)
