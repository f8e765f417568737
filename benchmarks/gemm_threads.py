"""Single float32 GEMMs on one and on all OpenBLAS threads, on the machine as it is and next to
one BLAS-using neighbour process, in the same run: the measurement behind
blas_threads.MIN_WORK_TO_SPLIT (docs/benchmarks.md, "A busy machine").

    python benchmarks/gemm_threads.py [--calls 60]
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from contention import NEIGHBOUR  # noqa: E402

from lucid._backend import blas_threads  # noqa: E402

# (M, K, N): im2col chunks of the demo network's layers, then square products
SHAPES = [
    (16, 108, 4096),
    (32, 216, 2048),
    (32, 432, 4096),
    (64, 864, 1024),
    (32, 864, 8192),
    (256, 256, 256),
    (512, 512, 512),
    (1024, 1024, 1024),
]


def mean_ms(blas, shape, threads, calls):
    """Mean ms of ``calls`` products of this shape on ``threads`` threads."""
    m, k, n = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    before = blas.get()
    blas.set(threads)
    try:
        a @ b
        t0 = time.perf_counter()
        for _ in range(calls):
            a @ b
        return (time.perf_counter() - t0) / calls * 1e3
    finally:
        blas.set(before)


def table(blas, calls, label):
    """Print one line per shape: work, one-thread and all-thread mean times."""
    print(f"{label}:")
    for shape in SHAPES:
        work = shape[0] * shape[1] * shape[2]
        one = mean_ms(blas, shape, 1, calls)
        every = mean_ms(blas, shape, blas.get(), calls)
        print(
            f"  {str(shape):20s} 2^{np.log2(work):4.1f}  1 thread {one:8.3f} ms   "
            f"{blas.get()} threads {every:8.3f} ms   split/1 {every / one:5.2f}"
        )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=60)
    args = ap.parse_args()
    blas = blas_threads.openblas()
    if blas is None:
        sys.exit("NumPy here does not use an OpenBLAS that Lucid can control")
    table(blas, args.calls, "as is")
    neighbour = subprocess.Popen([sys.executable, "-c", NEIGHBOUR])
    try:
        time.sleep(1.0)
        table(blas, args.calls, "1 BLAS neighbour")
    finally:
        neighbour.kill()
        neighbour.wait()


if __name__ == "__main__":
    main()
