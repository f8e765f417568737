"""Peak memory of one training step of a deep 3D net, with and without activation
checkpointing (``lucid.utils.checkpoint`` around each block), measured with lucid.memory in
the same run. Prints MiB and the ratio.

    python benchmarks/checkpoint_memory.py [--depth 8] [--width 16] [--size 32] [--batch 2]
"""

import argparse
import gc

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
from lucid.utils import checkpoint


class Deep3d(nn.Module):
    """``depth`` residual blocks (Conv3d 3x3x3 + GroupNorm + ReLU, twice) at full resolution."""

    def __init__(self, depth, width, use_checkpoint):
        super().__init__()
        self.stem = nn.Conv3d(1, width, 3, padding=1)
        self.blocks = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Conv3d(width, width, 3, padding=1),
                    nn.GroupNorm(4, width),
                    nn.ReLU(),
                    nn.Conv3d(width, width, 3, padding=1),
                    nn.GroupNorm(4, width),
                    nn.ReLU(),
                )
                for _ in range(depth)
            ]
        )
        self.head = nn.Linear(width, 2)
        self.use_checkpoint = use_checkpoint

    def forward(self, x):
        """(N, 1, S, S, S) -> (N, 2)."""
        h = self.stem(x)
        for block in self.blocks:
            h = h + (checkpoint(block, h) if self.use_checkpoint else block(h))
        return self.head(h.mean(axis=(2, 3, 4)))


def peak_of_step(use_checkpoint, args):
    """Peak bytes of one forward + backward + SGD step (after a warm-up step)."""
    lucid.random.seed(0)
    model = Deep3d(args.depth, args.width, use_checkpoint)
    opt = lucid.optim.SGD(model.parameters(), lr=1e-3)
    x = lucid.randn(args.batch, 1, args.size, args.size, args.size)
    y = lucid.tensor([0, 1] * (args.batch // 2) + [0] * (args.batch % 2))
    x.numpy()
    for _ in range(2):
        gc.collect()
        lucid.memory.clear_cache()
        lucid.memory.reset_peak()
        base = lucid.memory.active()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
    return lucid.memory.peak() - base


def main():
    """Measure both ways and print."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--depth", type=int, default=8)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch", type=int, default=2)
    args = p.parse_args()
    from lucid import _backend as B

    plain = peak_of_step(False, args)
    ckpt = peak_of_step(True, args)
    mib = 1024 * 1024
    print(
        f"Deep3d depth {args.depth} width {args.width}, batch {args.batch} of {args.size}^3, "
        f"CPU kernels: {B.cpu_kernels()}"
    )
    print(
        f"peak memory of a step: plain {plain / mib:.1f} MiB | checkpointed "
        f"{ckpt / mib:.1f} MiB | ratio {ckpt / plain:.2f}"
    )


if __name__ == "__main__":
    main()
