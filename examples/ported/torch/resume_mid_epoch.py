"""Stop a training run in the middle of an epoch and resume it exactly.

The loader shuffles with its own torch.Generator and loads with two workers. At the stop the
checkpoint holds the model, the optimizer, the LR scheduler, the global RNG state (dropout), the
loader generator's state as it was when the epoch began and how many batches of the epoch were
done; the resumed run restores the generator, so the loader replays the epoch's order, and skips
the batches already trained on. The script trains without a stop, then stops, resumes in fresh
objects, and checks that the two loss curves are the same, bit for bit.
"""

import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


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
        self.dropout = nn.Dropout(0.3)
        self.fc = nn.Linear(16, 2)

    def forward(self, x):
        x = F.max_pool3d(F.relu(self.conv1(x)), 2)
        x = F.adaptive_avg_pool3d(F.relu(self.conv2(x)), 1).flatten(1)
        return self.fc(self.dropout(x))


def make_run(dataset, epochs, seed):
    """Fresh objects: the same initial weights, a loader with its own generator."""
    torch.manual_seed(seed)
    model = Net()
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(dataset, batch_size=8, shuffle=True, num_workers=2, generator=generator)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * len(loader))
    return model, opt, sched, generator, loader


def train(run, epochs, start=(0, 0), stop=None, checkpoint=None, losses=None):
    """Train from batch start[1] of epoch start[0]; at batch stop, save a checkpoint and return."""
    model, opt, sched, generator, loader = run
    losses = [] if losses is None else losses
    for epoch in range(start[0], epochs):
        epoch_generator_state = generator.get_state()
        model.train()
        for step, (x, y) in enumerate(loader):
            if epoch == start[0] and step < start[1]:
                continue
            if (epoch, step) == stop:
                torch.save(
                    {
                        "model": model.state_dict(),
                        "optimizer": opt.state_dict(),
                        "scheduler": sched.state_dict(),
                        "generator": epoch_generator_state,
                        "rng": torch.get_rng_state(),
                        "epoch": epoch,
                        "step": step,
                        "losses": losses,
                    },
                    checkpoint,
                )
                return losses
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        print(f"epoch {epoch + 1}: last loss {losses[-1]:.4f} lr {opt.param_groups[0]['lr']:.2e}")
    return losses


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--volumes", type=int, default=96)
    p.add_argument("--stop-epoch", type=int, default=1)
    p.add_argument("--stop-step", type=int, default=5)
    p.add_argument("--checkpoint", default="mid_epoch.pt")
    args = p.parse_args()

    torch.manual_seed(0)
    dataset = TensorDataset(*make_data(args.volumes))

    print("uninterrupted:")
    full = train(make_run(dataset, args.epochs, seed=1), args.epochs)

    print(f"stopped at batch {args.stop_step} of epoch {args.stop_epoch + 1}:")
    run = make_run(dataset, args.epochs, seed=1)
    train(run, args.epochs, stop=(args.stop_epoch, args.stop_step), checkpoint=args.checkpoint)

    print("resumed:")
    ckpt = torch.load(args.checkpoint)
    model, opt, sched, generator, loader = run = make_run(dataset, args.epochs, seed=2)
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    sched.load_state_dict(ckpt["scheduler"])
    generator.set_state(ckpt["generator"])
    torch.set_rng_state(ckpt["rng"])
    start = (ckpt["epoch"], ckpt["step"])
    resumed = train(run, args.epochs, start=start, losses=list(ckpt["losses"]))

    assert len(resumed) == len(full), (len(resumed), len(full))
    assert resumed == full, "the resumed loss curve differs from the uninterrupted one"
    print(f"resumed run repeats the uninterrupted loss curve exactly ({len(full)} steps)")


if __name__ == "__main__":
    main()
