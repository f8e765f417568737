"""DataLoader workers on an augmentation-heavy numpy pipeline: batches/s with num_workers=0 and
2 (Lucid's worker threads), and 2 worker processes (multiprocessing, fork) doing the same numpy
work, all in this run. Three settings: loading alone; loading while the main thread runs a
small Conv3d training step per batch on the CPU; and loading while the main thread waits 60 ms
per batch, as it does for a step on an accelerator (what workers should hide). Prints
batches/s and ratios against 0 workers; this is how threads were chosen over processes
(docs/benchmarks.md).

    python benchmarks/loader_workers.py [--batches 24] [--batch-size 8] [--repeat 3]
"""

import argparse
import multiprocessing
import os
import platform
import statistics
import time

import numpy as np

import lucid
from lucid import nn
from lucid.data import DataLoader, Dataset, sample_rng

SIZE = 48


def augment(i: int, rng) -> np.ndarray:
    """One augmented 1x48^3 volume: crop, flips, a 90-degree rotation, intensity scale/shift,
    Gaussian noise, a 3-tap smoothing along two axes, gamma and normalisation."""
    base = np.sin(
        np.arange(56**3, dtype=np.float32).reshape(1, 56, 56, 56) * np.float32(1e-3 * (i % 7 + 1))
    )
    o = rng.integers(0, 9, 3)
    x = base[:, o[0] : o[0] + SIZE, o[1] : o[1] + SIZE, o[2] : o[2] + SIZE]
    for axis in (1, 2, 3):
        if rng.random() < 0.5:
            x = np.flip(x, axis)
    x = np.ascontiguousarray(np.rot90(x, int(rng.integers(4)), axes=(2, 3)))
    x = x * np.float32(rng.uniform(0.9, 1.1)) + np.float32(rng.uniform(-0.1, 0.1))
    x = x + rng.normal(0, 0.05, x.shape).astype(np.float32)
    x = (x[:, :-2] + x[:, 1:-1] + x[:, 2:]) / 3
    x = (x[:, :, :-2] + x[:, :, 1:-1] + x[:, :, 2:]) / 3
    x = np.abs(x) ** np.float32(rng.uniform(0.8, 1.2))
    return ((x - x.mean()) / (x.std() + 1e-6)).astype(np.float32)


class Volumes(Dataset):
    """The benchmark's dataset: augmentation parameters from lucid.data.sample_rng()."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return augment(i, sample_rng()), i % 5


def process_batch(indices):
    """The same numpy work for the process-pool comparison (seeded per index)."""
    return np.stack([augment(i, np.random.default_rng(i)) for i in indices])


def make_step():
    """A small Conv3d training step the main thread runs per batch (about as long as loading
    one batch on the 2-core machine)."""
    model = nn.Sequential(
        nn.AvgPool3d(4),
        nn.Conv3d(1, 4, 3),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(4, 5),
    )
    opt = lucid.optim.SGD(model.parameters(), lr=0.01)

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()

    return step


def rate_loader(n_batches, batch_size, workers, step):
    loader = DataLoader(
        Volumes(n_batches * batch_size), batch_size=batch_size, num_workers=workers, seed=0
    )
    t0 = time.perf_counter()
    for x, y in loader:
        if step is not None:
            step(x, y)
    return n_batches / (time.perf_counter() - t0)


def rate_processes(n_batches, batch_size, workers, step):
    batches = [list(range(k * batch_size, (k + 1) * batch_size)) for k in range(n_batches)]
    ctx = multiprocessing.get_context("fork")
    t0 = time.perf_counter()
    with ctx.Pool(workers) as pool:
        for x in pool.imap(process_batch, batches):
            if step is not None:
                step(lucid.tensor(x), lucid.tensor(np.zeros(len(x), np.int64)))
    return n_batches / (time.perf_counter() - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, load average "
        f"{os.getloadavg()[0]:.1f}; {args.batches} batches of {args.batch_size} x 1x{SIZE}^3"
    )
    configs = [
        ("0 workers", rate_loader, 0),
        ("2 worker threads", rate_loader, 2),
        ("2 worker processes", rate_processes, 2),
    ]

    def gpu_like_step(x, y):  # a step that leaves the CPU free, as one on an accelerator does
        time.sleep(0.06)

    settings = (
        ("loading only", None),
        ("loading + Conv3d step (CPU)", make_step()),
        ("loading + 60 ms step that frees the CPU (GPU-like)", gpu_like_step),
    )
    for label, step in settings:
        rates = {name: [] for name, _, _ in configs}
        for _ in range(args.repeat):  # interleaved, so a busy moment hits every config
            for name, fn, workers in configs:
                rates[name].append(fn(args.batches, args.batch_size, workers, step))
        base = statistics.median(rates["0 workers"])
        print(f"\n{label}: batches/s (median of {args.repeat}), ratio to 0 workers")
        for name, values in rates.items():
            r = statistics.median(values)
            print(f"  {name:<20} {r:7.2f}   {r / base:5.2f}x")


if __name__ == "__main__":
    main()
