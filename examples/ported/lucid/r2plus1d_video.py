"""An R(2+1)D-style video classifier: which way does the square move? SGD + StepLR."""

import argparse

import lucid
import lucid.nn as nn
import lucid.nn.functional as F

DIRECTIONS = [(0, 1), (0, -1), (1, 0), (-1, 0)]  # right, left, down, up


def make_clips(n, frames=6, size=20):
    """Clips (N, T, C, H, W) of a 4x4 square moving one pixel per frame, and their direction."""
    clips = lucid.zeros(n, frames, 1, size, size)
    labels = lucid.randint(0, len(DIRECTIONS), (n,))
    starts = lucid.randint(frames, size - frames - 4, (n, 2))
    for i in range(n):
        dy, dx = DIRECTIONS[labels[i].item()]
        y0, x0 = starts[i, 0].item(), starts[i, 1].item()
        for t in range(frames):
            y, x = y0 + dy * t, x0 + dx * t
            clips[i, t, 0, y : y + 4, x : x + 4] = 1.0
    clips = clips + 0.3 * lucid.randn(n, frames, 1, size, size)
    return clips, labels


class Conv2Plus1d(nn.Sequential):
    """A 3x3x3 convolution factorised into a spatial 1x3x3 and a temporal 3x1x1 one."""

    def __init__(self, c_in, c_out, mid):
        super().__init__(
            nn.Conv3d(c_in, mid, kernel_size=(1, 3, 3), padding=(0, 1, 1), bias=False),
            nn.BatchNorm3d(mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(mid, c_out, kernel_size=(3, 1, 1), padding=(1, 0, 0), bias=False),
        )


class R2Plus1d(nn.Module):
    def __init__(self, num_classes=4, width=8):
        super().__init__()
        self.stem = nn.Sequential(Conv2Plus1d(1, width, 8), nn.BatchNorm3d(width), nn.ReLU())
        self.block = nn.Sequential(
            Conv2Plus1d(width, 2 * width, 12),
            nn.BatchNorm3d(2 * width),
            nn.ReLU(),
            nn.MaxPool3d((1, 2, 2)),
        )
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        x = self.block(self.stem(x))
        return self.fc(self.pool(x).flatten(start_dim=1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--clips", type=int, default=256)
    args = p.parse_args()

    lucid.manual_seed(0)
    clips, labels = make_clips(args.clips)
    clips = (clips - clips.mean()) / clips.std()
    x = clips.transpose(1, 2)  # (N, C, T, H, W), as Conv3d wants
    n_train = int(0.75 * x.size(0))
    model = R2Plus1d()
    opt = lucid.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    sched = lucid.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.3)
    for epoch in range(args.epochs):
        model.train()
        order = lucid.randperm(n_train)
        for idx in order.split(8):
            opt.zero_grad()
            loss = F.cross_entropy(model(x[idx]), labels[idx])
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        with lucid.no_grad():
            _, pred = model(x[n_train:]).max(1)
            correct = pred.eq(labels[n_train:]).sum().item()
        print(
            f"epoch {epoch + 1}: loss {loss:.4f} lr {sched.get_last_lr()[0]:.4f} "
            f"held-out accuracy {correct}/{x.size(0) - n_train}"
        )


if __name__ == "__main__":
    main()
