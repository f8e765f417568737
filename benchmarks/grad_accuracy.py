"""Float32 gradient accuracy: Lucid's and PyTorch's float32 gradients against float64, and which
op makes a difference.

Three modes (all by default), each run under both CPU kernel sets ("numpy", "mlx"):

- nets     every lucid.models architecture and a MONAI-BasicUNet-like UNet (InstanceNorm,
           LeakyReLU, ConvTranspose3d; ``tests/grad_accuracy.py``) at small sizes: the median
           over parameters of |g32 - g64| / |g64| for Lucid and for PyTorch, and their ratio;
           ``--detail NAME`` lists every parameter of that network (its worst layers first).
- layers   the attribution: each layer type alone (conv, conv+IN, convT, BN, IN, GN,
           LeakyReLU, maxpool, cat, interpolate, linear), input and parameter gradients.
- kernels  the convolution kernels themselves (lucid/_backend: taps, patch, conv_general,
           numpy), weight and input gradient against a float64 reference, next to PyTorch's
           float32 error for the same convolution, with the weight gradient's time.

PyTorch runs on one thread. The float64 reference is PyTorch's float64 run of the same weights
and input (taking the float32 run's ReLU masks, see tests/grad_accuracy.py). ``--big`` adds a
larger BasicUNet (features 16-128 on a 64^3 volume, ~1.5 minutes per kernel set on two cores).

Usage: python benchmarks/grad_accuracy.py [--modes nets,layers,kernels] [--sets numpy,mlx]
       [--detail BasicUNet] [--big]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)  # this checkout's lucid and tests/grad_accuracy.py

import lucid._backend as B  # noqa: E402
from tests import grad_accuracy as ga  # noqa: E402

BIG = ("BasicUNet", dict(features=(16, 16, 32, 64, 128, 16)), (1, 1, 64, 64, 64), True)


def ratio(a, b):
    """a / b, printed; 'exact' when both are 0."""
    if a == 0 and b == 0:
        return "exact"
    return f"{a / b:.2f}" if b else "inf"


def run_nets(detail, big):
    """The nets table (one kernel set)."""
    print("| network | Lucid median | PyTorch median | Lucid / PyTorch | params | s |")
    print("|---|---|---|---|---|---|")
    nets = ga.NETS + ([BIG] if big else [])
    for name, kwargs, shape, train in nets:
        t0 = time.perf_counter()
        x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
        ours, theirs = ga.compare(*ga.build_pair(name, kwargs), x, train)
        mo, mt = ga.median(ours), ga.median(theirs)
        print(
            f"| {ga.label(name, kwargs)} {shape[0]}x{'x'.join(map(str, shape[2:]))}"
            f"{'' if train else ', eval'} | {mo:.2e} "
            f"| {mt:.2e} | **{ratio(mo, mt)}** | {len(ours)} | {time.perf_counter() - t0:.1f} |",
            flush=True,
        )
        if detail and ga.label(name, kwargs).startswith(detail):
            worst = sorted(ours, key=lambda n: -ours[n] / max(theirs[n], 1e-30))
            for n in worst:
                print(f"|   {n} | {ours[n]:.2e} | {theirs[n]:.2e} | {ratio(ours[n], theirs[n])} |")


def run_layers():
    """The attribution table (one kernel set): each layer type alone."""
    print("| layer | gradient | Lucid | PyTorch | Lucid / PyTorch |")
    print("|---|---|---|---|---|")
    for label, spec, shape in ga.LAYERS:
        ours, theirs = ga.layer_errors(spec, shape)
        for n in ours:
            print(
                f"| {label} | {n} | {ours[n]:.1e} | {theirs[n]:.1e} | {ratio(ours[n], theirs[n])} |"
            )
        label = ""


# (label, N, C_in, C_out, spatial, kernel, stride, padding)
CONVS = [
    ("3x3x3 p1, 1->8, 16x8^3 (dense_small)", 16, 1, 8, (8, 8, 8), 3, 1, 1),
    ("3x3x3 p1, 1->8, 1x64^3", 1, 1, 8, (64, 64, 64), 3, 1, 1),
    ("3x3x3 p1, 4->4, 2x32^3", 2, 4, 4, (32, 32, 32), 3, 1, 1),
    ("3x3x3 p1, 8->8, 2x32^3", 2, 8, 8, (32, 32, 32), 3, 1, 1),
    ("3x3x3 p1, 16->16, 1x64^3", 1, 16, 16, (64, 64, 64), 3, 1, 1),
    ("3x3x3 p1, 32->32, 2x16^3", 2, 32, 32, (16, 16, 16), 3, 1, 1),
    ("1x1x1, 16->2, 1x64^3", 1, 16, 2, (64, 64, 64), 1, 1, 0),
    ("2x2x2 s2, 8->16, 2x32^3", 2, 8, 16, (32, 32, 32), 2, 2, 0),
]


def _best(fn, repeat):
    """Best seconds of fn() over ``repeat`` calls after a warm-up."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _kernels(name, geometry, size):
    """(weight grad, input grad) of kernel set ``name`` on numpy float32 arrays."""
    import mlx.core as mx

    from lucid._backend import conv as mconv, numpy_conv

    if name == "numpy":
        return (
            lambda x, dy: numpy_conv.conv_weight_grad(x, dy, *geometry),
            lambda dy, w: numpy_conv.conv_input_grad(dy, w, size, *geometry[1:]),
        )
    ks = {"taps": mconv.TAPS, "patch": mconv.PATCH, "conv_general": mconv.CONV_GENERAL}[name]

    def weight_grad(x, dy):
        r = ks.conv_weight_grad(mx.array(x), mx.array(dy), *geometry)
        mx.eval(r)
        return np.array(r)

    def input_grad(dy, w):
        return np.array(ks.conv_input_grad(mx.array(dy), mx.array(w), size, *geometry[1:]))

    return weight_grad, input_grad


