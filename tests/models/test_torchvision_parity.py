"""Parity with torchvision's video ResNets (skipped unless torch and torchvision are installed;
they are not part of any extra: run it in an environment that has them, e.g.

    pip install torch torchvision mlx numpy pytest safetensors
    PYTHONPATH=$PWD python -m pytest tests/models/test_torchvision_parity.py

torchvision's randomly initialised weights go through safetensors and lucid.models.convert
into Lucid's model; logits and gradients are compared in eval and train mode. The reference is
torchvision's model in float64 with the same weights: in train mode PyTorch's own float32 input
gradient is ~1e-2 (relative) away from float64 (cancellation in BatchNorm's backward), while
Lucid's float32 one stays within ~1e-5, so float32 PyTorch would be the weaker oracle."""

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


@pytest.mark.parametrize("name", ["r3d_18", "mc3_18", "r2plus1d_18"])
def test_logits_and_gradients_match_torchvision(name, tmp_path):
    torch.manual_seed(0)
    ref = getattr(tv_video, name)(num_classes=7)
    src, dst = tmp_path / "tv.safetensors", tmp_path / "lucid.safetensors"
    safetensors_torch.save_file(ref.state_dict(), str(src))
    model = getattr(models, name)(num_classes=7)
    convert_file(src, dst, model)
    model.load_state_dict(lucid.load(dst))
    ref = ref.double()
    # 4 clips of 8 x 32 x 32: the last stage still normalises >= 16 values per channel
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 32, 32)).astype(np.float32)
    for mode in ("eval", "train"):
        ref.train(mode == "train")
        model.train(mode == "train")
        xt = torch.tensor(x.astype(np.float64), requires_grad=True)
        yt = ref(xt)
        (yt ** 2).sum().backward()
        xl = lucid.tensor(x, requires_grad=True)
        yl = model(xl)
        (yl ** 2).sum().backward()
        logits_err = rel_err(yl.numpy(), yt.detach().numpy())
        grad_err = rel_err(xl.grad.numpy(), xt.grad.numpy())
        w_err = rel_err(model.stem[0].weight.grad.numpy(), ref.stem[0].weight.grad.numpy())
        print(f"{name} {mode}: logits {logits_err:.2e}, input grad {grad_err:.2e}, "
              f"stem weight grad {w_err:.2e} (relative to the max magnitude)", flush=True)
        assert logits_err < 1e-5 and grad_err < 1e-4 and w_err < 1e-4
        ref.zero_grad()
        model.zero_grad()
    running = model.layer4[1].conv2[1].running_mean.numpy()
    np.testing.assert_allclose(running, ref.layer4[1].conv2[1].running_mean.detach().numpy(),
                               rtol=1e-4, atol=1e-5)
