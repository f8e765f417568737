"""A small 3D UNet segmenting spheres in noisy volumes: Dice + cross-entropy, Adam, cosine LR."""

import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


def make_volumes(n, size=16):
    """Noisy volumes with one sphere each, and the sphere's voxel mask as the label."""
    grid = torch.arange(size, dtype=torch.float32)
    zz = grid.view(-1, 1, 1).expand(size, size, size)
    yy = grid.view(1, -1, 1).expand(size, size, size)
    xx = grid.view(1, 1, -1).expand(size, size, size)
    images, labels = [], []
    for _ in range(n):
        centre = torch.rand(3) * (size / 2) + size / 4
        radius = torch.rand(1).item() * size / 8 + size / 8
        dist = ((zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2).sqrt()
        mask = (dist < radius).long()
        noise = torch.randn(size, size, size) * 0.6
        images.append((mask.float() + noise).unsqueeze(0))
        labels.append(mask)
    return torch.stack(images), torch.stack(labels)


def double_conv(c_in, c_out):
    return nn.Sequential(
        nn.Conv3d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm3d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv3d(c_out, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm3d(c_out),
        nn.ReLU(inplace=True),
    )


class UNet3d(nn.Module):
    def __init__(self, in_channels=1, num_classes=2, width=8):
        super().__init__()
        self.down1 = double_conv(in_channels, width)
        self.down2 = double_conv(width, 2 * width)
        self.pool = nn.MaxPool3d(2)
        self.bottom = double_conv(2 * width, 4 * width)
        self.up2 = nn.ConvTranspose3d(4 * width, 2 * width, kernel_size=2, stride=2)
        self.dec2 = double_conv(4 * width, 2 * width)
        self.dec1 = double_conv(3 * width, width)
        self.head = nn.Conv3d(width, num_classes, kernel_size=1)

    def forward(self, x):
        s1 = self.down1(x)
        s2 = self.down2(self.pool(s1))
        b = self.bottom(self.pool(s2))
        d2 = self.dec2(torch.cat([self.up2(b), s2], dim=1))
        up1 = F.interpolate(d2, scale_factor=2, mode="trilinear", align_corners=False)
        d1 = self.dec1(torch.cat([up1, s1], dim=1))
        return self.head(d1)


def dice_loss(logits, target, eps=1e-5):
    probs = logits.softmax(dim=1)
    onehot = F.one_hot(target, num_classes=logits.shape[1]).permute(0, 4, 1, 2, 3).float()
    dims = (0, 2, 3, 4)
    inter = (probs * onehot).sum(dim=dims)
    union = probs.sum(dim=dims) + onehot.sum(dim=dims)
    return 1 - ((2 * inter + eps) / (union + eps)).mean()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--volumes", type=int, default=48)
    args = p.parse_args()

    torch.manual_seed(0)
    x, y = make_volumes(args.volumes)
    loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=True)
    model = UNet3d()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs * len(loader))
    for epoch in range(args.epochs):
        model.train()
        total, dice_sum = 0.0, 0.0
        for xb, yb in loader:
            opt.zero_grad()
            logits = model(xb)
            loss = F.cross_entropy(logits, yb) + dice_loss(logits, yb)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * xb.size(0)
            dice_sum += (1 - dice_loss(logits.detach(), yb).item()) * xb.size(0)
        n = len(loader.dataset)
        print(f"epoch {epoch + 1}: loss {total / n:.4f} dice {dice_sum / n:.4f}")
    model.eval()
    with torch.no_grad():
        pred = model(x[:8]).argmax(dim=1)
        fg = ((pred == 1) & (y[:8] == 1)).sum().item() * 2
        fg_dice = fg / max((pred == 1).sum().item() + (y[:8] == 1).sum().item(), 1)
    print(f"foreground dice on 8 volumes: {fg_dice:.3f}")


if __name__ == "__main__":
    main()
