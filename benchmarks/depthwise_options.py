"""Measure the formulations of grouped / depthwise convolution on MLX (forward and both grads).

MLX's conv_general rejects groups != 1 in 3D, so ``lucid/_backend/conv.py`` provides grouped 3D
itself.  This script times the candidate formulations on the same problem and checks that they
agree (the tables are in docs/benchmarks.md):

    block    block-diagonal dense weight: one groups=1 conv, groups x the FLOPs
    loop     one groups=1 conv per group (groups calls)
    fold     depth folded into grouped conv2d: one call per depth tap of the kernel
    fold1    the KD depth-shifted slices stacked into channels: one grouped conv2d
    taps     the module's path: depthwise as broadcast multiply-adds over kernel taps,
             other groupings as im2col + batched matmul (groups as batch); the input
             grad by stride phases (no multiplications by inserted zeros)

For 1D/2D (where MLX has grouped conv) it also compares MLX's grouped conv_general with the tap
path, which decided the routing in ``dispatch.conv_route``.

Usage:  python benchmarks/depthwise_options.py [--quick]
"""

import argparse
import os
import sys
import time

import mlx.core as mx
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lucid._backend import conv as C  # noqa: E402


def bench(fn, reps):
    """Best wall time (ms) of ``reps`` evaluated calls after one warm-up call."""
    mx.eval(fn())
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        mx.eval(fn())
        best = min(best, time.perf_counter() - t0)
    return best * 1e3


# ----------------------------------------------------------------------------- alternatives


