"""The NumPy convolution kernels of an earlier revision against the working tree's, alternating
call by call in one process (forward, weight gradient and input gradient of each case of
``benchmarks/conv.py``), so a machine whose speed drifts affects both alike.

    python benchmarks/numpy_conv_ab.py [--rev e57e4a1] [--repeat 7]

The old ``lucid/_backend/numpy_conv.py`` is read with ``git show REV:...`` and loaded beside the
current one (both use the current ``blas_threads``).
"""

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

PATH = "lucid/_backend/numpy_conv.py"
# (N, C_in, C_out, spatial, stride, groups): benchmarks/conv.py's cases a-d
CASES = [
    (8, 16, 32, (16, 32, 32), 1, 1),
    (2, 64, 64, (8, 28, 28), 1, 1),
    (4, 32, 64, (16, 32, 32), 2, 1),
    (4, 64, 64, (8, 28, 28), 1, 64),
]


def load(path, name):
    """A module loaded from a file path under a name of its own."""
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", default="e57e4a1", help="the earlier revision (default: before #21)")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    source = subprocess.run(
        ["git", "-C", ROOT, "show", f"{args.rev}:{PATH}"], check=True, capture_output=True
    ).stdout
    with tempfile.TemporaryDirectory() as tmp:
        old_path = os.path.join(tmp, "numpy_conv_old.py")
        with open(old_path, "wb") as f:
            f.write(source)
        old = load(old_path, "numpy_conv_old")
    new = load(os.path.join(ROOT, PATH), "numpy_conv_new")
    rng = np.random.default_rng(0)
    print(f"# {args.rev} against the working tree; ms per fwd + dW + dx, median of {args.repeat}")
    for n, c, co, size, s, g in CASES:
        x = rng.standard_normal((n, c) + size, dtype=np.float32)
        w = rng.standard_normal((co, c // g, 3, 3, 3), dtype=np.float32)
        geo = ((s,) * 3, [(1, 1)] * 3, (1, 1, 1), g)
        y = new.conv_forward(x, w, *geo)
        dy = rng.standard_normal(y.shape, dtype=np.float32)

        def run(m, x=x, w=w, dy=dy, geo=geo, size=size):
            m.conv_forward(x, w, *geo)
            m.conv_weight_grad(x, dy, (3, 3, 3), *geo)
            m.conv_input_grad(dy, w, size, *geo)

        run(old), run(new)
        times = {"old": [], "new": []}
        for _ in range(args.repeat):
            for name, m in (("old", old), ("new", new)):
                t0 = time.perf_counter()
                run(m)
                times[name].append(time.perf_counter() - t0)
        o, nw = (statistics.median(times[k]) * 1e3 for k in ("old", "new"))
        kind = " depthwise" if g > 1 else ""
        print(
            f"N={n} {c}->{co} {'x'.join(map(str, size))} s{s}{kind}: "
            f"old {o:.1f} ms, new {nw:.1f} ms, new/old {nw / o:.2f}"
        )


if __name__ == "__main__":
    main()
