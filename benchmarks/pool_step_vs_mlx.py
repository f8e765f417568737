"""The overhead regime with pooling: one training step of a Conv3d + BN + ReLU + MaxPool network,
Lucid eager on MLX's kernels against the same network in pure MLX eager, timed round-robin in
the same run (issue 21: Lucid took 2.76x pure MLX here, goal <= 1.5x).

    python benchmarks/pool_step_vs_mlx.py [--repeat 40] [--batch 2] [--edge 8]

Network: three blocks Conv3d(3, pad 1) + BN + ReLU (1->8->16->32 channels), a MaxPool3d(2)
after the first two, global average pool, Linear(32, 5); cross-entropy; Adam(lr 1e-3). The MLX
program is channels-last and normalises an (N, D*H*W, C) view (``step_vs_mlx.MlxNet``'s reason).
Prints ms per step (median) and the ratio; Lucid runs with ``LUCID_CPU_KERNELS=mlx``.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("LUCID_CPU_KERNELS", "mlx")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mlx.core as mx  # noqa: E402
import mlx.nn as mnn  # noqa: E402
import mlx.optimizers as mopt  # noqa: E402
from step_vs_mlx import median_ms  # noqa: E402

import lucid  # noqa: E402
import lucid.nn as nn  # noqa: E402
import lucid.nn.functional as F  # noqa: E402

WIDTHS = (1, 8, 16, 32)


class MlxPoolNet(mnn.Module):
    """The network in pure MLX (channels-last)."""

    def __init__(self):
        super().__init__()
        self.convs = [mnn.Conv3d(a, b, 3, padding=1) for a, b in zip(WIDTHS, WIDTHS[1:])]
        self.bns = [mnn.BatchNorm(b) for b in WIDTHS[1:]]
        self.pool = mnn.MaxPool3d(2)
        self.fc = mnn.Linear(WIDTHS[-1], 5)

    def __call__(self, x):
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            x = conv(x)
            n, d, h, w, c = x.shape
            x = mnn.relu(bn(x.reshape(n, d * h * w, c)).reshape(n, d, h, w, c))
            if i < 2:
                x = self.pool(x)
        return self.fc(x.mean(axis=(1, 2, 3)))


def lucid_pool_net():
    """The network in Lucid (channels-first)."""
    layers = []
    for i, (a, b) in enumerate(zip(WIDTHS, WIDTHS[1:])):
        layers += [nn.Conv3d(a, b, 3, padding=1), nn.BatchNorm3d(b), nn.ReLU()]
        if i < 2:
            layers.append(nn.MaxPool3d(2))
    return nn.Sequential(*layers, nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(WIDTHS[-1], 5))


def mlx_step(batch, edge):
    """One pure-MLX eager step (evaluated)."""
    x = mx.random.normal((batch, edge, edge, edge, 1))
    y = mx.random.randint(0, 5, (batch,))
    model, opt = MlxPoolNet(), mopt.Adam(learning_rate=1e-3)
    grad_fn = mnn.value_and_grad(model, lambda m, x, y: mnn.losses.cross_entropy(m(x), y).mean())

    def step():
        loss, grads = grad_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(loss, model.state, opt.state)

    return step


def lucid_step(batch, edge):
    """One Lucid eager step (the optimizer's step evaluates it)."""
    x = lucid.randn(batch, 1, edge, edge, edge)
    y = lucid.randint(0, 5, (batch,))
    lucid.random.seed(0)
    model = lucid_pool_net()
    opt = lucid.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def main():
    """Time both and print the ratio."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=40)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--edge", type=int, default=8)
    args = p.parse_args()
    t = median_ms(
        {"mlx": mlx_step(args.batch, args.edge), "lucid": lucid_step(args.batch, args.edge)},
        args.repeat,
    )
    print(
        f"MLX {mx.__version__}, device {mx.default_device()}, batch {args.batch} of "
        f"{args.edge}^3, median of {args.repeat}: mlx eager {t['mlx']:.2f} ms | lucid eager "
        f"{t['lucid']:.2f} ms | lucid/mlx {t['lucid'] / t['mlx']:.2f}x (goal <= 1.5)"
    )


if __name__ == "__main__":
    main()
