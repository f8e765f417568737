"""CacheDataset / PersistentDataset against the uncached pipeline: seconds per epoch over N
volumes stored as .npy files (items are their paths), with a deterministic prefix (load, an
Affine warp, Resize, NormalizeIntensity) and a random rest (flip, crop, noise). Prints the
uncached epoch, CacheDataset's build and epoch, PersistentDataset's first epoch (computes and
writes), an epoch of a new instance (reads the files back) and the cache size on disk
(docs/benchmarks.md).

    python benchmarks/cache_dataset.py [--items 24] [--size 48] [--repeat 3]
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

from lucid import transforms as T
from lucid.data import CacheDataset, DataLoader, Dataset, PersistentDataset, sample_rng


def load(path):
    """A volume from its .npy file (deterministic: its output may be cached)."""
    return np.load(path)


load.is_random = False


def chain(size):
    return T.Compose(
        [
            load,
            T.Affine(rotation=0.2, scale=1.1),
            T.Resize(size - 8),
            T.NormalizeIntensity(),
            T.RandomFlip(),
            T.RandomCrop(size - 16),
            T.GaussianNoise(0.05),
        ]
    )


class Uncached(Dataset):
    """Every step on every read (load included)."""

    def __init__(self, paths, transform):
        self.paths, self.transform = paths, transform

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        rng = sample_rng()
        x = load(self.paths[i])
        for t in self.transform.transforms[1:]:
            x = t(x, rng=rng)
        return x


def epoch(ds) -> float:
    start = time.perf_counter()
    for _ in DataLoader(ds, batch_size=4, shuffle=True, seed=0):
        pass
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=24)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows: dict = {}
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(args.items):
            paths.append(os.path.join(folder, f"vol{i}.npy"))
            np.save(paths[-1], rng.standard_normal((1,) + (args.size,) * 3).astype(np.float32))
        for r in range(args.repeat):
            rows.setdefault("uncached epoch", []).append(epoch(Uncached(paths, chain(args.size))))
            start = time.perf_counter()
            cached = CacheDataset(paths, chain(args.size))
            rows.setdefault("CacheDataset build", []).append(time.perf_counter() - start)
            rows.setdefault("CacheDataset epoch", []).append(epoch(cached))
            cache_dir = os.path.join(folder, f"cache{r}")
            first = PersistentDataset(paths, chain(args.size), cache_dir)
            rows.setdefault("PersistentDataset first epoch (writes)", []).append(epoch(first))
            again = PersistentDataset(paths, chain(args.size), cache_dir)
            rows.setdefault("PersistentDataset new instance (reads)", []).append(epoch(again))
            size = sum(os.path.getsize(os.path.join(cache_dir, f)) for f in os.listdir(cache_dir))
    print(f"{args.items} volumes 1x{args.size}^3, batch 4, median of {args.repeat}:")
    base = statistics.median(rows["uncached epoch"])
    for name, times in rows.items():
        t = statistics.median(times)
        print(f"  {name:42s} {t:7.3f} s  ({base / t:5.1f}x the uncached epoch's speed)")
    print(f"  cache on disk: {size / 2**20:.1f} MiB in {args.items} files")


if __name__ == "__main__":
    main()
