"""``UNet3d``: the 3D U-Net (Cicek et al. 2016) for volumetric segmentation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import lucid
import lucid.nn as nn
from lucid.models._resnet_common import init_resnet_weights

if TYPE_CHECKING:
    from lucid.tensor import Tensor

__all__ = ["UNet3d"]

_NORMS = {
    "batch": lambda c: nn.BatchNorm3d(c),
    "instance": lambda c: nn.InstanceNorm3d(c, affine=True),
}
_UPSAMPLES = ("transpose", "trilinear")


class DoubleConv3d(nn.Sequential):
    """Two (3x3x3 conv, norm, ReLU) layers; the convs have no bias (the norm has one)."""

    def __init__(self, c_in: int, c_out: int, norm: str):
        super().__init__(
            nn.Conv3d(c_in, c_out, 3, padding=1, bias=False),
            _NORMS[norm](c_out),
            nn.ReLU(),
            nn.Conv3d(c_out, c_out, 3, padding=1, bias=False),
            _NORMS[norm](c_out),
            nn.ReLU(),
        )


def _up(c_in, c_out, upsample):
    if upsample == "transpose":
        return nn.ConvTranspose3d(c_in, c_out, 2, stride=2)
    # Trilinear doubling, then a 1x1x1 conv to the skip's width (no learned upsampling kernel).
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False),
        nn.Conv3d(c_in, c_out, 1),
    )


class UNet3d(nn.Module):
    """An encoder-decoder with skip connections by concatenation.

    The encoder has one ``DoubleConv3d`` per entry of ``features`` (the last one is the
    bottleneck), 2x2x2 max pooling between them; the decoder upsamples by 2 (``upsample=
    "transpose"``: ConvTranspose3d(2, stride 2); ``"trilinear"``: interpolation + 1x1x1 conv),
    concatenates the encoder's feature map of that scale and applies a ``DoubleConv3d``; a 1x1x1
    conv ``head`` gives ``out_channels`` logits per voxel. ``norm`` is ``"batch"`` or
    ``"instance"`` (affine InstanceNorm, better for batch size 1).

    Input: float (N, in_channels, D, H, W) with D, H, W divisible by ``2 ** (len(features) -
    1)``; output: (N, out_channels, D, H, W) logits. With the default features (16, 32, 64, 128)
    and 1 -> 2 channels it has 1,401,282 parameters (1,326,018 with trilinear upsampling).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 2,
        features: Sequence[int] = (16, 32, 64, 128),
        norm: str = "batch",
        upsample: str = "transpose",
    ):
        super().__init__()
        if norm not in _NORMS:
            raise ValueError(f"UNet3d: norm must be one of {tuple(_NORMS)}, got {norm!r}")
        if upsample not in _UPSAMPLES:
            raise ValueError(f"UNet3d: upsample must be one of {_UPSAMPLES}, got {upsample!r}")
        features = tuple(int(f) for f in features)
        if len(features) < 2 or min(features) < 1:
            raise ValueError(f"UNet3d: features needs >= 2 positive widths, got {features}")
        self.in_channels, self.out_channels, self.features = in_channels, out_channels, features
        self.encoders = nn.ModuleList()
        c = in_channels
        for f in features:
            self.encoders.append(DoubleConv3d(c, f, norm))
            c = f
        self.pool = nn.MaxPool3d(2)
        self.ups, self.decoders = nn.ModuleList(), nn.ModuleList()
        for f in reversed(features[:-1]):
            self.ups.append(_up(c, f, upsample))
            self.decoders.append(DoubleConv3d(2 * f, f, norm))
            c = f
        self.head = nn.Conv3d(features[0], out_channels, 1)
        init_resnet_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        """(N, in_channels, D, H, W) volumes -> (N, out_channels, D, H, W) logits."""
        factor = 2 ** (len(self.features) - 1)
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"UNet3d: expected input of shape (N, {self.in_channels}, D, H, W), "
                f"got {tuple(x.shape)}"
            )
        if any(s % factor for s in x.shape[2:]):
            raise ValueError(
                f"UNet3d: spatial size {tuple(x.shape[2:])} must be divisible by "
                f"{factor} (2 ** (len(features) - 1)); pad or crop the input "
                "(e.g. lucid.transforms.PadToSize)"
            )
        skips = []
        for i, enc in enumerate(self.encoders):
            x = enc(x if i == 0 else self.pool(x))
            skips.append(x)
        for up, dec, skip in zip(self.ups, self.decoders, reversed(skips[:-1])):
            x = dec(lucid.cat([up(x), skip], 1))
        return self.head(x)
