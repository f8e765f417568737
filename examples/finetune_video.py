"""Fine-tune r3d_18 on a small clip task, starting from PyTorch weights converted once.

    python examples/finetune_video.py [--weights r3d_18.safetensors] [--epochs 2] [--clips 40]

``--weights`` takes either the safetensors file written in a PyTorch environment with
``from safetensors.torch import save_file; save_file(model.state_dict(), "r3d_18.safetensors")``
(torchvision's Kinetics-400 r3d_18) or a file already converted with
``python -m lucid.models.convert``. Without it, randomly initialised weights stand in (the
script shows the steps; the accuracy then means little). The classifier is replaced by a fresh
5-way head (``ignore=("fc.",)`` skips the old one); the backbone's first stages are frozen and
the rest trains on lucid.datasets' motion clips, grey frames repeated to the 3 RGB channels.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import lucid
import lucid.nn.functional as F
from lucid.data import DataLoader, TensorDataset
from lucid.datasets import MOTION_NAMES, make_motion_clips
from lucid.models import r3d_18
from lucid.models.convert import load_pytorch_weights

# torchvision's Kinetics normalisation (per RGB channel)
MEAN = np.array([0.43216, 0.394666, 0.37645], np.float32).reshape(1, 3, 1, 1, 1)
STD = np.array([0.22803, 0.22145, 0.216989], np.float32).reshape(1, 3, 1, 1, 1)


def parse_args(argv=None):
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", help="safetensors state dict of torchvision's r3d_18")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--clips", type=int, default=40)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def clips_as_rgb(n, args, seed):
    """Motion clips (n, 3, T, H, W), normalised like Kinetics frames, and their labels."""
    x, y = make_motion_clips(n, frames=args.frames, size=args.size, seed=seed)
    return (np.repeat(x, 3, axis=1) - MEAN) / STD, y


def main(argv=None):
    """Load weights, swap the head, freeze the stem and layer1-2, train, report accuracy."""
    args = parse_args(argv)
    start = time.perf_counter()
    lucid.random.seed(args.seed)
    model = r3d_18(num_classes=len(MOTION_NAMES))
    if args.weights:
        report = load_pytorch_weights(model, args.weights, ignore=("fc.",))
        print(
            f"loaded {len(report['loaded'])} tensors from {args.weights}; fresh head: "
            f"{', '.join(report['ignored'])}"
        )
    else:
        print("no --weights given: random weights stand in for the pretrained ones")
    for part in (model.stem, model.layer1, model.layer2):
        part.requires_grad_(False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    print(
        f"r3d_18: {model.num_parameters()} parameters, {sum(p.numel() for p in trainable)} trained",
        flush=True,
    )

    x, y = clips_as_rgb(args.clips, args, args.seed)
    xv, yv = clips_as_rgb(max(args.clips // 4, 5), args, args.seed + 1)
    loader = DataLoader(
        TensorDataset(x, y), batch_size=args.batch_size, shuffle=True, seed=args.seed
    )
    optimizer = lucid.optim.AdamW(trainable, lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        model.train()
        for part in (model.stem, model.layer1, model.layer2):
            part.eval()  # frozen stages keep their BatchNorm statistics too
        total = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * yb.shape[0]
        model.eval()
        with lucid.no_grad():
            acc = float((model(lucid.tensor(xv)).argmax(axis=1).numpy() == yv).mean())
        print(
            f"epoch {epoch}/{args.epochs} | loss {total / len(x):.4f} | held-out accuracy "
            f"{acc:.3f}",
            flush=True,
        )
    print(f"total time: {time.perf_counter() - start:.1f}s")
    return acc


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
