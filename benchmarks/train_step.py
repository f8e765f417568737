"""One training step (forward, backward, Adam update) of the `make demo` network on a batch of
32 volumes of 16^3, with MLX's CPU kernels ("before") and Lucid's NumPy CPU kernels ("after"),
and the same network in PyTorch eager when installed; all measured in this run."""

import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))

from common import ShapeNet3d  # noqa: E402

import lucid  # noqa: E402
import lucid._backend as B  # noqa: E402
import lucid.nn.functional as F  # noqa: E402

BATCH, SIZE = 32, 16


def timed(step, repeat=10):
    """Median seconds per call after two warm-up calls."""
    step(), step()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def lucid_step(kernels):
    """A closure running one Lucid training step with the given CPU kernels."""
    lucid.random.seed(0)
    model = ShapeNet3d()
    opt = lucid.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = lucid.tensor(rng.standard_normal((BATCH, 1, SIZE, SIZE, SIZE)).astype(np.float32))
    y = lucid.tensor(rng.integers(0, 5, BATCH))

    def step():
        B.set_cpu_kernels(kernels)
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()

    return step


def torch_step(torch):
    """The same network and step in PyTorch eager."""
    nn = torch.nn

    def block(i, o, pool=True):
        layers = [nn.Conv3d(i, o, 3, padding=1, bias=False), nn.BatchNorm3d(o), nn.ReLU()]
        return layers + ([nn.MaxPool3d(2)] if pool else [])

    model = nn.Sequential(
        *block(1, 8),
        *block(8, 16),
        *block(16, 32, pool=False),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(32, 5),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(BATCH, 1, SIZE, SIZE, SIZE)
    y = torch.randint(0, 5, (BATCH,))

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()

    return step


def main():
    before = B.cpu_kernels()
    results = {
        "lucid, MLX CPU kernels (before)": timed(lucid_step("mlx")),
        "lucid, NumPy CPU kernels (after)": timed(lucid_step("numpy")),
    }
    B.set_cpu_kernels(before)
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        results["torch eager CPU"] = timed(torch_step(torch))
    except ImportError:
        pass
    print(
        f"# {platform.platform()}, {os.cpu_count()} cores; demo network, batch {BATCH} of "
        f"{SIZE}^3, median of 10 steps"
    )
    base = results["lucid, NumPy CPU kernels (after)"]
    for name, sec in results.items():
        print(f"  {name:36s} {sec * 1e3:8.1f} ms/step   ({sec / base:5.2f}x the NumPy path)")


if __name__ == "__main__":
    main()