def run_kernels(repeat):
    """The kernel table: each applicable kernel set's weight and input gradient."""
    import torch

    from lucid._backend import conv as mconv, numpy_conv

    print(
        "| conv | kernels | weight grad err | PyTorch | ratio | input grad err | PyTorch | ratio "
        "| weight grad ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")

    def err(a, ref):
        return float(np.linalg.norm(np.asarray(a, np.float64) - ref) / np.linalg.norm(ref))

    for label, n, ci, co, size, k, s, p in CONVS:
        rng = np.random.default_rng(0)
        geometry = ((k,) * 3, (s,) * 3, ((p, p),) * 3, (1, 1, 1), 1)
        x = (rng.standard_normal((n, ci) + size) + 0.5).astype(np.float32)
        w = (rng.standard_normal((co, ci) + (k,) * 3) / np.sqrt(ci * k**3)).astype(np.float32)
        out = tuple((d + 2 * p - k) // s + 1 for d in size)
        dy = rng.standard_normal((n, co) + out).astype(np.float32)
        x64, w64, dy64 = x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64)
        dw_ref = numpy_conv.conv_weight_grad(x64, dy64, *geometry)
        dx_ref = numpy_conv.conv_input_grad(dy64, w64, size, *geometry[1:])
        xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        torch.nn.functional.conv3d(xt, wt, stride=s, padding=p).backward(torch.tensor(dy))
        t_dw, t_dx = err(wt.grad.numpy(), dw_ref), err(xt.grad.numpy(), dx_ref)
        names = ["taps", "conv_general"]
        names += ["patch"] if mconv.disjoint_windows(*geometry[:4]) else []
        for name in names + ["numpy"]:
            weight_grad, input_grad = _kernels(name, geometry, size)
            e_dw, e_dx = err(weight_grad(x, dy), dw_ref), err(input_grad(dy, w), dx_ref)
            ms = 1e3 * _best(lambda f=weight_grad: f(x, dy), repeat)  # noqa: B023 (called here)
            print(
                f"| {label} | {name} | {e_dw:.1e} | {t_dw:.1e} | **{ratio(e_dw, t_dw)}** "
                f"| {e_dx:.1e} | {t_dx:.1e} | {ratio(e_dx, t_dx)} | {ms:.1f} |",
                flush=True,
            )
            label = ""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modes", default="nets,layers,kernels")
    parser.add_argument("--sets", default="numpy,mlx", help="CPU kernel sets for nets/layers")
    parser.add_argument("--detail", default="", help="list every parameter of this network")
    parser.add_argument("--big", action="store_true", help="add a 64^3 BasicUNet (slow)")
    parser.add_argument("--repeat", type=int, default=5, help="timing repeats (kernels)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)  # PyTorch's float32 reductions then do not depend on the cores
    modes = args.modes.split(",")
    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}, numpy {np.__version__}, load {os.getloadavg()[0]:.1f}"
    )
    for kernels in args.sets.split(","):
        B.set_cpu_kernels(kernels)
        if "nets" in modes:
            print(f"\n## networks, CPU kernels {kernels!r}\n")
            run_nets(args.detail, args.big)
        if "layers" in modes:
            print(f"\n## layers alone, CPU kernels {kernels!r}\n")
            run_layers()
    if "kernels" in modes:
        print("\n## convolution kernels (x with mean 0.5, dy ~ N(0, 1))\n")
        run_kernels(args.repeat)


if __name__ == "__main__":
    main()
