"""1x1x1, strided 1x1x1 and patchify convolutions on the MLX path: the matmul formulation Lucid
routes them to (the patch kernel set, lucid/_backend/conv.py) against ``mx.conv_general`` (the
conv_general set, two channels-last transposes per call included, as Lucid would pay them) and
the tap set, on the same shapes in the same run (issue 12.5).

Forward, input gradient and weight gradient, best of ``--repeat`` evaluated calls, float32, on
MLX's default device (the GPU where MLX has one).

    python benchmarks/conv_shapes.py [--repeat 7]
"""

import argparse
import os
import platform
import sys

import mlx.core as mx
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, ".."), HERE]
from depthwise_options import bench as best_ms  # noqa: E402  (best of n evaluated calls, ms)

from lucid._backend import conv as C  # noqa: E402

# name: (N, C_in, C_out, spatial, kernel, stride)
CASES = {
    "1x1x1 64->64, 16^3": (2, 64, 64, (16, 16, 16), 1, 1),
    "1x1x1 32->128, 8x16x16 (N=8)": (8, 32, 128, (8, 16, 16), 1, 1),
    "1x1x1 s2 64->128, 16^3": (2, 64, 128, (16, 16, 16), 1, 2),
    "patchify k=s=2 32->64, 16^3": (4, 32, 64, (16, 16, 16), 2, 2),
    "patchify k=s=4 4->96, 32^3": (2, 4, 96, (32, 32, 32), 4, 4),
    "1x1 2D 256->256, 32x32": (4, 256, 256, (32, 32), 1, 1),
}
SETS = {"conv_general": C.CONV_GENERAL, "taps": C.TAPS, "patch": C.PATCH}


def run_case(case, repeat):
    """{set name: (fwd, dx, dw) ms} for one case, after checking the sets agree."""
    n, ci, co, sp, k, s = case
    nd = len(sp)
    ks, st, pad, dil = (k,) * nd, (s,) * nd, ((0, 0),) * nd, (1,) * nd
    rng = np.random.default_rng(0)
    x = mx.array(rng.standard_normal((n, ci) + sp).astype(np.float32))
    w = mx.array(rng.standard_normal((co, ci) + ks).astype(np.float32))
    out = tuple((v - k) // s + 1 for v in sp)
    dy = mx.array(rng.standard_normal((n, co) + out).astype(np.float32))
    args = (st, pad, dil, 1)
    res, ref = {}, None
    for name, ks_set in SETS.items():
        calls = (
            lambda ks_set=ks_set: ks_set.conv_forward(x, w, *args),
            lambda ks_set=ks_set: ks_set.conv_input_grad(dy, w, sp, *args),
            lambda ks_set=ks_set: ks_set.conv_weight_grad(x, dy, ks, *args),
        )
        vals = [np.array(f()) for f in calls]
        if ref is None:
            ref = vals
        for v, r in zip(vals, ref):
            assert np.abs(v - r).max() <= 1e-3 * np.abs(r).max(), name
        res[name] = tuple(best_ms(f, repeat) for f in calls)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    print(
        f"# {platform.platform()}, MLX {mx.__version__}, device {mx.default_device()}; "
        f"fwd / dx / dw ms, best of {args.repeat}"
    )
    for label, case in CASES.items():
        res = run_case(case, args.repeat)
        g, p = sum(res["conv_general"]), sum(res["patch"])
        print(f"{label}:")
        for name, t in res.items():
            print(f"  {name:13s} {t[0]:8.2f} / {t[1]:8.2f} / {t[2]:8.2f}   total {sum(t):8.2f}")
        print(
            f"  patch speedup over conv_general: {g / p:5.1f}x (per kernel: "
            + ", ".join(f"{a / b:.1f}x" for a, b in zip(res["conv_general"], res["patch"]))
            + f"); over taps: {sum(res['taps']) / p:4.1f}x"
        )


if __name__ == "__main__":
    main()
