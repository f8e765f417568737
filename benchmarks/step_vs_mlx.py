"""One training step of the same small Conv3d + BatchNorm network, written four ways and timed in
the same run: pure MLX (mlx.nn + value_and_grad), pure MLX under mx.compile, Lucid eager and
lucid.compile. Lucid runs on MLX's kernels (LUCID_CPU_KERNELS=mlx) so the kernels are the same.

    python benchmarks/step_vs_mlx.py [--device cpu|gpu] [--repeat 30]

Network: Conv3d(1, 8, 3, pad 1) + BN + ReLU, Conv3d(8, 16, 3, pad 1) + BN + ReLU, global average
pool, Linear(16, 5); cross-entropy; Adam(lr 1e-3). mlx.nn.BatchNorm refuses 5-D input, so the
MLX program normalises an (N, D*H*W, C) view (the same statistics: over all but channels).
Prints ms per step (median; the four variants are timed round-robin), the ratios the issue sets
goals for, and Lucid's library evaluations per step.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("LUCID_CPU_KERNELS", "mlx")

import mlx.core as mx  # noqa: E402
import mlx.nn as mnn  # noqa: E402
import mlx.optimizers as mopt  # noqa: E402

import lucid  # noqa: E402
import lucid.nn as nn  # noqa: E402
import lucid.nn.functional as F  # noqa: E402
from lucid._backend import runtime  # noqa: E402

SIZES = [(2, 8), (16, 16)]  # (batch, edge): the small regime, then a larger one


class MlxNet(mnn.Module):
    """The network in pure MLX (channels-last)."""

    def __init__(self):
        super().__init__()
        self.c1 = mnn.Conv3d(1, 8, 3, padding=1)
        self.b1 = mnn.BatchNorm(8)
        self.c2 = mnn.Conv3d(8, 16, 3, padding=1)
        self.b2 = mnn.BatchNorm(16)
        self.fc = mnn.Linear(16, 5)

    @staticmethod
    def _bn(bn, x):
        n, d, h, w, c = x.shape
        return bn(x.reshape(n, d * h * w, c)).reshape(n, d, h, w, c)

    def __call__(self, x):
        x = mnn.relu(self._bn(self.b1, self.c1(x)))
        x = mnn.relu(self._bn(self.b2, self.c2(x)))
        return self.fc(x.mean(axis=(1, 2, 3)))


def lucid_net():
    """The network in Lucid (channels-first)."""
    return nn.Sequential(
        nn.Conv3d(1, 8, 3, padding=1),
        nn.BatchNorm3d(8),
        nn.ReLU(),
        nn.Conv3d(8, 16, 3, padding=1),
        nn.BatchNorm3d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(16, 5),
    )


def median_ms(steps, repeat, warmup=3):
    """Median wall time in ms of each of ``steps`` (name -> function that finishes its work),
    measured round-robin so that a busy machine's drift hits every variant alike."""
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in steps}
    for _ in range(repeat):
        for name, fn in steps.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def mlx_steps(batch, edge):
    """(eager step, compiled step) of the pure-MLX program."""
    x = mx.random.normal((batch, edge, edge, edge, 1))
    y = mx.random.randint(0, 5, (batch,))
    out = []
    for compiled in (False, True):
        model = MlxNet()
        opt = mopt.Adam(learning_rate=1e-3)

        def loss_fn(model, x, y):
            return mnn.losses.cross_entropy(model(x), y, reduction="mean")

        grad_fn = mnn.value_and_grad(model, loss_fn)

        def train(x, y, model=model, opt=opt, grad_fn=grad_fn):
            loss, grads = grad_fn(model, x, y)
            opt.update(model, grads)
            return loss

        state = [model.state, opt.state]
        fn = mx.compile(train, inputs=state, outputs=state) if compiled else train

        def step(fn=fn, state=state):
            loss = fn(x, y)
            mx.eval(loss, state)

        out.append(step)
    return out


def lucid_steps(batch, edge, device):
    """(eager step, compiled step, evaluations per eager step, per compiled step)."""
    x = lucid.randn(batch, 1, edge, edge, edge, device=device)
    y = lucid.randint(0, 5, (batch,), device=device)
    out, counts = [], []
    for compiled in (False, True):
        lucid.random.seed(0)
        model = lucid_net().to(device)
        opt = lucid.optim.Adam(model.parameters(), lr=1e-3)

        def train(x, y, model=model, opt=opt):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        fn = lucid.compile(train, state=[model, opt]) if compiled else train
        fn(x, y)
        fn(x, y)
        kinds = []
        handle = runtime.add_eval_listener(kinds.append)
        fn(x, y)
        handle.remove()
        counts.append(sum(k != "read" for k in kinds))
        out.append(lambda fn=fn: fn(x, y))  # the step's own evaluation finishes it
    return out + counts


def main():
    """Run every size and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    p.add_argument("--repeat", type=int, default=30)
    args = p.parse_args()
    if args.device == "gpu":
        mx.set_default_device(mx.gpu)
    print(
        f"MLX {mx.__version__}, device {args.device}, Lucid CPU kernels "
        f"{os.environ['LUCID_CPU_KERNELS']}; ms per step (median of {args.repeat})"
    )
    for batch, edge in SIZES:
        repeat = args.repeat if edge <= 8 else max(5, args.repeat // 4)
        mlx_eager, mlx_comp = mlx_steps(batch, edge)
        lucid_eager, lucid_comp, evals_eager, evals_comp = lucid_steps(batch, edge, args.device)
        t = median_ms(
            {
                "mlx": mlx_eager,
                "mlx.compile": mlx_comp,
                "lucid": lucid_eager,
                "lucid.compile": lucid_comp,
            },
            repeat,
        )
        print(f"batch {batch} of {edge}^3: " + " | ".join(f"{k} {v:.2f}" for k, v in t.items()))
        print(
            f"  lucid/mlx eager {t['lucid'] / t['mlx']:.2f}x (goal <= 1.5 small) | "
            f"lucid.compile/mx.compile {t['lucid.compile'] / t['mlx.compile']:.2f}x "
            f"(goal <= 1.15 small) | lucid compiled/eager "
            f"{t['lucid.compile'] / t['lucid']:.2f}x (goal < 1) | library evaluations per "
            f"step: eager {evals_eager}, compiled {evals_comp} (goal <= 1)"
        )


if __name__ == "__main__":
    main()
