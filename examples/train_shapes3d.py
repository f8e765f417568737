"""Train a 3D CNN to tell apart five solid shapes rendered as noisy voxel grids (`make demo`).

    python examples/train_shapes3d.py [--epochs 12] [--batch-size 32] [--lr 0.003] [--device cpu]
                                      [--seed 0] [--out runs/shapes3d] [--compile]
                                      [--amp [float16|bfloat16]]

The data is generated from the seed (lucid.datasets.make_shapes3d): no download. The script
prints a summary line per epoch, saves a checkpoint with lucid.save, re-loads it into a fresh
model to confirm the identical test accuracy, and plots the curves when matplotlib is installed.
``--compile`` runs each training step as one compiled graph (lucid.compile); ``--amp`` trains
with mixed precision (lucid.amp.autocast; float16 adds a GradScaler). It prints the peak memory.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import ShapeNet3d, evaluate, train_epoch, train_step  # noqa: E402

import lucid  # noqa: E402
import lucid.nn.functional as F  # noqa: E402
from lucid.data import DataLoader, TensorDataset  # noqa: E402
from lucid.datasets import SHAPE_NAMES, make_shapes3d  # noqa: E402


def parse_args(argv=None):
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--device", default="cpu", help="'cpu' or 'gpu' (Metal/CUDA when present)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bar (a log gets a plain line every 10 s by default)",
    )
    p.add_argument("--out", default="runs/shapes3d")
    p.add_argument("--train-size", type=int, default=3000)
    p.add_argument("--test-size", type=int, default=500)
    p.add_argument("--size", type=int, default=16, help="voxel grid edge length")
    p.add_argument("--compile", action="store_true", help="compile the training step")
    p.add_argument(
        "--amp",
        nargs="?",
        const="float16",
        default=None,
        choices=["float16", "bfloat16"],
        help="mixed precision (default float16)",
    )
    return p.parse_args(argv)


def make_step(model, optimizer, args):
    """The training step ``(x, y) -> (loss, logits)``: plain, mixed precision, compiled."""
    if not args.amp:
        step = train_step(model, optimizer)
    else:
        dtype = getattr(lucid, args.amp)
        device = model.head.weight.device
        scaler = lucid.amp.GradScaler(device, enabled=args.amp == "float16")

        def step(x, y):
            optimizer.zero_grad()
            with lucid.amp.autocast(device, dtype=dtype):
                logits = model(x)
                loss = F.cross_entropy(logits, y)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            return loss, logits

        step.scaler = scaler
    if args.compile:
        state = [model, optimizer] + ([step.scaler] if args.amp else [])
        return lucid.compile(step, state=state)
    return step


def plot_curves(history, path):
    """Loss and accuracy per epoch as a PNG (skipped without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax1.plot(epochs, [h["test_loss"] for h in history], label="test")
    ax1.set_xlabel("epoch"), ax1.set_ylabel("cross-entropy"), ax1.legend()
    ax2.plot(epochs, [h["train_acc"] for h in history], label="train")
    ax2.plot(epochs, [h["test_acc"] for h in history], label="test")
    ax2.set_xlabel("epoch"), ax2.set_ylabel("accuracy"), ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None):
    """Generate data, train, evaluate, checkpoint, re-load and report."""
    args = parse_args(argv)
    start = time.perf_counter()
    lucid.random.seed(args.seed)
    x_train, y_train = make_shapes3d(args.train_size, size=args.size, seed=args.seed)
    x_test, y_test = make_shapes3d(args.test_size, size=args.size, seed=args.seed + 10_000)
    dev = args.device
    train = TensorDataset(lucid.tensor(x_train, device=dev), lucid.tensor(y_train, device=dev))
    test = TensorDataset(lucid.tensor(x_test, device=dev), lucid.tensor(y_test, device=dev))
    train_loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    test_loader = DataLoader(test, batch_size=256)

    model = ShapeNet3d(num_classes=len(SHAPE_NAMES)).to(dev)
    optimizer = lucid.optim.Adam(model.parameters(), lr=args.lr)
    steps = args.epochs * len(train_loader)
    scheduler = lucid.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps)
    print(
        f"lucid {lucid.__version__} | device {model.head.weight.device} | "
        f"{len(train)} train / {len(test)} test volumes of {args.size}^3 | "
        f"{model.num_parameters()} parameters | compile {args.compile} | amp {args.amp}"
    )

    step = make_step(model, optimizer, args)
    lucid.memory.reset_peak()
    history = []
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        train_loss, train_acc, rate = train_epoch(
            model,
            train_loader,
            optimizer,
            desc=f"epoch {epoch}",
            scheduler=scheduler,
            step=step,
            progress=not args.no_progress,
        )
        test_loss, test_acc = evaluate(model, test_loader)
        history.append(
            dict(
                epoch=epoch,
                train_loss=train_loss,
                train_acc=train_acc,
                test_loss=test_loss,
                test_acc=test_acc,
            )
        )
        print(
            f"epoch {epoch:2d}/{args.epochs} | train loss {train_loss:.4f} acc {train_acc:.3f} "
            f"| test loss {test_loss:.4f} acc {test_acc:.3f} | {rate:.0f} volumes/s | "
            f"{time.perf_counter() - t0:.1f}s",
            flush=True,
        )

    os.makedirs(args.out, exist_ok=True)
    ckpt = os.path.join(args.out, "checkpoint.safetensors")
    lucid.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": args.epochs,
            "test_acc": test_acc,
        },
        ckpt,
    )
    restored = ShapeNet3d(num_classes=len(SHAPE_NAMES)).to(dev)
    state = lucid.load(ckpt)
    restored.load_state_dict(state["model"])
    _, restored_acc = evaluate(restored, test_loader)
    same = "identical" if restored_acc == test_acc else f"DIFFERENT ({restored_acc:.4f})"
    plot = plot_curves(history, os.path.join(args.out, "curves.png"))

    print(
        f"final test accuracy: {test_acc:.4f} ({round(test_acc * len(test))}/{len(test)}); "
        f"re-loaded checkpoint: {same}"
    )
    print(f"checkpoint: {ckpt}")
    print(f"curves: {plot}" if plot else "curves: skipped (pip install matplotlib to plot)")
    print(f"peak memory: {lucid.memory.peak() / 2**20:.1f} MiB")
    print(f"total time: {time.perf_counter() - start:.1f}s")
    return test_acc


if __name__ == "__main__":
    main()
