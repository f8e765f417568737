"""Fine-tuning a 3D conv net with binarised activations, written as a custom autograd.Function.

The net is first trained with ReLUs, then its activations are replaced by a learned-scale
binariser (as in binarised and XNOR nets): the forward is scale * sign(x), the backward a
straight-through estimator (the gradient passes where |x| <= clip) plus the scale's gradient. A
tensor hook catches a feature map's gradient for a Grad-CAM map, and torch.autograd.grad gives
input-gradient (saliency) maps without touching any .grad.
"""

import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


class BinarizeSTE(torch.autograd.Function):
    """scale * sign(x); straight-through gradient for x where |x| <= clip."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu")
    def forward(ctx, x, scale, clip):
        ctx.save_for_backward(x, scale)
        ctx.clip = clip
        return torch.sign(x) * scale

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, grad_out):
        x, scale = ctx.saved_tensors
        grad_x = grad_scale = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_out * scale * (x.abs() <= ctx.clip).to(grad_out.dtype)
        if ctx.needs_input_grad[1]:
            grad_scale = (grad_out * torch.sign(x)).sum()
        return grad_x, grad_scale, None


class BinaryAct(nn.Module):
    def __init__(self, scale=1.0, clip=1.0):
        super().__init__()
        self.clip = clip
        self.scale = nn.Parameter(torch.tensor(scale))

    def forward(self, x):
        return BinarizeSTE.apply(x, self.scale, self.clip)


def check_binarizer():
    """The custom backward gives the straight-through and scale gradients by hand."""
    x = torch.tensor([-2.0, -0.5, 0.25, 3.0], requires_grad=True)
    scale = torch.tensor(0.5, requires_grad=True)
    y = BinarizeSTE.apply(x, scale, 1.0)
    assert y.tolist() == [-0.5, -0.5, 0.5, 0.5]
    (y * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.5, 0.0]
    assert scale.grad.item() == 4.0
    frozen = torch.tensor([0.3, 2.0], requires_grad=True)
    BinarizeSTE.apply(frozen, torch.tensor(2.0), 1.0).sum().backward()
    assert frozen.grad.tolist() == [2.0, 0.0]


def make_data(n):
    """Volumes (N, 1, 12, 12, 12): class 1 has a bright 4x4x4 cube somewhere, class 0 has not."""
    x = torch.randn(n, 1, 12, 12, 12) * 0.7
    y = torch.randint(0, 2, (n,))
    where = torch.randint(0, 9, (n, 3))
    for i in range(n):
        if y[i].item() == 1:
            z, r, c = where[i].tolist()
            x[i, 0, z : z + 4, r : r + 4, c : c + 4] += 1.2
    return x, y, where


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv3d(1, 8, 3, padding=1)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv3d(8, 16, 3, padding=1)
        self.act2 = nn.ReLU()
        self.fc = nn.Linear(16, 2)

    def features(self, x):
        x = F.max_pool3d(self.act1(self.conv1(x)), 2)
        return self.act2(self.conv2(x))

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool3d(self.features(x), 1).flatten(1))


def train(model, loader, opt, epoch):
    model.train()
    total, correct, seen = 0.0, 0, 0
    for x, y in loader:
        opt.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        opt.step()
        total += loss.item() * y.size(0)
        correct += (logits.argmax(1) == y).sum().item()
        seen += y.size(0)
    print(f"epoch {epoch}: loss {total / seen:.4f} accuracy {correct / seen:.3f}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--finetune-epochs", type=int, default=3)
    p.add_argument("--volumes", type=int, default=256)
    args = p.parse_args()

    torch.manual_seed(0)
    check_binarizer()
    x, y, where = make_data(args.volumes)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(1, args.epochs + 1):
        train(model, loader, opt, epoch)

    model.act1, model.act2 = BinaryAct(), BinaryAct(scale=0.5)
    opt = torch.optim.Adam(
        [
            {"params": [p for n, p in model.named_parameters() if not n.endswith("scale")]},
            {"params": [model.act1.scale, model.act2.scale], "lr": 1e-3},
        ],
        lr=1e-3,
    )
    for epoch in range(args.epochs + 1, args.epochs + args.finetune_epochs + 1):
        train(model, loader, opt, epoch)
    print(f"scales {model.act1.scale.item():.3f} {model.act2.scale.item():.3f}")

    model.eval()
    probe, label = x[:8], y[:8]
    feature_grads = []
    feats = model.features(probe)
    handle = feats.register_hook(lambda g: feature_grads.append(g))
    logits = model.fc(F.adaptive_avg_pool3d(feats, 1).flatten(1))
    logits.gather(1, label.unsqueeze(1)).sum().backward()
    handle.remove()
    (g,) = feature_grads
    cam = F.relu((g.mean(dim=(2, 3, 4), keepdim=True) * feats).sum(1))
    assert cam.shape == (8, 6, 6, 6)
    print(f"grad-cam maps {tuple(cam.shape)}, max {cam.max().item():.3f}")

    probe = probe.clone().requires_grad_(True)
    score = model(probe).gather(1, label.unsqueeze(1)).sum()
    (saliency,) = torch.autograd.grad(score, probe)
    assert probe.grad is None and saliency.shape == probe.shape
    saliency = saliency.abs().squeeze(1)
    inside, mass = 0.0, 0.0
    for i in range(8):
        if label[i].item() == 1:
            z, r, c = where[i].tolist()
            inside += saliency[i, z : z + 4, r : r + 4, c : c + 4].sum().item()
            mass += saliency[i].sum().item()
    if mass > 0:
        print(f"saliency inside the cube: {inside / mass:.2f} of the mass (the cube is 0.04)")


if __name__ == "__main__":
    main()
