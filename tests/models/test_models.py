"""lucid.models: output shapes, one training step (finite loss, parameters move), the state_dict
round trip through lucid.save/load, documented parameter counts and input checks. Inputs are
tiny (the CPU is small): clips of 4 x 16 x 16, volumes of 16^3."""

import numpy as np
import pytest

import lucid
import lucid.nn.functional as F
from lucid import models

RNG = np.random.default_rng(0)

VIDEO = ["r3d_18", "mc3_18", "r2plus1d_18"]
CASES = {  # name: (builder, input shape, expected output shape)
    **{
        n: (lambda n=n: getattr(models, n)(num_classes=5), (2, 3, 4, 16, 16), (2, 5)) for n in VIDEO
    },
    **{
        f"resnet3d_{d}": (
            lambda d=d: getattr(models, f"resnet3d_{d}")(
                in_channels=2, num_classes=3, widths=(4, 8, 8, 16)
            ),
            (2, 2, 16, 16, 16),
            (2, 3),
        )
        for d in (10, 18, 34, 50)
    },
    "unet3d_batch": (
        lambda: models.UNet3d(1, 3, features=(4, 8, 16)),
        (2, 1, 8, 8, 8),
        (2, 3, 8, 8, 8),
    ),
    "unet3d_instance_trilinear": (
        lambda: models.UNet3d(2, 2, features=(4, 8), norm="instance", upsample="trilinear"),
        (1, 2, 4, 8, 8),
        (1, 2, 4, 8, 8),
    ),
}


def inputs(shape):
    return lucid.tensor(RNG.standard_normal(shape).astype(np.float32))


def target_for(out_shape):
    n_cls = out_shape[1]
    return lucid.tensor(RNG.integers(0, n_cls, (out_shape[0],) + out_shape[2:]))


@pytest.mark.parametrize("name", list(CASES))
def test_shape_training_step_and_state_dict_round_trip(name, tmp_path):
    build, in_shape, out_shape = CASES[name]
    lucid.random.seed(0)
    model = build()
    x = inputs(in_shape)
    # Adam's bounded steps: BatchNorm over the 2 values per channel left in the video nets'
    # last stage gives huge gradients, which an SGD step would turn into overflowing weights
    opt = lucid.optim.Adam(model.parameters(), lr=1e-3)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    out = model(x)
    assert out.shape == out_shape
    loss = F.cross_entropy(out, target_for(out_shape))
    loss.backward()
    assert np.isfinite(loss.item())
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)
    opt.step()
    after = model.state_dict()
    moved = [k for k in before if not np.array_equal(before[k], after[k].numpy())]
    assert len(moved) > len(before) // 2  # parameters and running statistics changed

    model.eval()
    lucid.save(model.state_dict(), tmp_path / "m.safetensors")
    lucid.random.seed(1)
    fresh = build()
    fresh.load_state_dict(lucid.load(tmp_path / "m.safetensors"))
    fresh.eval()
    with lucid.no_grad():
        expected = model(x).numpy()
        assert np.isfinite(expected).all()
        np.testing.assert_array_equal(fresh(x).numpy(), expected)


@pytest.mark.parametrize(
    "name, count", [("r3d_18", 33_371_472), ("mc3_18", 11_695_440), ("r2plus1d_18", 31_505_325)]
)
def test_video_parameter_counts_match_the_docstrings_and_torchvision(name, count):
    build = getattr(models, name)
    assert f"{count:,}" in build.__doc__
    assert build().num_parameters() == count


def test_resnet3d_and_unet_parameter_counts_match_the_docstrings():
    for depth in (10, 18, 34, 50):
        build = getattr(models, f"resnet3d_{depth}")
        assert f"{build().num_parameters():,}" in build.__doc__
    assert f"{models.UNet3d().num_parameters():,}" in models.UNet3d.__doc__
    assert f"{models.UNet3d(upsample='trilinear').num_parameters():,}" in models.UNet3d.__doc__


def test_torchvision_key_layout():
    keys = list(models.r2plus1d_18().state_dict())
    assert keys[:3] == ["stem.0.weight", "stem.1.weight", "stem.1.bias"]
    assert "layer1.0.conv1.0.0.weight" in keys and "layer2.0.downsample.0.weight" in keys
    assert "layer1.0.conv1.0.3.weight" in keys and keys[-2:] == ["fc.weight", "fc.bias"]
    mc3 = models.mc3_18().state_dict()
    assert mc3["layer2.0.conv1.0.weight"].shape == (128, 64, 1, 3, 3)
    assert mc3["layer1.0.conv1.0.weight"].shape == (64, 64, 3, 3, 3)


def test_zero_init_residual_zeroes_the_last_norm_of_each_block():
    m = models.r3d_18(num_classes=2, zero_init_residual=True)
    assert float(abs(m.layer1[0].conv2[1].weight).sum().item()) == 0.0
    r = models.resnet3d_50(widths=(4, 4, 4, 4), zero_init_residual=True)
    assert float(abs(r.layer2[1].bn3.weight).sum().item()) == 0.0


def test_models_check_their_inputs():
    with pytest.raises(ValueError, match=r"\(N, 3, T, H, W\)"):
        models.r3d_18()(inputs((1, 1, 4, 16, 16)))
    with pytest.raises(ValueError, match="divisible by 4"):
        models.UNet3d(features=(2, 4, 8))(inputs((1, 1, 8, 8, 6)))
    with pytest.raises(ValueError, match=r"\(N, 2, D, H, W\)"):
        models.resnet3d_10(in_channels=2, widths=(2, 2, 2, 2))(inputs((1, 1, 8, 8, 8)))
    with pytest.raises(ValueError, match="norm"):
        models.UNet3d(norm="group")
    with pytest.raises(ValueError, match="upsample"):
        models.UNet3d(upsample="nearest")
