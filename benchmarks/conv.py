"""Conv3d forward + backward (input, weight and bias gradients), measured in one run for:

- lucid[mlx]     Lucid with MLX's kernels (the framework's own overhead over the primitive)
- lucid[numpy]   Lucid with its NumPy/OpenBLAS CPU kernels (the Linux CPU default)
- mlx autograd   mx.value_and_grad over mx.conv3d on channels-last input (the baseline)
- torch cpu      PyTorch eager on the CPU, when installed

Usage: python benchmarks/conv.py [--repeat R] [--cases a,b,...] [--skip-mlx]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import mlx.core as mx
import numpy as np

import lucid
import lucid._backend as B
import lucid.nn.functional as F

CASES = {
    "a": dict(n=8, cin=16, cout=32, size=(16, 32, 32), k=3, s=1, p=1, groups=1),
    "b": dict(n=2, cin=64, cout=64, size=(8, 28, 28), k=3, s=1, p=1, groups=1),
    "c": dict(n=4, cin=32, cout=64, size=(16, 32, 32), k=3, s=2, p=1, groups=1),
    "d": dict(n=4, cin=64, cout=64, size=(8, 28, 28), k=3, s=1, p=1, groups=64),
}


def describe(c):
    """A one-line name for a case."""
    dw = " depthwise" if c["groups"] == c["cin"] > 1 else ""
    return (
        f"N={c['n']} {c['cin']}->{c['cout']} {'x'.join(map(str, c['size']))} k{c['k']} "
        f"s{c['s']} p{c['p']}{dw}"
    )


def timed(fn, repeat):
    """Median seconds of fn() after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def data(c, seed=0):
    """Input, weight, bias and output gradient (numpy float32, channels-first)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((c["n"], c["cin"]) + c["size"]).astype(np.float32)
    w = (rng.standard_normal((c["cout"], c["cin"] // c["groups"]) + (c["k"],) * 3) * 0.1).astype(
        np.float32
    )
    b = rng.standard_normal(c["cout"]).astype(np.float32)
    out = tuple((s + 2 * c["p"] - c["k"]) // c["s"] + 1 for s in c["size"])
    dy = rng.standard_normal((c["n"], c["cout"]) + out).astype(np.float32)
    return x, w, b, dy


def lucid_step(c, kernels):
    """A closure running one Lucid forward+backward with the given CPU kernels."""
    x, w, b, dy = data(c)
    xt, wt, bt = (lucid.tensor(v, requires_grad=True) for v in (x, w, b))
    dyt = lucid.tensor(dy)

    def step():
        B.set_cpu_kernels(kernels)
        for t in (xt, wt, bt):
            t.grad = None
        y = F.conv3d(xt, wt, bt, stride=c["s"], padding=c["p"], groups=c["groups"])
        y.backward(dyt)
        B.evaluate(xt.grad.data, wt.grad.data, bt.grad.data)

    return step


def mlx_step(c):
    """mx.value_and_grad over mx.conv3d (channels-last); depthwise runs one conv per group,
    since mx.conv3d rejects groups != 1."""
    x, w, b, dy = data(c)
    xl = mx.array(np.moveaxis(x, 1, -1))
    wl = mx.array(np.moveaxis(w, 1, -1))
    dyl = mx.array(np.moveaxis(dy, 1, -1))
    bl = mx.array(b)
    g = c["groups"]

    def loss(xl, wl, bl):
        if g == 1:
            y = mx.conv3d(xl, wl, stride=c["s"], padding=c["p"])
        else:
            cin_g, cout_g = c["cin"] // g, c["cout"] // g
            y = mx.concatenate(
                [
                    mx.conv3d(
                        xl[..., i * cin_g : (i + 1) * cin_g],
                        wl[i * cout_g : (i + 1) * cout_g],
                        stride=c["s"],
                        padding=c["p"],
                    )
                    for i in range(g)
                ],
                axis=-1,
            )
        return ((y + bl) * dyl).sum()

    vg = mx.value_and_grad(loss, argnums=(0, 1, 2))

    def step():
        value, grads = vg(xl, wl, bl)
        mx.eval(value, *grads)

    return step


def torch_step(c, torch):
    """PyTorch eager forward+backward on the CPU."""
    x, w, b, dy = data(c)
    xt, wt, bt = (torch.tensor(v, requires_grad=True) for v in (x, w, b))
    dyt = torch.tensor(dy)

    def step():
        for t in (xt, wt, bt):
            t.grad = None
        y = torch.nn.functional.conv3d(
            xt, wt, bt, stride=c["s"], padding=c["p"], groups=c["groups"]
        )
        y.backward(dyt)

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--skip-mlx", action="store_true", help="skip the slow MLX-CPU columns")
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
    except ImportError:
        torch = None
    before = B.cpu_kernels()
    print(
        f"# {platform.platform()}, {os.cpu_count()} cores, mlx {mx.__version__}, "
        f"gpu: {B.gpu_kind()}, torch: {torch.__version__ if torch else 'not installed'}"
    )
    print("# seconds per Conv3d forward+backward (median); ratios: lower is better for Lucid")
    header = (
        f"{'case':42s} {'lucid[mlx]':>11s} {'mlx autograd':>13s} {'ratio':>6s} "
        f"{'lucid[numpy]':>14s} {'torch cpu':>10s} {'np/mlx':>8s} {'np/torch':>10s}"
    )
    print(header)
    keys = args.cases.split(",")
    # the fast columns first, for every case: MLX's CPU runs leave the machine busy for a while
    numpy_t = {k: timed(lucid_step(CASES[k], "numpy"), max(args.repeat, 5)) for k in keys}
    torch_t = {
        k: timed(torch_step(CASES[k], torch), max(args.repeat, 5)) if torch else float("nan")
        for k in keys
    }
    for key in keys:
        c = CASES[key]
        lm = ma = float("nan")
        if not args.skip_mlx:
            lm = timed(lucid_step(c, "mlx"), args.repeat)
            ma = timed(mlx_step(c), args.repeat)
        ln, tt = numpy_t[key], torch_t[key]
        print(
            f"{describe(c):42s} {lm:11.4f} {ma:13.4f} {lm / ma:6.2f} {ln:14.4f} {tt:10.4f} "
            f"{ma / ln:7.1f}x {ln / tt:9.2f}x",
            flush=True,
        )
    B.set_cpu_kernels(before)


if __name__ == "__main__":
    main()
