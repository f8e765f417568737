"""Benchmark of the NumPy/OpenBLAS conv kernels (lucid/_backend/numpy_conv.py).

Times forward, input grad and weight grad (float32, best of --repeat after a warm-up) on four
3D layer shapes, reports peak extra memory (tracemalloc: NumPy reports its allocations to it),
and compares with PyTorch CPU when a Python with torch is available (--torch-python, default
/tmp/torchv/bin/python or $LUCID_TORCH_PYTHON); torch runs in a subprocess and is never a
dependency of Lucid.

    python benchmarks/numpy_conv_bench.py [--repeat 7] [--rounds 3] [--torch-python PATH]
        [--no-torch]

Each case is measured --rounds times, alternating ours and torch's, and the best round is kept:
on a small shared box another process on one core slows multithreaded BLAS (ours and torch's)
several-fold, and the highest busy fraction seen just before a round is printed.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lucid._backend import numpy_conv as nc  # noqa: E402

# name, N, C_in, C_out, spatial, kernel, stride, padding, groups
CASES = [
    ("N8 16->32 16x32x32 k3 p1", 8, 16, 32, (16, 32, 32), 3, 1, 1, 1),
    ("N2 64->64 8x28x28 k3 p1", 2, 64, 64, (8, 28, 28), 3, 1, 1, 1),
    ("N4 32->64 16x32x32 k3 s2 p1", 4, 32, 64, (16, 32, 32), 3, 2, 1, 1),
    ("N4 dw64 16x32x32 k3 p1", 4, 64, 64, (16, 32, 32), 3, 1, 1, 64),
]

TORCH_SCRIPT = r"""
import json, sys, time, torch
N, ci, co, S, k, s, p, g, rep = json.loads(sys.argv[1])
torch.manual_seed(0)
x = torch.randn(N, ci, *S, requires_grad=True)
w = torch.randn(co, ci // g, k, k, k, requires_grad=True)
def fwd():
    with torch.no_grad():
        torch.nn.functional.conv3d(x, w, stride=s, padding=p, groups=g)
def step():
    y = torch.nn.functional.conv3d(x, w, stride=s, padding=p, groups=g)
    torch.autograd.grad(y, (x, w), torch.ones_like(y))
def best(f):
    f(); f()
    ts = []
    for _ in range(rep):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return min(ts) * 1e3
print(json.dumps({"fwd": best(fwd), "total": best(step), "threads": torch.get_num_threads()}))
"""


def busy_fraction(dt=0.3):
    """Fraction of CPU time used by anything during the next dt seconds (Linux /proc/stat)."""
    try:

        def read():
            with open("/proc/stat") as stat:
                v = [int(t) for t in stat.readline().split()[1:]]
            return sum(v), v[3] + v[4]

        a = read()
        time.sleep(dt)
        b = read()
        return 1.0 - (b[1] - a[1]) / max(1, b[0] - a[0])
    except OSError:
        return float("nan")


def best_ms(f, repeat):
    """Best wall time of f() in ms after one warm-up call."""
    f()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return min(ts) * 1e3


def run_case(case, repeat):
    """Our fwd / input-grad / weight-grad times (ms) and peak extra memory (MiB) of each."""
    _, N, ci, co, S, k, s, p, g = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, ci) + S, dtype=np.float32)
    w = rng.standard_normal((co, ci // g, k, k, k), dtype=np.float32)
    st, pad, dil = (s,) * 3, ((p, p),) * 3, (1, 1, 1)
    y = nc.conv_forward(x, w, st, pad, dil, g)
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    fns = {
        "fwd": lambda: nc.conv_forward(x, w, st, pad, dil, g),
        "dx": lambda: nc.conv_input_grad(dy, w, S, st, pad, dil, g),
        "dw": lambda: nc.conv_weight_grad(x, dy, (k,) * 3, st, pad, dil, g),
    }
    times = {name: best_ms(f, repeat) for name, f in fns.items()}
    peaks = {}
    for name, f in fns.items():
        tracemalloc.start()
        r = f()
        peak = tracemalloc.get_traced_memory()[1] - r.nbytes  # beyond the result (scratch is warm)
        tracemalloc.stop()
        peaks[name] = peak / 2**20
    return times, peaks, (x.nbytes + y.nbytes) / 2**20


def run_torch(case, repeat, python):
    """PyTorch CPU conv3d times (fwd, fwd+bwd) in ms via a subprocess, or None."""
    _, N, ci, co, S, k, s, p, g = case
    try:
        out = subprocess.run(
            [python, "-c", TORCH_SCRIPT, json.dumps([N, ci, co, S, k, s, p, g, repeat])],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def main():
    """Run every case and print one table row each."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument(
        "--torch-python", default=os.environ.get("LUCID_TORCH_PYTHON", "/tmp/torchv/bin/python")
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-torch", action="store_true")
    a = ap.parse_args()
    use_torch = not a.no_torch and os.path.exists(a.torch_python)
    print(
        f"numpy {np.__version__}, {os.cpu_count()} CPUs, float32; times in ms "
        f"(best of {a.repeat} x {a.rounds} rounds)"
    )
    hdr = f"{'case':30s} {'fwd':>6s} {'dx':>6s} {'dw':>6s} {'total':>7s}"
    if use_torch:
        hdr += f" {'torch fwd':>9s} {'torch tot':>9s} {'ratio':>6s}"
    hdr += f"  {'peak extra MiB fwd/dx/dw':>25s} {'x+y MiB':>8s} {'busy':>5s}"
    print(hdr)
    for case in CASES:
        busy, times, tt = 0.0, None, None
        for _ in range(max(1, a.rounds)):
            busy = max(busy, busy_fraction())
            t, peaks, xy = run_case(case, a.repeat)
            times = t if times is None else {k: min(v, t[k]) for k, v in times.items()}
            if use_torch:
                r = run_torch(case, a.repeat, a.torch_python)
                if r is not None:
                    tt = r if tt is None else {k: min(v, r[k]) for k, v in tt.items()}
        total = sum(times.values())
        row = (
            f"{case[0]:30s} {times['fwd']:6.1f} {times['dx']:6.1f} {times['dw']:6.1f} {total:7.1f}"
        )
        if use_torch:
            if tt is None:
                row += f" {'n/a':>9s} {'n/a':>9s} {'':>6s}"
            else:
                row += f" {tt['fwd']:9.1f} {tt['total']:9.1f} {total / tt['total']:5.2f}x"
        row += (
            f"  {peaks['fwd']:8.1f}/{peaks['dx']:6.1f}/{peaks['dw']:6.1f}   {xy:8.1f} {busy:5.2f}"
        )
        print(row, flush=True)


if __name__ == "__main__":
    main()
