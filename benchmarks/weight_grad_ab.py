"""A/B timing of the MLX kernel sets' conv weight gradient: this tree's ``lucid/_backend/conv.py``
against another version of that file (e.g. ``git show main:lucid/_backend/conv.py > old.py``),
both loaded in one process and run alternately, so machine load hits both alike. Times are
the process's CPU seconds (best of all runs): on a shared machine they vary less than wall
time, and the kernels run on one thread (MLX's CPU matmul).

Per case: the weight gradient alone, and forward + input gradient + weight gradient (the other
two are the same code in both files). ``--step`` also times one forward + backward of two
networks with the MLX CPU kernels, the old and the new kernel sets swapped into the dispatcher
in turn.

Usage: python benchmarks/weight_grad_ab.py OLD_CONV_PY [--rounds R] [--repeat N] [--step]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

import mlx.core as mx
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import lucid  # noqa: E402
import lucid._backend as B  # noqa: E402
from lucid import models  # noqa: E402
from lucid._backend import conv as new, dispatch  # noqa: E402

# (label, N, C_in, C_out, spatial, kernel, stride, padding, groups): benchmarks/conv.py's cases,
# the BasicUNet's full-resolution layers and the patch set's shapes
CASES = [
    ("a: N=8 16->32 16x32x32 k3 p1", 8, 16, 32, (16, 32, 32), 3, 1, 1, 1),
    ("b: N=2 64->64 8x28x28 k3 p1", 2, 64, 64, (8, 28, 28), 3, 1, 1, 1),
    ("c: N=4 32->64 16x32x32 k3 s2 p1", 4, 32, 64, (16, 32, 32), 3, 2, 1, 1),
    ("d: N=4 64->64 8x28x28 depthwise", 4, 64, 64, (8, 28, 28), 3, 1, 1, 64),
    ("N=1 16->16 64^3 k3 p1", 1, 16, 16, (64, 64, 64), 3, 1, 1, 1),
    ("N=2 32->32 8^3 k3 p1", 2, 32, 32, (8, 8, 8), 3, 1, 1, 1),
    ("N=1 16->2 64^3 1x1x1 (patch)", 1, 16, 2, (64, 64, 64), 1, 1, 0, 1),
    ("N=2 8->16 32^3 k2 s2 (patch)", 2, 8, 16, (32, 32, 32), 2, 2, 0, 1),
]


def load(path):
    """The module at ``path``, imported under another name."""
    spec = importlib.util.spec_from_file_location("conv_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def ab(fns, rounds, repeat):
    """Best CPU seconds of each of ``fns`` ({tag: fn}), run alternately, after a warm-up each."""
    best = dict.fromkeys(fns, float("inf"))
    for f in fns.values():
        f()
    for _ in range(rounds):
        for tag, f in fns.items():
            for _ in range(repeat):
                t0 = time.process_time()
                f()
                best[tag] = min(best[tag], time.process_time() - t0)
    return best


def kernel_calls(ks, x, w, dy, geometry):
    """(weight gradient alone, forward + both gradients) of kernel set ``ks`` as closures."""
    kernel, stride, padding, dilation, groups = geometry
    rest = (stride, padding, dilation, groups)

    def weight_grad():
        mx.eval(ks.conv_weight_grad(x, dy, kernel, *rest))

    def all_three():
        mx.eval(
            ks.conv_forward(x, w, *rest),
            ks.conv_input_grad(dy, w, x.shape[2:], *rest),
            ks.conv_weight_grad(x, dy, kernel, *rest),
        )

    return weight_grad, all_three


def steps(old, rounds, repeat):
    """Forward + backward of a UNet3d and of a BasicUNet-like UNet, old and new kernel sets."""
    from tests.basic_unet import BasicUNet

    B.set_cpu_kernels("mlx")
    nets = [
        ("UNet3d(instance) (8, 16, 32)", models.UNet3d(features=(8, 16, 32), norm="instance")),
        ("BasicUNet (8, 8, 16, 32, 64, 8)", BasicUNet(features=(8, 8, 16, 32, 64, 8))),
    ]
    x = np.random.default_rng(0).standard_normal((1, 1, 32, 32, 32)).astype(np.float32)
    x = lucid.tensor(x)
    print("\n| network step, 1x1x32^3, MLX CPU kernels | old ms | new ms | new / old |")
    print("|---|---|---|---|")
    for label, net in nets:

        def step(kernels, net=net):
            dispatch._SETS.update(taps=kernels.TAPS, patch=kernels.PATCH)
            net.zero_grad()
            net(x).square().mean().backward()
            B.evaluate(*[p.grad.data for p in net.parameters()])

        best = ab({"old": lambda: step(old), "new": lambda: step(new)}, rounds, repeat)
        dispatch._SETS.update(taps=new.TAPS, patch=new.PATCH)
        print(
            f"| {label} | {1e3 * best['old']:.0f} | {1e3 * best['new']:.0f} "
            f"| **{best['new'] / best['old']:.2f}** |",
            flush=True,
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--step", action="store_true", help="also time two network steps")
    args = parser.parse_args()
    old = load(args.old)
    print(f"load {os.getloadavg()[0]:.1f}")
    print(
        "| case | set | weight grad: old ms | new ms | new / old "
        "| fwd + both grads: old ms | new ms | new / old |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, n, ci, co, size, k, s, p, g in CASES:
        rng = np.random.default_rng(0)
        x = mx.array(rng.standard_normal((n, ci) + size).astype(np.float32))
        w = mx.array(rng.standard_normal((co, ci // g, k, k, k)).astype(np.float32))
        geometry = ((k,) * 3, (s,) * 3, ((p, p),) * 3, (1, 1, 1), g)
        out = tuple((d + 2 * p - k) // s + 1 for d in size)
        dy = mx.array(rng.standard_normal((n, co) + out).astype(np.float32))
        sets = ["TAPS"] + (["PATCH"] if new.disjoint_windows(*geometry[:4]) else [])
        for name in sets:
            calls = {
                tag: kernel_calls(getattr(m, name), x, w, dy, geometry)
                for tag, m in (("old", old), ("new", new))
            }
            one = ab({tag: c[0] for tag, c in calls.items()}, args.rounds, args.repeat)
            all3 = ab({tag: c[1] for tag, c in calls.items()}, args.rounds, args.repeat)
            print(
                f"| {label} | {name.lower()} | {1e3 * one['old']:.1f} | {1e3 * one['new']:.1f} "
                f"| **{one['new'] / one['old']:.2f}** | {1e3 * all3['old']:.1f} "
                f"| {1e3 * all3['new']:.1f} | **{all3['new'] / all3['old']:.2f}** |",
                flush=True,
            )
            label = ""
    if args.step:
        steps(old, args.rounds, args.repeat)


if __name__ == "__main__":
    main()
