#!/usr/bin/env python3
"""Data-parallel version of train_shapes3d.py: one process per rank on MLX's distributed engine.

    mlx.launch -n 2 --backend ring python examples/train_shapes3d_distributed.py --epochs 1
    mlx.launch -n 2 --backend ring examples/train_shapes3d_distributed.py --epochs 1  # executable
    mlx.launch --hostfile hosts.json --backend ring python examples/train_shapes3d_distributed.py

(run from the repository root; see docs/distributed.md for several Macs). Started without
mlx.launch it trains as a single process. Every rank generates the same data from the seed,
trains on its DistributedSampler shard with ``--batch-size`` volumes per step (the global batch
is world_size times that), averages gradients after each backward, and rank 0 writes the
checkpoint, which every rank then re-loads to confirm the test accuracy.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import ShapeNet3d  # noqa: E402

import lucid  # noqa: E402
import lucid.distributed as dist  # noqa: E402
import lucid.nn.functional as F  # noqa: E402
from lucid.data import DataLoader, Subset, TensorDataset  # noqa: E402
from lucid.datasets import SHAPE_NAMES, make_shapes3d  # noqa: E402


def parse_args(argv=None):
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=16, help="volumes per rank per step")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--device", default="cpu", help="'cpu' or 'gpu' (Metal/CUDA when present)")
    p.add_argument("--backend", default="any", help="MLX distributed backend: any, ring, mpi...")
    p.add_argument(
        "--sync-bn",
        action="store_true",
        help="batch statistics over the global batch (SyncBatchNorm)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/shapes3d_distributed")
    p.add_argument("--train-size", type=int, default=2000)
    p.add_argument("--test-size", type=int, default=500)
    p.add_argument("--size", type=int, default=16, help="voxel grid edge length")
    return p.parse_args(argv)


def log(*args):
    """Print on rank 0 only."""
    if dist.rank() == 0:
        print(*args, flush=True)


def train_epoch(model, loader, optimizer, scheduler):
    """One pass over this rank's shard; returns the global (mean loss, accuracy)."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for x, y in loader:
        optimizer.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        model.average_gradients()  # every rank now holds the mean gradient of the global batch
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * y.shape[0]
        correct += int((logits.argmax(dim=1) == y).sum().item())
        seen += y.shape[0]
    loss_sum, right, count = dist.all_reduce(
        lucid.tensor([total_loss, correct, seen], dtype="float64")
    ).tolist()
    return loss_sum / count, right / count


@lucid.no_grad()
def evaluate(model, dataset):
    """Global (mean loss, accuracy): each rank scores every world_size-th test volume."""
    model.eval()
    mine = Subset(dataset, list(range(dist.rank(), len(dataset), dist.world_size())))
    total_loss, correct, seen = 0.0, 0, 0
    for x, y in DataLoader(mine, batch_size=256):
        logits = model(x)
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += int((logits.argmax(dim=1) == y).sum().item())
        seen += y.shape[0]
    loss_sum, right, count = dist.all_reduce(
        lucid.tensor([total_loss, correct, seen], dtype="float64")
    ).tolist()
    return loss_sum / count, right / count


def main(argv=None):
    """Join the job, train data-parallel, checkpoint on rank 0, re-load on every rank."""
    args = parse_args(argv)
    start = time.perf_counter()
    dist.init(backend=args.backend)
    rank, world = dist.rank(), dist.world_size()
    x_train, y_train = make_shapes3d(args.train_size, size=args.size, seed=args.seed)
    x_test, y_test = make_shapes3d(args.test_size, size=args.size, seed=args.seed + 10_000)
    dev = args.device
    train = TensorDataset(lucid.tensor(x_train, device=dev), lucid.tensor(y_train, device=dev))
    test = TensorDataset(lucid.tensor(x_test, device=dev), lucid.tensor(y_test, device=dev))
    sampler = dist.DistributedSampler(train, shuffle=True, seed=args.seed)
    train_loader = DataLoader(train, batch_size=args.batch_size, sampler=sampler)

    lucid.random.seed(args.seed + rank)  # any initial weights: DataParallel copies rank 0's
    net = ShapeNet3d(num_classes=len(SHAPE_NAMES)).to(dev)
    if args.sync_bn:
        net = dist.SyncBatchNorm.convert_sync_batchnorm(net)
    model = dist.DataParallel(net)
    optimizer = lucid.optim.Adam(model.parameters(), lr=args.lr)
    steps = args.epochs * len(train_loader)
    scheduler = lucid.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps)
    log(
        f"lucid {lucid.__version__} | {world} rank(s) | device {net.head.weight.device} | "
        f"{len(train)} train / {len(test)} test volumes of {args.size}^3 | global batch "
        f"{world} x {args.batch_size} | {'SyncBatchNorm' if args.sync_bn else 'BatchNorm3d'} | "
        f"{net.num_parameters()} parameters"
    )

    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        sampler.set_epoch(epoch)  # a new shuffle, the same on every rank
        train_loss, train_acc = train_epoch(model, train_loader, optimizer, scheduler)
        dist.broadcast_buffers(net)  # evaluate (and save) rank 0's BatchNorm running statistics
        test_loss, test_acc = evaluate(model, test)
        elapsed = time.perf_counter() - t0
        log(
            f"epoch {epoch:2d}/{args.epochs} | train loss {train_loss:.4f} acc {train_acc:.3f} "
            f"| test loss {test_loss:.4f} acc {test_acc:.3f} | "
            f"{len(sampler) * world / elapsed:.0f} volumes/s | {elapsed:.1f}s"
        )

    ckpt = os.path.join(args.out, "checkpoint.safetensors")
    if rank == 0:
        os.makedirs(args.out, exist_ok=True)
    dist.save_on_rank0(
        {
            "model": net.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": args.epochs,
            "test_acc": test_acc,
        },
        ckpt,
    )
    restored = ShapeNet3d(num_classes=len(SHAPE_NAMES)).to(dev)
    if args.sync_bn:
        restored = dist.SyncBatchNorm.convert_sync_batchnorm(restored)
    restored.load_state_dict(lucid.load(ckpt)["model"])  # every rank resumes from rank 0's file
    _, restored_acc = evaluate(restored, test)
    same = "identical" if restored_acc == test_acc else f"DIFFERENT ({restored_acc:.4f})"
    log(f"final test accuracy: {test_acc:.4f}; re-loaded checkpoint on every rank: {same}")
    log(f"checkpoint: {ckpt}")
    log(f"total time: {time.perf_counter() - start:.1f}s")
    return test_acc


if __name__ == "__main__":
    main()
