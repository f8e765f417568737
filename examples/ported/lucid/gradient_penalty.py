"""A 3D Wasserstein GAN with gradient penalty (WGAN-GP) on small volumes of soft blobs.

The critic's loss includes ((|d critic(x_hat) / d x_hat| - 1) ** 2).mean() on random
interpolates x_hat between real and generated volumes: the gradient is taken with
create_graph=True and the penalty is then differentiated again, into the critic's parameters
(a second derivative through Conv3d, LeakyReLU and Linear). Before training, a Hessian-vector
product is checked against its closed form.
"""

import argparse

import lucid
import lucid.nn as nn


def check_double_backward():
    """d/dx of (v . grad f) for f = sum(x^3 * w) is 6 * x * w * v."""
    x = lucid.tensor([0.5, -1.0, 2.0], requires_grad=True)
    w = lucid.tensor([1.0, 2.0, -0.5])
    v = lucid.tensor([0.3, 0.2, 1.0])
    (g,) = lucid.autograd.grad((x**3 * w).sum(), x, create_graph=True)
    (hv,) = lucid.autograd.grad((g * v).sum(), x)
    assert lucid.allclose(hv, 6 * x.detach() * w * v)


def real_batch(n, size=12):
    """Volumes (n, 1, size, size, size) holding one soft ball each, in [-1, 1]."""
    grid = lucid.arange(size, dtype=lucid.float32)
    zz = grid.view(1, size, 1, 1)
    yy = grid.view(1, 1, size, 1)
    xx = grid.view(1, 1, 1, size)
    centre = lucid.rand(n, 3) * (size - 6) + 3
    radius = lucid.rand(n) * 1.5 + 2.0
    d2 = (
        (zz - centre[:, 0].view(n, 1, 1, 1)) ** 2
        + (yy - centre[:, 1].view(n, 1, 1, 1)) ** 2
        + (xx - centre[:, 2].view(n, 1, 1, 1)) ** 2
    )
    ball = lucid.sigmoid((radius.view(n, 1, 1, 1) ** 2 - d2) / 2.0)
    return (ball * 2 - 1).view(n, 1, size, size, size)


class Generator(nn.Module):
    def __init__(self, latent=16):
        super().__init__()
        self.fc = nn.Linear(latent, 8 * 3 * 3 * 3)
        self.up = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose3d(8, 8, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose3d(8, 1, 4, stride=2, padding=1),
            nn.Tanh(),
        )

    def forward(self, z):
        return self.up(self.fc(z).view(z.shape[0], 8, 3, 3, 3))


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv3d(1, 8, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv3d(8, 16, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(16 * 3 * 3 * 3, 1),
        )

    def forward(self, x):
        return self.net(x)


def gradient_penalty(critic, real, fake):
    alpha = lucid.rand(real.shape[0], 1, 1, 1, 1)
    x_hat = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    score = critic(x_hat)
    (grad,) = lucid.autograd.grad(
        outputs=score,
        inputs=x_hat,
        grad_outputs=lucid.ones_like(score),
        create_graph=True,
        retain_graph=True,
    )
    return ((grad.view(grad.shape[0], -1).norm(2, dim=1) - 1) ** 2).mean()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--critic-steps", type=int, default=3)
    parser.add_argument("--gp-weight", type=float, default=10.0)
    args = parser.parse_args()
    lucid.manual_seed(0)
    check_double_backward()

    gen, critic = Generator(), Critic()
    opt_g = lucid.optim.Adam(gen.parameters(), lr=2e-3, betas=(0.5, 0.9))
    opt_c = lucid.optim.Adam(critic.parameters(), lr=2e-3, betas=(0.5, 0.9))
    for epoch in range(1, args.epochs + 1):
        c_total = g_total = gp_total = 0.0
        for _ in range(args.steps):
            for _ in range(args.critic_steps):
                real = real_batch(args.batch)
                with lucid.no_grad():
                    fake = gen(lucid.randn(args.batch, 16))
                gp = gradient_penalty(critic, real, fake)
                c_loss = critic(fake).mean() - critic(real).mean() + args.gp_weight * gp
                opt_c.zero_grad()
                c_loss.backward()
                opt_c.step()
            g_loss = -critic(gen(lucid.randn(args.batch, 16))).mean()
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            c_total += c_loss.item()
            g_total += g_loss.item()
            gp_total += gp.item()
        n = args.steps
        print(
            f"epoch {epoch}: critic {c_total / n:.3f} generator {g_total / n:.3f} "
            f"penalty {gp_total / n:.3f}"
        )
    with lucid.no_grad():
        sample = gen(lucid.randn(4, 16))
    low, high = sample.min().item(), sample.max().item()
    print(f"samples {tuple(sample.shape)} in [{low:.2f}, {high:.2f}]")


if __name__ == "__main__":
    main()
