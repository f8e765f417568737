"""Parity with torchvision's video ResNets (skipped unless torch and torchvision are installed;
they are not part of any extra: run it in an environment that has them, e.g.

    pip install torch torchvision mlx numpy pytest safetensors
    PYTHONPATH=$PWD python -m pytest tests/models/test_torchvision_parity.py

torchvision's randomly initialised weights go through safetensors and lucid.models.convert
into Lucid's model; logits and gradients are compared in eval and train mode against
torchvision's model in float64 with the same weights, side by side with torchvision's own
float32 error. Lucid must be within 1e-5 (logits) / 1e-4 (gradients) of the float64 result,
or at most 4x as far from it as PyTorch's own float32 run.

With ~10^6 ReLUs, a few pre-activations lie within float32 rounding of 0 and a float32 run
(Lucid's or PyTorch's, by chance of the input) puts them on the other side than float64; the
gradient behind such a unit then differs by ~1e-2 however accurate the arithmetic. So each
float32 run's gradients are compared with the float64 gradient of the same piecewise-linear
branch: the float64 model's ReLUs use the float32 run's masks (``pinned_to``)."""

import copy

import numpy as np
import pytest

import lucid
from lucid import models
from lucid.models.convert import convert_file

torch = pytest.importorskip("torch")
tv_video = pytest.importorskip("torchvision.models.video")
safetensors_torch = pytest.importorskip("safetensors.torch")


def rel_err(a, b):
    """max |a - b| relative to max |b|."""
    return float(np.abs(a - b).max() / np.abs(b).max())


def run(model, x, lib):
    """Logits, input gradient and stem weight gradient of ``sum(model(x) ** 2)``."""
    xt = lib.tensor(x, requires_grad=True)
    y = model(xt)
    (y**2).sum().backward()
    grads = xt.grad.numpy(), model.stem[0].weight.grad.numpy()
    model.zero_grad()
    return (y.detach() if lib is torch else y).numpy(), *grads


def relu_masks(model, lib):
    """Hooks recording ``name: output > 0`` of each ReLU of ``model`` into the returned dict."""
    masks = {}
    for name, m in model.named_modules():
        if isinstance(m, (torch.nn.ReLU, lucid.nn.ReLU)):
            m.register_forward_hook(
                lambda mod, args, out, name=name: masks.__setitem__(name, out.detach().numpy() > 0)
            )
    return masks


def pinned_to(model64, masks):
    """Make ``model64``'s ReLUs compute ``input * masks[name]``: the float64 value and derivative
    of the branch a float32 run took (those pre-activations are within rounding of 0)."""
    for name, m in model64.named_modules():
        if isinstance(m, torch.nn.ReLU):
            m.inplace = False
            m.register_forward_hook(
                lambda mod, args, out, name=name: args[0] * torch.from_numpy(masks[name])
            )


@pytest.mark.parametrize("name", ["r3d_18", "mc3_18", "r2plus1d_18"])
def test_logits_and_gradients_match_torchvision(name, tmp_path):
    torch.manual_seed(0)
    ref32 = getattr(tv_video, name)(num_classes=7)
    src, dst = tmp_path / "tv.safetensors", tmp_path / "lucid.safetensors"
    safetensors_torch.save_file(ref32.state_dict(), str(src))
    model = getattr(models, name)(num_classes=7)
    convert_file(src, dst, model)
    model.load_state_dict(lucid.load(dst))
    ref64, ref64_theirs = copy.deepcopy(ref32).double(), copy.deepcopy(ref32).double()
    ours_masks, theirs_masks = relu_masks(model, lucid), relu_masks(ref32, torch)
    pinned_to(ref64, ours_masks)
    pinned_to(ref64_theirs, theirs_masks)
    # 4 clips of 8 x 32 x 32: the last stage still normalises >= 16 values per channel
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 32, 32)).astype(np.float32)
    for mode in ("eval", "train"):
        for m in (ref32, ref64, ref64_theirs, model):
            m.train(mode == "train")
        got = run(model, x, lucid)
        ours = [rel_err(a, b) for a, b in zip(got, run(ref64, x.astype(np.float64), torch))]
        got = run(ref32, x, torch)
        exact = run(ref64_theirs, x.astype(np.float64), torch)
        theirs = [rel_err(a, b) for a, b in zip(got, exact)]
        print(
            f"{name} {mode}: Lucid float32 vs torchvision float64: logits {ours[0]:.1e}, "
            f"input grad {ours[1]:.1e}, stem weight grad {ours[2]:.1e}; torchvision float32: "
            + ", ".join(f"{e:.1e}" for e in theirs),
            flush=True,
        )
        for what, mine, pytorch, tol in zip(
            ("logits", "input gradient", "stem weight gradient"), ours, theirs, (1e-5, 1e-4, 1e-4)
        ):
            assert mine < max(tol, 4 * pytorch), what
