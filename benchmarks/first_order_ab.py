"""First-order speed, old tree vs new tree, in one run: the framework-overhead loop of
benchmarks/overhead.py (100 x (y = y * 1.0 + 0.0) on 4x4, then backward) and one training step of
the `make demo` network (batch 8 of 16^3 volumes, forward + backward + Adam).

    python benchmarks/first_order_ab.py --old /path/to/old/checkout [--rounds 5]

Each measurement runs in a fresh subprocess with the tree's ``lucid`` first on ``sys.path``;
the two trees alternate round by round so that load from other processes falls on both alike.
Prints the median of each and the ratio new / old (higher-order gradients must not slow the
first-order path: the goal is within 5%)."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

MEASURE = r"""
import os, statistics, sys, time
sys.path.insert(0, os.path.join(sys.argv[1], "examples"))
import numpy as np
import lucid
import lucid.nn.functional as F
from common import ShapeNet3d

def median_ms(fn, repeat, warmup=3):
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return f"{statistics.median(wall)} {statistics.median(cpu)}"

def overhead():
    x = lucid.ones(4, 4, requires_grad=True)
    y = x
    for _ in range(100):
        y = y * 1.0 + 0.0
    y.sum().backward()
    x.grad.numpy()

lucid.manual_seed(0)
net = ShapeNet3d()
opt = lucid.optim.Adam(net.parameters(), lr=1e-3)
xb = lucid.tensor(np.random.default_rng(0).standard_normal((8, 1, 16, 16, 16)), dtype="float32")
yb = lucid.tensor(np.arange(8) % 3)

def step():
    opt.zero_grad()
    loss = F.cross_entropy(net(xb), yb)
    loss.backward()
    opt.step()
    loss.item()

print(median_ms(overhead, 30), median_ms(step, 8))
"""


def measure(tree: str) -> list[float]:
    """Wall and CPU milliseconds of the loop, then of the step."""
    env = dict(os.environ, PYTHONPATH=tree)
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, tree], env=env, capture_output=True, text=True, check=True
    )
    return [float(v) for v in out.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True, help="a checkout of the baseline commit")
    parser.add_argument("--new", default=os.path.dirname(HERE), help="default: this checkout")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[list[float]]] = {"old": [], "new": []}
    for _ in range(args.rounds):
        for name in ("old", "new"):
            results[name].append(measure(getattr(args, name)))
    med = {name: [statistics.median(col) for col in zip(*rs)] for name, rs in results.items()}
    # CPU time is the steadier figure on a shared machine (another process's load stretches the
    # wall time of whichever run it overlaps)
    print(f"{'':34s}{'old':>10s}{'new':>10s}{'new/old':>10s}")
    whats = ("overhead loop", "demo step, batch 8")
    for i, what in enumerate(f"{w}, {k} (ms)" for w in whats for k in ("wall", "CPU")):
        old, new = med["old"][i], med["new"][i]
        print(f"{what:34s}{old:10.2f}{new:10.2f}{new / old:10.3f}")


if __name__ == "__main__":
    main()
