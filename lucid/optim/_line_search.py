"""A line search satisfying the strong Wolfe conditions (Nocedal & Wright, Algorithms 3.5 and
3.6: bracketing, then zooming with safeguarded cubic interpolation), with the choices PyTorch's
L-BFGS makes so the two take the same steps."""

from __future__ import annotations

import math

from lucid import _backend as B


def cubic_minimizer(t1, f1, g1, t2, f2, g2, bounds=None) -> float:
    """The minimizer of the cubic through (t1, f1) and (t2, f2) with slopes g1, g2, clamped to
    ``bounds`` (default the interval between t1 and t2); the midpoint when the cubic has none."""
    lo, hi = bounds if bounds is not None else (min(t1, t2), max(t1, t2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (t1 - t2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = math.sqrt(disc)
    if t1 <= t2:
        t = t2 - (t2 - t1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        t = t1 - (t1 - t2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(t, lo), hi)


class _Point:
    """A trial step: its length, loss, flat gradient and directional derivative."""

    __slots__ = ("t", "f", "g", "gtd")

    def __init__(self, t, f, g, gtd):
        self.t, self.f, self.g, self.gtd = t, f, g, gtd


def strong_wolfe(evaluate, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Search along ``d`` from ``x`` (loss ``f``, gradient ``g``, slope ``gtd`` < 0) starting
    at step ``t``; ``evaluate(x, t, d)`` returns (loss, flat gradient) at ``x + t d``.
    Returns (loss, gradient, step, number of evaluations)."""
    d_norm = B.max(B.abs(d)).item()

    def trial(step):
        f_new, g_new = evaluate(x, step, d)
        return _Point(step, f_new, g_new, B.sum(g_new * d).item())

    start = _Point(0.0, f, g, gtd)
    prev, new = start, trial(t)
    evals, it = 1, 0
    bracket = None
    # bracketing: grow the step until the interval [prev, new] holds an acceptable step
    while it < max_ls:
        if new.f > f + c1 * new.t * gtd or (it > 1 and new.f >= prev.f):
            bracket = [prev, new]
            break
        if abs(new.gtd) <= -c2 * gtd:
            return new.f, new.g, new.t, evals
        if new.gtd >= 0:
            bracket = [prev, new]
            break
        step = cubic_minimizer(
            prev.t,
            prev.f,
            prev.gtd,
            new.t,
            new.f,
            new.gtd,
            bounds=(new.t + 0.01 * (new.t - prev.t), new.t * 10),
        )
        prev, new = new, trial(step)
        evals += 1
        it += 1
    if bracket is None:  # out of evaluations: PyTorch keeps the better end of [0, t]
        bracket = [_Point(0.0, f, g, gtd), new]
    # zoom: shrink the bracket; low is its end with the lower loss
    low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
    stuck = False
    while it < max_ls:
        a, b = bracket
        if abs(b.t - a.t) * d_norm < tolerance_change:
            break
        step = cubic_minimizer(a.t, a.f, a.gtd, b.t, b.f, b.gtd)
        left, right = min(a.t, b.t), max(a.t, b.t)
        margin = 0.1 * (right - left)
        if min(right - step, step - left) < margin:  # too close to an end: move inward
            if stuck or step >= right or step <= left:
                step = right - margin if abs(step - right) < abs(step - left) else left + margin
                stuck = False
            else:
                stuck = True
        else:
            stuck = False
        new = trial(step)
        evals += 1
        it += 1
        if new.f > f + c1 * new.t * gtd or new.f >= bracket[low].f:
            bracket[high] = new
            low, high = (0, 1) if bracket[0].f <= bracket[1].f else (1, 0)
            continue
        if abs(new.gtd) <= -c2 * gtd:
            bracket[low] = new
            break
        if new.gtd * (bracket[high].t - bracket[low].t) >= 0:
            bracket[high] = bracket[low]
        bracket[low] = new
    best = bracket[low]
    return best.f, best.g, best.t, evals