def fold_conv3d(stacked):
    """A conv_general-compatible 3D conv that supports groups by folding depth into 2D calls."""

    def conv(x, w, stride=1, padding=0, kernel_dilation=1, input_dilation=1, groups=1, flip=False):
        nd = x.ndim - 2

        def seq(v):
            return [v] * nd if isinstance(v, int) else list(v)

        s, kd, idil = seq(stride), seq(kernel_dilation), seq(input_dilation)
        lo, hi = padding if isinstance(padding, tuple) else (seq(padding), seq(padding))
        b, d = x.shape[:2]
        if idil[0] > 1:
            # depth input dilation made explicit (zeros between depth slices)
            z = mx.stack([x] + [mx.zeros_like(x)] * (idil[0] - 1), axis=2)
            x = z.reshape((b, d * idil[0]) + x.shape[2:])[:, : (d - 1) * idil[0] + 1]
        x = C._pad_spatial(x, [(lo[0], hi[0])], first=1)
        if flip:
            w = w[:, ::-1]  # depth flip here, H/W flip by the 2D call
        kn = w.shape[1]
        dout = (x.shape[1] - kd[0] * (kn - 1) - 1) // s[0] + 1
        sl = [x[:, k * kd[0] : k * kd[0] + s[0] * (dout - 1) + 1 : s[0]] for k in range(kn)]
        kw = dict(
            stride=s[1:],
            padding=(lo[1:], hi[1:]),
            kernel_dilation=kd[1:],
            input_dilation=idil[1:],
            groups=groups,
            flip=flip,
        )
        flat = (b * dout,) + x.shape[2:]
        if stacked:
            c = x.shape[-1]
            xs = mx.stack(sl, axis=-2).reshape(flat[:-1] + (kn, groups, c // groups))
            xs = mx.swapaxes(xs, -3, -2).reshape(flat[:-1] + (groups * kn * c // groups,))
            ws = mx.moveaxis(w, 1, -2).reshape((w.shape[0],) + w.shape[2:4] + (-1,))
            y = mx.conv_general(xs, ws, **kw)
        else:
            y = None
            for k in range(kn):
                t = mx.conv_general(sl[k].reshape(flat), w[:, k], **kw)
                y = t if y is None else y + t
        return y.reshape((b, dout) + y.shape[1:])

    return conv


def block_dense(w, groups):
    """(C_out, Cg, *K) grouped weight -> block-diagonal dense (C_out, C_in, *K)."""
    c_out, cig = w.shape[:2]
    k = w.shape[2:]
    og = c_out // groups
    eye = mx.eye(groups, dtype=w.dtype).reshape((groups, 1, groups, 1) + (1,) * len(k))
    return (w.reshape((groups, og, 1, cig) + k) * eye).reshape((c_out, groups * cig) + k)


def make_options(nd, groups):
    """name -> (forward, input_grad, weight_grad) callables with the contract's signatures."""
    opts = {}

    def blk_f(x, w, s, p, d, g):
        return C._conv_general_forward(x, block_dense(w, g), s, p, d, 1)

    def blk_i(dy, w, sp, s, p, d, g):
        return C._conv_general_input_grad(dy, block_dense(w, g), sp, s, p, d, 1)

    def blk_w(x, dy, k, s, p, d, g):
        dw = C._conv_general_weight_grad(x, dy, k, s, p, d, 1)  # (C_out, C_in, *K)
        c_out, c_in = dw.shape[:2]
        dw = dw.reshape((g, c_out // g, g, c_in // g) + tuple(k))
        return mx.stack([dw[i, :, i] for i in range(g)]).reshape((c_out, c_in // g) + tuple(k))

    opts["block"] = (blk_f, blk_i, blk_w)

    def part(a, i, g, axis=1):
        """The i-th of g equal channel blocks of a along axis."""
        c = a.shape[axis] // g
        return a[(slice(None),) * axis + (slice(i * c, (i + 1) * c),)]

    def loop_f(x, w, s, p, d, g):
        return mx.concatenate(
            [
                C._conv_general_forward(part(x, i, g), part(w, i, g, 0), s, p, d, 1)
                for i in range(g)
            ],
            axis=1,
        )

    def loop_i(dy, w, sp, s, p, d, g):
        return mx.concatenate(
            [
                C._conv_general_input_grad(part(dy, i, g), part(w, i, g, 0), sp, s, p, d, 1)
                for i in range(g)
            ],
            axis=1,
        )

    def loop_w(x, dy, k, s, p, d, g):
        return mx.concatenate(
            [
                C._conv_general_weight_grad(part(x, i, g), part(dy, i, g), k, s, p, d, 1)
                for i in range(g)
            ],
            axis=0,
        )

    opts["loop"] = (loop_f, loop_i, loop_w)

    if nd < 3 or groups == 1:
        opts["conv_general"] = (
            C._conv_general_forward,
            C._conv_general_input_grad,
            C._conv_general_weight_grad,
        )
    if nd == 3:
        for name, stacked in (("fold", False), ("fold1", True)):
            cv = fold_conv3d(stacked)
            opts[name] = tuple(
                (lambda *a, fn=fn, cv=cv: fn(*a, conv=cv))
                for fn in (
                    C._conv_general_forward,
                    C._conv_general_input_grad,
                    C._conv_general_weight_grad,
                )
            )
    opts["taps"] = (C._tap_forward, C._tap_input_grad, C._tap_weight_grad)
    return opts


def run_case(nd, n, c, spatial, k, stride, groups, reps, skip=()):
    """Time every option on one problem; returns {name: (fwd_ms, dx_ms, dw_ms)}."""
    rng = np.random.default_rng(0)
    s, d = (stride,) * nd, (1,) * nd
    p = ((k // 2, k // 2),) * nd
    kk = (k,) * nd
    x = mx.array(rng.standard_normal((n, c) + spatial).astype(np.float32))
    w = mx.array(rng.standard_normal((c, c // groups) + kk).astype(np.float32))
    y = C._tap_forward(x, w, s, p, d, groups)
    dy = mx.array(rng.standard_normal(y.shape).astype(np.float32))
    mx.eval(x, w, dy)
    res, ref = {}, None
    for name, (f, fi, fw) in make_options(nd, groups).items():
        if name in skip:
            continue
        outs = (
            lambda f=f: f(x, w, s, p, d, groups),
            lambda fi=fi: fi(dy, w, spatial, s, p, d, groups),
            lambda fw=fw: fw(x, dy, kk, s, p, d, groups),
        )
        vals = [np.array(o()) for o in outs]
        if ref is None:
            ref = vals
        for v, r in zip(vals, ref):  # all options must compute the same thing
            assert np.allclose(v, r, rtol=1e-3, atol=1e-3 * np.abs(r).max()), name
        res[name] = tuple(bench(o, reps) for o in outs)
    return res


def main():
    """Run every case and print a table per case."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = ap.parse_args()
    reps = 2 if args.quick else 7
    print(
        f"mlx {mx.__version__}, device {mx.default_device()}, best of {reps}, times in ms "
        "(forward / input grad / weight grad)"
    )
    cases = [
        # (nd, N, C, spatial, K, stride, groups)
        (3, 2, 32, (8, 16, 16), 3, 1, 1),  # reference: dense conv, MLX's own gemm path
        (3, 2, 32, (8, 16, 16), 3, 1, 32),
        (3, 2, 32, (8, 16, 16), 3, 2, 32),
        (3, 2, 64, (8, 16, 16), 3, 1, 64),  # Conv3d(64, 64, 3, groups=64)
        (3, 2, 32, (8, 16, 16), 3, 1, 8),
        (3, 2, 32, (8, 16, 16), 3, 1, 2),
        (3, 2, 32, (8, 16, 16), 3, 2, 2),
        (2, 2, 32, (32, 32), 3, 1, 32),
        (2, 2, 32, (32, 32), 3, 1, 2),
        (1, 2, 32, (256,), 3, 1, 32),
        (1, 2, 32, (256,), 3, 1, 2),
    ]
    for nd, n, c, sp, k, st, g in cases:
        # block-diagonal at 64 channels is 64x the FLOPs: seconds per call, skipped
        skip = ("block", "loop", "fold", "fold1") if g == 1 else ("block",) if g >= 64 else ()
        res = run_case(nd, n, c, sp, k, st, g, reps, skip)
        print(f"\n{nd}D N={n} C={c} S={'x'.join(map(str, sp))} K={k} stride={st} groups={g}")
        for name, (a, b, cc) in res.items():
            print(f"  {name:7s} {a:8.2f} {b:8.2f} {cc:8.2f}   total {a + b + cc:8.2f}")


if __name__ == "__main__":
    main()
