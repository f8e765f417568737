"""Framework overhead on a tiny graph: 100 x (y = y * 1.0 + 0.0) on a 4x4 tensor, then
sum().backward(). Lucid vs MLX's own autograd (mx.grad) and, when installed, PyTorch eager, all
measured in this run. Prints milliseconds per loop and ratios."""

import statistics
import time

import mlx.core as mx

import lucid

STEPS = 100


def timeit(fn, repeat=30, warmup=5):
    """Median wall time of fn() in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def chain(y):
    """The measured graph: STEPS x (y = y * 1.0 + 0.0)."""
    for _ in range(STEPS):
        y = y * 1.0 + 0.0
    return y


def eager_loop(lib):
    """One loop in an eager framework with PyTorch's API (Lucid or torch)."""
    x = lib.ones(4, 4, requires_grad=True)
    chain(x).sum().backward()
    x.grad.numpy()


def mlx_loop():
    """The same loop under MLX's function transform."""
    mx.eval(mx.grad(lambda x: chain(x).sum())(mx.ones((4, 4))))


def main():
    results = {"lucid": timeit(lambda: eager_loop(lucid)), "mlx.grad": timeit(mlx_loop)}
    try:
        import torch

        torch.set_num_threads(1)
        results["torch eager"] = timeit(lambda: eager_loop(torch))
    except ImportError:
        pass
    print(f"{STEPS} x (y = y * 1.0 + 0.0) on 4x4, then sum().backward(); median of 30 runs")
    for name, ms in results.items():
        print(f"  {name:12s} {ms:8.3f} ms   lucid/{name} = {results['lucid'] / ms:5.2f}x")


if __name__ == "__main__":
    main()
