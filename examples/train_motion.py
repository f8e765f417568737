"""Motion needs the time axis: a Conv3d over (T, H, W) against a per-frame 2D baseline.

    python examples/train_motion.py [--epochs 4] [--clips 1500] [--seed 0] [--device cpu]

Each clip shows an object that is static or moves left, right, up or down (wrapping around the
frame), starting anywhere: every single frame looks the same in every class. The 3D model
convolves over time and sees the motion; the 2D baseline applies the same kind of network to
each frame separately and averages over time, so it cannot do better than chance.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import evaluate, train_epoch  # noqa: E402

import lucid  # noqa: E402
import lucid.nn as nn  # noqa: E402
from lucid.data import DataLoader, TensorDataset  # noqa: E402
from lucid.datasets import MOTION_NAMES, make_motion_clips  # noqa: E402


class Motion3d(nn.Module):
    """Conv3d blocks over (T, H, W), global pooling, linear head."""

    def __init__(self, classes, width=8):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv3d(1, width, 3, padding=1),
            nn.BatchNorm3d(width),
            nn.ReLU(),
            nn.MaxPool3d((1, 2, 2)),
            nn.Conv3d(width, 2 * width, 3, padding=1),
            nn.BatchNorm3d(2 * width),
            nn.ReLU(),
            nn.AdaptiveAvgPool3d(1),
            nn.Flatten(),
            nn.Linear(2 * width, classes),
        )

    def forward(self, x):
        """(N, 1, T, H, W) clips -> logits."""
        return self.net(x)


class PerFrame2d(nn.Module):
    """The same capacity applied to every frame on its own (Conv2d), averaged over time."""

    def __init__(self, classes, width=8):
        super().__init__()
        self.frame = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(2 * width, classes)

    def forward(self, x):
        """(N, 1, T, H, W) clips -> logits, from frame features averaged over T."""
        n, c, t, h, w = x.shape
        frames = x.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w)
        features = self.frame(frames).reshape(n, t, -1).mean(dim=1)
        return self.head(features)


def fit(model, train_loader, test_loader, epochs, lr, name, progress=True):
    """Train with Adam and report the held-out accuracy per epoch."""
    opt = lucid.optim.Adam(model.parameters(), lr=lr)
    acc = 0.0
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        loss, train_acc, rate = train_epoch(
            model, train_loader, opt, desc=f"{name} {epoch}", progress=progress
        )
        _, acc = evaluate(model, test_loader)
        print(
            f"{name:9s} epoch {epoch}/{epochs} | train loss {loss:.3f} acc {train_acc:.3f} | "
            f"test acc {acc:.3f} | {rate:.0f} clips/s | {time.perf_counter() - t0:.1f}s",
            flush=True,
        )
    return acc


def main(argv=None):
    """Train both models on the same clips and compare their held-out accuracy."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--clips", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (a log gets a plain line every 10 s by default)",
    )
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    lucid.random.seed(args.seed)
    x, y = make_motion_clips(args.clips, seed=args.seed)
    xt, yt = make_motion_clips(args.clips // 3, seed=args.seed + 1)
    train = TensorDataset(lucid.tensor(x, device=args.device), lucid.tensor(y, device=args.device))
    test = TensorDataset(lucid.tensor(xt, device=args.device), lucid.tensor(yt, device=args.device))
    train_loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    test_loader = DataLoader(test, batch_size=128)
    chance = 1 / len(MOTION_NAMES)
    print(
        f"{len(train)} train / {len(test)} test clips of {x.shape[2:]} (T, H, W), classes "
        f"{MOTION_NAMES} (chance {chance:.2f})"
    )
    acc3d = fit(
        Motion3d(len(MOTION_NAMES)).to(args.device),
        train_loader,
        test_loader,
        args.epochs,
        args.lr,
        "Conv3d",
        not args.no_progress,
    )
    acc2d = fit(
        PerFrame2d(len(MOTION_NAMES)).to(args.device),
        train_loader,
        test_loader,
        args.epochs,
        args.lr,
        "per-frame",
        not args.no_progress,
    )
    print(
        f"held-out accuracy: Conv3d {acc3d:.3f} vs per-frame Conv2d {acc2d:.3f} "
        f"(chance {chance:.2f})"
    )
    return acc3d, acc2d


if __name__ == "__main__":
    main()
