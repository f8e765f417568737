"""A training loop with validation, early stopping and resumable checkpoints.

Run it, interrupt it (or pass --epochs 3), then run it again with --resume: it continues from the
last checkpoint with the model, the optimizer, the LR schedule and the early-stopping counters.
"""

import argparse
import os

import torch
import torch.nn as nn
import torch.nn.functional as F


def make_data(n):
    """Volumes (N, 1, 8, 8, 8): class 1 has a bright 3x3x3 cube somewhere, class 0 has not."""
    x = torch.randn(n, 1, 8, 8, 8) * 0.8
    y = torch.randint(0, 2, (n,))
    for i in range(n):
        if y[i].item() == 1:
            z, r, c = torch.randint(0, 6, (3,)).tolist()
            x[i, 0, z : z + 3, r : r + 3, c : c + 3] += 1.0
    return x, y


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv3d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv3d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16, 2)
        self.dropout = nn.Dropout(0.2)

    def forward(self, x):
        x = F.max_pool3d(F.relu(self.conv1(x)), 2)
        x = F.relu(self.conv2(x))
        x = F.adaptive_max_pool3d(x, 1).flatten(1)
        return self.fc(self.dropout(x))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument("--checkpoint", default="resume_checkpoint.pt")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args()

    torch.manual_seed(0)
    x, y = make_data(192)
    x_train, y_train, x_val, y_val = x[:128], y[:128], x[128:], y[128:]
    model = Net()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    start, best, bad_epochs = 0, float("inf"), 0
    if args.resume and os.path.exists(args.checkpoint):
        ckpt = torch.load(args.checkpoint)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        start, best, bad_epochs = ckpt["epoch"] + 1, ckpt["best"], ckpt["bad_epochs"]
        print(f"resumed after epoch {start} (best validation loss {best:.4f})")

    for epoch in range(start, args.epochs):
        model.train()
        perm = torch.randperm(x_train.size(0))
        for idx in perm.split(16):
            opt.zero_grad()
            loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=5.0)
            opt.step()
        model.eval()
        with torch.no_grad():
            logits = model(x_val)
            val_loss = F.cross_entropy(logits, y_val).item()
            acc = (logits.argmax(dim=1) == y_val).float().mean().item()
        sched.step(val_loss)
        if val_loss < best - 1e-4:
            best, bad_epochs = val_loss, 0
        else:
            bad_epochs += 1
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(),
                "epoch": epoch,
                "best": best,
                "bad_epochs": bad_epochs,
            },
            args.checkpoint,
        )
        print(
            f"epoch {epoch + 1}: validation loss {val_loss:.4f} accuracy {acc:.3f} "
            f"lr {opt.param_groups[0]['lr']:.2e}"
        )
        if bad_epochs >= args.patience:
            print(f"early stop: no improvement for {args.patience} epochs")
            break


if __name__ == "__main__":
    main()
