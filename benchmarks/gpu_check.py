"""A check to run on a machine with a GPU MLX can use (Metal on Apple Silicon, or MLX's CUDA
backend on NVIDIA): the GPU-relevant parts of the suite, with device="gpu", against the same
computation on the CPU, then the step benchmark on the GPU.

    python benchmarks/gpu_check.py [--skip-benchmark]

Checks (each prints PASS/FAIL with its largest difference):
  - Conv3d + BatchNorm3d + Linear forward and every gradient, gpu vs cpu (float32);
  - the training step makes one library evaluation on the GPU;
  - lucid.compile's step equals the eager step on the GPU over 4 steps;
  - an autocast(float16) + GradScaler step on the GPU stays finite and matches float32 loosely;
  - lucid.memory reports GPU allocations; activation checkpointing gives the same gradients.
Then ``benchmarks/step_vs_mlx.py --device gpu`` and ``benchmarks/real_scripts.py --device gpu``
(the models and the step_vs_mlx net, small sizes). Where MLX has no GPU it prints why and exits
with status 0 (nothing to check), so it can sit in any CI script.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

import lucid
import lucid.nn as nn
import lucid.nn.functional as F
from lucid import _backend as B
from lucid._backend import runtime
from lucid.utils import checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAILED = []


def report(name, ok, detail=""):
    """Print one check's outcome and remember failures."""
    print(f"{'PASS' if ok else 'FAIL'}  {name}  {detail}", flush=True)
    if not ok:
        FAILED.append(name)


def net(device):
    """The checked network, seeded, on ``device``."""
    lucid.random.seed(0)
    return nn.Sequential(
        nn.Conv3d(1, 4, 3, padding=1, bias=False),
        nn.BatchNorm3d(4),
        nn.ReLU(),
        nn.MaxPool3d(2),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    ).to(device)


def data(device):
    """A fixed batch on ``device``."""
    rng = np.random.default_rng(0)
    x = lucid.tensor(rng.standard_normal((4, 1, 8, 8, 8)).astype(np.float32), device=device)
    return x, lucid.tensor([0, 1, 2, 0], device=device)


def grads(device):
    """Loss and every gradient of one forward/backward on ``device``."""
    model = net(device)
    x, y = data(device)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss.item(), [p.grad.numpy() for p in model.parameters()]


def check_values():
    """GPU forward and gradients against the CPU's."""
    (l_cpu, g_cpu), (l_gpu, g_gpu) = grads("cpu"), grads("gpu")
    diff = max([abs(l_cpu - l_gpu)] + [float(np.abs(a - b).max()) for a, b in zip(g_cpu, g_gpu)])
    report("forward + gradients, gpu vs cpu", diff < 1e-3, f"max diff {diff:.2e}")


def training(device, compiled, steps=4):
    """Losses of a few Adam steps (eager or compiled), and evaluations in the last."""
    model = net(device)
    opt = lucid.optim.Adam(model.parameters(), lr=1e-2)
    x, y = data(device)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    fn = lucid.compile(step, state=[model, opt]) if compiled else step
    losses, kinds = [], []
    for i in range(steps):
        handle = runtime.add_eval_listener(kinds.append) if i == steps - 1 else None
        loss = fn(x, y)
        if handle is not None:
            handle.remove()
        losses.append(loss.item())
    return losses, kinds


def check_steps():
    """One evaluation per step; compiled == eager."""
    eager, kinds = training("gpu", False)
    report(
        "one library evaluation per eager step",
        kinds.count("eval") == 1 and kinds.count("kernel") == 0,
        f"{kinds}",
    )
    compiled, kinds = training("gpu", True)
    diff = float(np.abs(np.array(eager) - np.array(compiled)).max())
    report("lucid.compile step == eager step", diff < 1e-4, f"max loss diff {diff:.2e}")
    report("one library evaluation per compiled step", kinds == ["eval"], f"{kinds}")


def check_amp():
    """float16 autocast + GradScaler on the GPU."""
    model = net("gpu")
    opt = lucid.optim.AdamW(model.parameters(), lr=1e-2)
    scaler = lucid.amp.GradScaler("gpu")
    x, y = data("gpu")
    losses = []
    for _ in range(6):
        opt.zero_grad()
        with lucid.amp.autocast("gpu", dtype=lucid.float16):
            loss = F.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        losses.append(loss.item())
    reference, _ = training("gpu", False, steps=1)
    ok = bool(np.isfinite(losses).all()) and abs(losses[0] - reference[0]) < 2e-2
    report("autocast(float16) + GradScaler", ok, f"losses {np.round(losses, 4).tolist()}")


def check_memory_and_checkpoint():
    """lucid.memory sees GPU arrays; checkpointing keeps gradients."""
    before = lucid.memory.active()
    big = lucid.zeros(1024, 1024, device="gpu")
    big.numpy()
    report("lucid.memory.active grows by 4 MiB", lucid.memory.active() - before >= 4 << 20)
    model = net("gpu")
    x, y = data("gpu")
    F.cross_entropy(model[6](checkpoint(model[:6], x)), y).backward()
    ck = [p.grad.numpy() for p in model.parameters()]
    _, plain = grads("gpu")
    diff = max(float(np.abs(a - b).max()) for a, b in zip(ck, plain))
    report("checkpoint gradients == plain", diff < 1e-4, f"max diff {diff:.2e}")


def main():
    """Run the checks, then the benchmark; exit 1 when a check failed."""
    kind = B.gpu_kind()
    if kind is None:
        print(
            "gpu_check: skipped -- MLX has no GPU on this machine (Metal needs Apple Silicon; "
            "CUDA needs the mlx[cuda] wheel and an NVIDIA GPU). Nothing to check."
        )
        return 0
    print(f"gpu_check on {kind} (MLX {lucid.device_info()})")
    check_values()
    check_steps()
    check_amp()
    check_memory_and_checkpoint()
    if "--skip-benchmark" not in sys.argv:
        env = dict(os.environ, LUCID_CPU_KERNELS="mlx", PYTHONPATH=ROOT)
        subprocess.run(
            [sys.executable, os.path.join(ROOT, "benchmarks", "step_vs_mlx.py"), "--device", "gpu"],
            env=env,
            check=False,
        )
        # the real programs too: every lucid.models model and the step_vs_mlx net on the GPU
        # (the PyTorch column stays a CPU baseline; scripts run on their default device)
        subprocess.run(
            [
                sys.executable,
                os.path.join(ROOT, "benchmarks", "real_scripts.py"),
                "--device",
                "gpu",
                "--skip-scripts",
                "--sizes",
                "small",
                "--rounds",
                "2",
            ],
            env=env,
            check=False,
        )
    print("gpu_check:", "all checks passed" if not FAILED else f"FAILED: {FAILED}")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
