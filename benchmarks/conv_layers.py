"""The convolution layers of real networks, one by one: Lucid's NumPy kernels (forward, weight
gradient, input gradient) against PyTorch CPU's forward + backward of the same layer, measured
in this run, and with ``--forms`` the two forms of the input gradient side by side (the evidence
for the rule in ``lucid/_backend/numpy_conv.py``'s ``_input_grad``).

The layers are those of ``lucid.models``' r3d_18 at 1x3x4x32x32 (a video net on a small clip:
deep layers whose weights are large against their data), UNet3d at 2x1x32^3 (few channels on a
large volume) and the ``benchmarks/step_vs_mlx.py`` network at 16x1x16^3.

    python benchmarks/conv_layers.py [--repeat 5] [--forms] [--torch-threads N]
"""

import argparse
import os
import platform
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from step_vs_mlx import median_ms  # noqa: E402  (round-robin medians, shared)

from lucid._backend import numpy_conv as nc  # noqa: E402

# (network, input shape, weight shape, stride, padding)
LAYERS = [
    ("r3d_18", (1, 3, 4, 32, 32), (64, 3, 3, 7, 7), (1, 2, 2), (1, 3, 3)),
    ("r3d_18", (1, 64, 4, 16, 16), (64, 64, 3, 3, 3), (1, 1, 1), (1, 1, 1)),
    ("r3d_18", (1, 64, 4, 16, 16), (128, 64, 3, 3, 3), (2, 2, 2), (1, 1, 1)),
    ("r3d_18", (1, 128, 2, 8, 8), (128, 128, 3, 3, 3), (1, 1, 1), (1, 1, 1)),
    ("r3d_18", (1, 128, 2, 8, 8), (256, 128, 3, 3, 3), (2, 2, 2), (1, 1, 1)),
    ("r3d_18", (1, 256, 1, 4, 4), (256, 256, 3, 3, 3), (1, 1, 1), (1, 1, 1)),
    ("r3d_18", (1, 256, 1, 4, 4), (512, 256, 3, 3, 3), (2, 2, 2), (1, 1, 1)),
    ("r3d_18", (1, 512, 1, 2, 2), (512, 512, 3, 3, 3), (1, 1, 1), (1, 1, 1)),
    ("UNet3d", (2, 1, 32, 32, 32), (16, 1, 3, 3, 3), (1, 1, 1), (1, 1, 1)),
    ("UNet3d", (2, 16, 32, 32, 32), (16, 16, 3, 3, 3), (1, 1, 1), (1, 1, 1)),
    ("UNet3d", (2, 32, 32, 32, 32), (16, 32, 3, 3, 3), (1, 1, 1), (1, 1, 1)),
    ("UNet3d", (2, 16, 16, 16, 16), (32, 16, 3, 3, 3), (1, 1, 1), (1, 1, 1)),
    ("UNet3d", (2, 32, 16, 16, 16), (32, 32, 3, 3, 3), (1, 1, 1), (1, 1, 1)),
    ("step_vs_mlx", (16, 1, 16, 16, 16), (8, 1, 3, 3, 3), (1, 1, 1), (1, 1, 1)),
    ("step_vs_mlx", (16, 8, 16, 16, 16), (16, 8, 3, 3, 3), (1, 1, 1), (1, 1, 1)),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--forms", action="store_true", help="time both input-gradient forms")
    ap.add_argument("--torch-threads", type=int, default=None)
    args = ap.parse_args()
    try:
        import torch

        if args.torch_threads:
            torch.set_num_threads(args.torch_threads)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    print(
        f"# {platform.platform()}, {os.cpu_count()} cores; ms per call, round-robin median of "
        f"{args.repeat}; "
        f"PyTorch {torch.__version__ + f' ({torch.get_num_threads()} threads)' if torch else '-'}"
    )
    head = f"{'net':12} {'input':20} {'weight':20} {'s':>3} {'fwd':>7} {'dW':>7} {'dx':>7}"
    head += f" {'Lucid':>7} {'PyTorch':>8} {'ratio':>6}"
    if args.forms:
        head += f" {'col2im dx':>9} {'gather dx':>9}"
    print(head)
    total_l = total_t = 0.0
    for layer in LAYERS:
        row, lucid_ms, torch_ms = time_layer(layer, rng, args.repeat, args.forms, torch)
        print(row, flush=True)
        if torch_ms:
            total_l, total_t = total_l + lucid_ms, total_t + torch_ms
    if total_t:
        print(f"all: Lucid {total_l:.1f} ms, PyTorch {total_t:.1f} ms, {total_l / total_t:.2f}x")


def time_layer(layer, rng, repeat, forms, torch):
    """(table row, Lucid ms, PyTorch ms or None) of one layer, every variant timed round-robin
    (``step_vs_mlx.median_ms``) so the machine's drift hits them alike."""
    net, xs, ws, stride, pad = layer
    x = rng.standard_normal(xs, dtype=np.float32)
    w = rng.standard_normal(ws, dtype=np.float32) * 0.05
    pads = [(p, p) for p in pad]
    geo = (stride, pads, (1, 1, 1), 1)
    y = nc.conv_forward(x, w, *geo)
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    steps = {
        "fwd": lambda: nc.conv_forward(x, w, *geo),
        "dW": lambda: nc.conv_weight_grad(x, dy, ws[2:], *geo),
        "dx": lambda: nc.conv_input_grad(dy, w, xs[2:], *geo),
    }
    if torch is not None:
        tx = torch.tensor(x, requires_grad=True)
        tw = torch.tensor(w, requires_grad=True)
        tdy = torch.tensor(dy)
        steps["torch"] = lambda: torch.nn.functional.conv3d(tx, tw, None, stride, pad).backward(tdy)
    if forms:
        plan = nc._plan(xs[2:], ws[2:], stride, pads, (1, 1, 1))
        steps["col2im"] = lambda: nc._input_grad_scatter(dy, w, plan)
        steps["gather"] = lambda: nc._input_grad_gather(dy, w, plan, 1)
    ms = median_ms(steps, repeat, warmup=1)
    f, gw, gx = ms["fwd"], ms["dW"], ms["dx"]
    lucid_ms, torch_ms = f + gw + gx, ms.get("torch")
    row = f"{net:12} {str(xs):20} {str(ws):20} {stride[-1]:>3} {f:7.2f} {gw:7.2f} {gx:7.2f}"
    row += f" {lucid_ms:7.2f}"
    if torch_ms is not None:
        row += f" {torch_ms:8.2f} {lucid_ms / torch_ms:5.2f}x"
    else:
        row += f" {'-':>8} {'-':>6}"
    if forms:
        row += f" {ms['col2im']:9.2f} {ms['gather']:9.2f}"
    return row, lucid_ms, torch_ms


if __name__ == "__main__":
    main()
