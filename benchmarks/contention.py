"""The `make demo` training step on a quiet machine and next to one BLAS-using neighbour process
(issue 10: a busy machine must not make training collapse), Lucid's NumPy CPU kernels against
PyTorch eager CPU, all in this run.

The neighbour is a subprocess running numpy float32 matmuls in a loop with its BLAS's default
thread count (another training run or a test worker). Each condition times Lucid with its GEMM
thread policy and chunk pool (lucid/_backend/blas_threads.py), the policy without the pool, every
GEMM on one thread without the pool, every GEMM split over all threads (the policy before issue
10), and PyTorch (all threads and one
thread), in interleaved rounds; figures are mean ms per step (a stall counts, as it does in
training).

    python benchmarks/contention.py [--steps 20] [--rounds 3]
"""

import argparse
import os
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import train_step  # noqa: E402  (the demo network and step, shared with train_step.py)

from lucid._backend import blas_threads  # noqa: E402

NEIGHBOUR = (
    "import numpy as np\n"
    "a = np.random.default_rng(0).standard_normal((512, 512), dtype=np.float32)\n"
    "while True:\n"
    "    a @ a\n"
)


def mean_ms(step, steps):
    """Mean milliseconds per call over ``steps`` calls (after one warm-up call)."""
    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps * 1e3


def with_split_threshold(step, threshold):
    """``step`` run with blas_threads.MIN_WORK_TO_SPLIT set to ``threshold``."""

    def run():
        saved = blas_threads.MIN_WORK_TO_SPLIT
        blas_threads.MIN_WORK_TO_SPLIT = threshold
        try:
            step()
        finally:
            blas_threads.MIN_WORK_TO_SPLIT = saved

    return run


def without_chunk_pool(step):
    """``step`` run with blas_threads.CHUNK_POOL off (a convolution's chunks one after another)."""

    def run():
        blas_threads.CHUNK_POOL = False
        try:
            step()
        finally:
            blas_threads.CHUNK_POOL = True

    return run


def with_torch_threads(torch, step, threads):
    """``step`` run with PyTorch limited to ``threads`` intra-op threads."""

    def run():
        torch.set_num_threads(threads)
        step()

    return run


def measure(steps_by_name, steps, rounds):
    """Best over ``rounds`` interleaved rounds of each step's mean time."""
    best = {name: float("inf") for name in steps_by_name}
    for _ in range(rounds):
        for name, step in steps_by_name.items():
            best[name] = min(best[name], mean_ms(step, steps))
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    lucid_step = train_step.lucid_step("numpy")
    steps = {
        "lucid, thread policy": lucid_step,
        "lucid, policy, no chunk pool": without_chunk_pool(lucid_step),
        "lucid, one thread, no pool": without_chunk_pool(
            with_split_threshold(lucid_step, float("inf"))
        ),
        "lucid, all threads (issue 10)": with_split_threshold(lucid_step, 0),
    }
    try:
        import torch

        torch_step = train_step.torch_step(torch)
        steps["torch eager CPU"] = with_torch_threads(torch, torch_step, os.cpu_count() or 1)
        # PyTorch's threads suffer from a busy machine as well: one thread is the steady baseline
        steps["torch eager CPU, 1 thread"] = with_torch_threads(torch, torch_step, 1)
    except ImportError:
        pass
    results = {"quiet": measure(steps, args.steps, args.rounds)}
    neighbour = subprocess.Popen([sys.executable, "-c", NEIGHBOUR])
    try:
        time.sleep(1.0)
        results["1 BLAS neighbour"] = measure(steps, args.steps, args.rounds)
    finally:
        neighbour.kill()
        neighbour.wait()
    blas = blas_threads.openblas()
    print(
        f"# {platform.platform()}, {os.cpu_count()} cores, OpenBLAS threads: "
        f"{blas.get() if blas else 'not controlled'}; demo network, batch {train_step.BATCH} "
        f"of {train_step.SIZE}^3, mean of {args.steps} steps, best of {args.rounds} rounds"
    )
    for cond, res in results.items():
        base = res.get("torch eager CPU")
        print(f"{cond}:")
        for name, ms in res.items():
            ratio = f"  ({ms / base:5.2f}x PyTorch)" if base else ""
            print(f"  {name:30s} {ms:8.1f} ms/step{ratio}")


if __name__ == "__main__":
    main()
