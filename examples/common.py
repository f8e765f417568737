"""Pieces the example scripts share: the small 3D CNN, a progress bar, train/evaluate loops."""

from __future__ import annotations

import sys
import time

import lucid
import lucid.nn as nn
import lucid.nn.functional as F


def conv_block(c_in, c_out, pool=True):
    """Conv3d(3x3x3) + BatchNorm3d + ReLU (+ MaxPool3d(2))."""
    layers = [nn.Conv3d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm3d(c_out), nn.ReLU()]
    if pool:
        layers.append(nn.MaxPool3d(2))
    return layers


class ShapeNet3d(nn.Module):
    """A small volumetric classifier: three conv blocks, global average pooling, a linear head."""

    def __init__(self, num_classes=5, width=8, in_channels=1):
        super().__init__()
        self.features = nn.Sequential(
            *conv_block(in_channels, width),
            *conv_block(width, 2 * width),
            *conv_block(2 * width, 4 * width, pool=False),
        )
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x):
        """(N, C, D, H, W) volumes -> (N, num_classes) logits."""
        return self.head(self.pool(self.features(x)).flatten(1))


class Progress:
    """Training progress on stderr: a one-line bar on a terminal (tqdm when installed), a plain
    line every ``every_s`` seconds in a log (a pipe or a file gets no carriage returns), nothing
    with ``enabled=False`` (the scripts' ``--no-progress``)."""

    def __init__(self, total, desc, enabled=True, every_s=10.0, unit="volumes"):
        self.total, self.desc, self.unit, self.every_s = total, desc, unit, every_s
        self.done, self.t0 = 0, time.perf_counter()
        self._last_line = self.t0
        self.mode = "off" if not enabled else ("bar" if sys.stderr.isatty() else "lines")
        self._bar = None
        if self.mode == "bar":
            try:
                from tqdm import tqdm

                self._bar = tqdm(total=total, desc=desc, leave=False, file=sys.stderr, unit=unit)
            except ImportError:
                pass

    def update(self, n, **stats):
        """Advance by n samples and show the given statistics."""
        self.done += n
        if self.mode == "off":
            return
        if self._bar is not None:
            self._bar.update(n)
            self._bar.set_postfix({k: f"{v:.3f}" for k, v in stats.items()})
            return
        now = time.perf_counter()
        rate = self.done / max(now - self.t0, 1e-9)
        text = " ".join(f"{k}={v:.3f}" for k, v in stats.items())
        if self.mode == "lines":
            if now - self._last_line >= self.every_s and self.done < self.total:
                self._last_line = now
                sys.stderr.write(
                    f"{self.desc}: {self.done}/{self.total} {text} {rate:.0f} {self.unit}/s\n"
                )
                sys.stderr.flush()
            return
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        sys.stderr.write(
            f"\r{self.desc} [{'#' * filled}{'.' * (width - filled)}] "
            f"{self.done}/{self.total} {text} {rate:.0f} {self.unit}/s "
        )
        sys.stderr.flush()

    def close(self):
        """Clear the bar (a log keeps its lines)."""
        if self._bar is not None:
            self._bar.close()
        elif self.mode == "bar":
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()


def train_step(model, optimizer):
    """The plain training step: ``step(x, y) -> (loss, logits)``."""

    def step(x, y):
        optimizer.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        optimizer.step()
        return loss, logits

    return step


def train_epoch(model, loader, optimizer, desc="train", scheduler=None, step=None, progress=True):
    """One pass over ``loader`` with ``step(x, y) -> (loss, logits)`` (default
    :func:`train_step`); returns (mean loss, accuracy, volumes per second)."""
    model.train()
    step = step or train_step(model, optimizer)
    bar = Progress(len(loader.dataset), desc, enabled=progress)
    total_loss, correct, seen, t0 = 0.0, 0, 0, time.perf_counter()
    for x, y in loader:
        loss, logits = step(x, y)
        if scheduler is not None:
            scheduler.step()
        n = y.shape[0]
        total_loss += loss.item() * n
        correct += int((logits.argmax(dim=1) == y).sum().item())
        seen += n
        bar.update(n, loss=total_loss / seen, acc=correct / seen)
    bar.close()
    return total_loss / seen, correct / seen, seen / (time.perf_counter() - t0)


@lucid.no_grad()
def evaluate(model, loader):
    """(mean loss, accuracy) of ``model`` in eval mode over ``loader``."""
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for x, y in loader:
        logits = model(x)
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        correct += int((logits.argmax(dim=1) == y).sum().item())
        seen += y.shape[0]
    return total_loss / seen, correct / seen
