"""Measure every candidate kernel of each routing class and regenerate the routing table
(``lucid/_backend/routing.py``) for the device MLX runs on here.

For each geometry class of a convolution (``routing.CONV_GEOMETRIES``) a few fixed small float32
3D geometries are timed with every kernel that can serve them (forward + input gradient + weight
gradient, evaluated): taps, ``mx.conv_general``, the patch set where windows are disjoint, and
the NumPy set on a CPU. Max pooling's tiled class is timed through ``lucid`` (forward +
backward) with each pooling kernel. Candidates are timed interleaved (one call of each in turn),
in ``--rounds`` rounds of ``--repeat`` calls, the order rotating between calls; a round's
figure is the median.

A decision changes only when a candidate beats the current choice by ``--margin`` (1.3x) in
every round on every geometry of the class; otherwise the table keeps it. The kernel set
"numpy" and MLX's kernels are decided separately (the table's ranking serves both: the first
kernel that can run wins, and "numpy" can only run under ``LUCID_CPU_KERNELS=numpy``).

    python benchmarks/route_table.py [--repeat 9] [--rounds 3] [--classes a,b] [--write]

Only float32 entries of this machine's device kind are measured and rewritten; the others keep
their rule. Prints the timings, the decisions and the reason for each.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import textwrap
import time

import mlx.core as mx
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import lucid  # noqa: E402
import lucid.nn.functional as F  # noqa: E402
from lucid._backend import dispatch as D, routing as R  # noqa: E402

# geometry class -> [(N, C_in, C_out, spatial edge, kernel, stride, padding, groups)]: small
# fixed 3D geometries, the overhead regime of issue 21 first
CONV_CASES = {
    "pointwise": [(2, 16, 16, 8, 1, 1, 0, 1), (2, 32, 32, 16, 1, 1, 0, 1)],
    "subsample": [(2, 16, 32, 8, 1, 2, 0, 1), (2, 32, 64, 16, 1, 2, 0, 1)],
    "patchify": [(2, 8, 16, 8, 2, 2, 0, 1), (2, 16, 32, 16, 2, 2, 0, 1)],
    "depthwise": [(2, 16, 16, 8, 3, 1, 1, 16)],
    "grouped": [(2, 16, 16, 8, 3, 1, 1, 4)],
    # the three convolutions of issue 21's network, then the largest work the class holds
    "dense_small": [
        (2, 1, 8, 8, 3, 1, 1, 1),
        (2, 8, 16, 4, 3, 1, 1, 1),
        (2, 16, 32, 2, 3, 1, 1, 1),
        (2, 2, 8, 8, 3, 1, 1, 1),
    ],
    "dense_large": [
        (2, 2, 16, 8, 3, 1, 1, 1),
        (2, 16, 32, 4, 3, 1, 1, 1),
        (2, 8, 16, 8, 3, 1, 1, 1),
        (2, 8, 16, 16, 3, 1, 1, 1),
    ],
    "strided": [(2, 8, 16, 16, 3, 2, 1, 1)],
}
# pooling class -> [(N, C, spatial edge, kernel)] (max pooling, stride == kernel)
POOL_CASES = {"tiled": [(2, 8, 8, 2), (2, 16, 4, 2), (2, 32, 16, 2)]}

MARKERS = ("# BEGIN GENERATED TABLE", "# END GENERATED TABLE")
ROUTING_PY = os.path.join(HERE, "..", "lucid", "_backend", "routing.py")


def describe(case):
    """A short name of a conv case."""
    n, ci, co, e, k, s, p, g = case
    return f"N{n} {ci}->{co} {e}^3 k{k} s{s} p{p}" + (f" g{g}" if g > 1 else "")


def conv_calls(case, route):
    """The three kernels of ``route`` on one case, as one evaluated call."""
    n, ci, co, e, k, s, p, g = case
    rng = np.random.default_rng(0)
    ks, st, pad, dil = (k,) * 3, (s,) * 3, ((p, p),) * 3, (1,) * 3
    x = mx.array(rng.standard_normal((n, ci, e, e, e)).astype(np.float32))
    w = mx.array(rng.standard_normal((co, ci // g) + ks).astype(np.float32))
    o = (e + 2 * p - k) // s + 1
    dy = mx.array(rng.standard_normal((n, co, o, o, o)).astype(np.float32))
    kset = D.kernel_set(route)
    args = (st, pad, dil, g)

    def call():
        out = (
            kset.conv_forward(x, w, *args),
            kset.conv_input_grad(dy, w, (e,) * 3, *args),
            kset.conv_weight_grad(x, dy, ks, *args),
        )
        mx.eval(*out)
        return out

    return call


def conv_candidates(case):
    """Every kernel that can serve ``case`` in float32 on MLX's default device (the NumPy set
    on a CPU whatever the current kernel set: its decision is measured too)."""
    n, ci, co, e, k, s, p, g = case
    device = "gpu" if mx.default_device() == mx.gpu else "cpu"
    geo = ((k,) * 3, (s,) * 3, ((p, p),) * 3, (1,) * 3, g)
    out = [r for r in R.CONV_KERNELS if r != "numpy" and D._can_run(r, device, "float32", *geo)]
    return (["numpy"] if device == "cpu" else []) + out


def pool_call(case, route, device):
    """Max pooling forward + backward through lucid with the table forced to ``route``."""
    n, c, e, k = case
    rng = np.random.default_rng(0)
    x = lucid.tensor(rng.standard_normal((n, c, e, e, e)).astype(np.float32), device=device)
    x.requires_grad = True
    g = lucid.tensor(rng.standard_normal((n, c) + (e // k,) * 3).astype(np.float32), device=device)
    key = ("max_pool", D._device_kind(device), "float32", "tiled")

    def call():
        saved = R.TABLE[key]
        R.TABLE[key] = (route, "taps")
        try:
            x.grad = None
            y = F.max_pool3d(x, k)
            y.backward(g)
            mx.eval(x.grad.data, y.data)
        finally:
            R.TABLE[key] = saved
        return y.data, x.grad.data

    return call


def rounds_ms(calls, repeat, rounds):
    """{name: [median ms of each round]} timing ``calls`` interleaved."""
    for fn in calls.values():
        fn()
    out = {name: [] for name in calls}
    for _ in range(rounds):
        times = {name: [] for name in calls}
        names = list(calls)
        for i in range(repeat):
            # the order rotates: a kernel right after the NumPy set's would otherwise always pay
            # for OpenBLAS's threads still spinning on the cores (measured: up to 5x)
            for name in names[i % len(names) :] + names[: i % len(names)]:
                t0 = time.perf_counter()
                calls[name]()
                times[name].append((time.perf_counter() - t0) * 1e3)
        for name, t in times.items():
            out[name].append(statistics.median(t))
    return out


def check_agree(calls):
    """The candidates compute the same thing (else a timing would compare different work)."""
    ref = None
    for name, fn in calls.items():
        vals = [np.array(v) for v in fn()]
        if ref is None:
            ref = vals
            continue
        for v, r in zip(vals, ref):
            err = np.abs(v - r).max() / max(1e-30, np.abs(r).max())
            assert err <= 1e-3, f"{name} disagrees with the first candidate ({err:.2e})"


def min_ratio(per_case, slow, fast):
    """The smallest ratio slow/fast over every round of every case (how clearly fast wins)."""
    return min(a / b for t in per_case for a, b in zip(t[slow], t[fast]))


def decide(rank, per_case, cands, margin):
    """(new ranking, reason): the MLX kernels' order, then the NumPy set's place, changed only
    where a candidate wins by ``margin`` in every round of every case."""
    rank = list(rank)
    mlx_cands = [c for c in cands if c != "numpy"]
    current = next(r for r in rank if r in mlx_cands)
    reasons = []
    best, best_ratio = current, 0.0
    for c in mlx_cands:
        ratio = min_ratio(per_case, current, c)
        if c != current and ratio >= margin and ratio > best_ratio:
            best, best_ratio = c, ratio
    if best != current:
        rank = [best] + [r for r in rank if r != best]
        if "numpy" in rank:  # the NumPy set keeps its place in front, decided below
            rank = ["numpy"] + [r for r in rank if r != "numpy"]
        reasons.append(f"MLX kernels: {best} beats {current} by >= {best_ratio:.2f}x")
    else:
        worst = {c: min_ratio(per_case, current, c) for c in mlx_cands if c != current}
        reasons.append(
            f"MLX kernels: keep {current}"
            + (
                " (best other: " + ", ".join(f"{c} {v:.2f}x" for c, v in worst.items()) + ")"
                if worst
                else ""
            )
        )
    if "numpy" in cands:
        first_mlx = next(r for r in rank if r in mlx_cands)
        if rank[0] == "numpy":
            ratio = min_ratio(per_case, "numpy", first_mlx)
            if ratio >= margin:
                rank.remove("numpy")
                rank.insert(rank.index(first_mlx) + 1, "numpy")
                reasons.append(f"NumPy set: {first_mlx} beats numpy by >= {ratio:.2f}x")
            else:
                reasons.append(f"NumPy set: keep numpy ({first_mlx} {ratio:.2f}x)")
        else:
            ratio = min_ratio(per_case, first_mlx, "numpy")
            if ratio >= margin:
                rank.remove("numpy")
                rank.insert(0, "numpy")
                reasons.append(f"NumPy set: numpy beats {first_mlx} by >= {ratio:.2f}x")
            else:
                reasons.append(f"NumPy set: keep {first_mlx} (numpy {ratio:.2f}x)")
    if "taps" not in rank:
        rank.append("taps")
    return tuple(rank), "; ".join(reasons)


def _tuple(items):
    """A tuple of strings as ruff formats it (double quotes)."""
    return "(" + ", ".join(f'"{s}"' for s in items) + ("," if len(items) == 1 else "") + ")"


def render(table, notes):
    """The generated block of routing.py for ``table`` and ``notes`` (keys in canonical order)."""
    lines = [
        MARKERS[0] + " (benchmarks/route_table.py --write rewrites this block)",
        "# fmt: off",
        "TABLE: dict[tuple[str, str, str, str], tuple[str, ...]] = {",
    ]
    keys = [
        (op, kind, dt, geo)
        for op, geos in (("conv", R.CONV_GEOMETRIES), ("max_pool", R.POOL_GEOMETRIES))
        for kind in R.DEVICE_KINDS
        for dt in R.DTYPE_CLASSES
        for geo in geos
    ]
    for key in keys:
        lines.append(f"    {_tuple(key)}: {_tuple(table[key])},")
    lines += [
        "}",
        "# where a decision comes from when it was measured (machine, date, load, medians);",
        "# an entry without a note keeps the rule written before any measurement",
        "NOTES: dict[tuple[str, str, str, str], str] = {",
    ]
    for key in keys:
        if key in notes:
            lines.append(f"    {_tuple(key)}: (")
            # wrapped at spaces, each piece keeping its trailing space
            pieces = textwrap.wrap(notes[key].replace('"', "'"), 80, drop_whitespace=False)
            lines += [f'        "{piece}"' for piece in pieces]
            lines.append("    ),")
    lines += ["}", "# fmt: on", MARKERS[1]]
    return "\n".join(lines) + "\n"


def write_table(table, notes, path=ROUTING_PY):
    """Replace the generated block of routing.py."""
    with open(path) as f:
        text = f.read()
    a = text.index(MARKERS[0])
    b = text.index(MARKERS[1]) + len(MARKERS[1]) + 1
    with open(path, "w") as f:
        f.write(text[:a] + render(table, notes) + text[b:])


def load_average():
    """The 1-minute load average, or NaN where the platform has none."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def main():
    """Measure, decide, print, and write with --write."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--margin", type=float, default=1.3)
    ap.add_argument("--classes", default=",".join(list(CONV_CASES) + ["pool:tiled"]))
    ap.add_argument("--write", action="store_true", help="rewrite routing.py's generated block")
    args = ap.parse_args()
    device = "gpu" if mx.default_device() == mx.gpu else "cpu"
    kind = D._device_kind(device)
    stamp = f"{datetime.date.today()} {platform.machine()} {kind}"
    print(
        f"# {platform.platform()}, {os.cpu_count()} cores, MLX {mx.__version__}, device {kind}, "
        f"load {load_average():.1f}; ms of fwd+dx+dw (conv) or fwd+bwd (pool), median of "
        f"{args.repeat} interleaved calls per round, {args.rounds} rounds"
    )
    table, notes = dict(R.TABLE), dict(R.NOTES)
    for cls in args.classes.split(","):
        op, geo = ("max_pool", cls[5:]) if cls.startswith("pool:") else ("conv", cls)
        key = (op, kind, "float32", geo)
        per_case = []
        for case in CONV_CASES[geo] if op == "conv" else POOL_CASES[geo]:
            if op == "conv":
                cands = conv_candidates(case)
                calls = {c: conv_calls(case, c) for c in cands}
                name = describe(case)
            else:
                cands = list(R.POOL_KERNELS)
                calls = {c: pool_call(case, c, device) for c in cands}
                name = f"max_pool N{case[0]} C{case[1]} {case[2]}^3 k{case[3]}"
            check_agree(calls)
            t = rounds_ms(calls, args.repeat, args.rounds)
            per_case.append(t)
            print(
                f"{op} {geo:12s} {name:30s} "
                + " | ".join(f"{c} " + "/".join(f"{v:.2f}" for v in t[c]) for c in cands)
            )
        rank, why = decide(table[key], per_case, cands, args.margin)
        changed = rank != tuple(table[key])
        print(f"  -> {rank}{' (CHANGED)' if changed else ''}: {why}")
        timings = "; ".join(
            ", ".join(f"{c} {statistics.median(t[c]):.2f}" for c in cands) for t in per_case
        )
        notes[key] = f"{stamp}, load {load_average():.0f}: {why} (ms per case: {timings})"
        table[key] = rank
    if args.write:
        write_table(table, notes)
        print(f"# wrote {os.path.relpath(ROUTING_PY)}")


if __name__ == "__main__":
    main()
