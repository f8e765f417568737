"""Video ResNets for clips (N, 3, T, H, W): ``r3d_18``, ``mc3_18`` and ``r2plus1d_18``.

The architectures and parameter names are torchvision's (``torchvision.models.video``), so a
torchvision ``state_dict`` saved as safetensors and converted with ``lucid.models.convert``
loads with ``load_state_dict`` and gives torchvision's logits. Three block kinds differ only
in their 3x3x3 convolution:

- r3d: a full 3x3x3 convolution everywhere;
- mc3 ("mixed convolutions"): full 3D in ``layer1``, spatial-only (1x3x3) in ``layer2..4``;
- r(2+1)d: each 3x3x3 convolution factorised into a spatial 1x3x3 convolution, BatchNorm,
  ReLU and a temporal 3x1x1 convolution, with the middle width chosen so the parameter count
  matches the 3D convolution it replaces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import lucid.nn as nn
from lucid.models._resnet_common import init_resnet_weights

if TYPE_CHECKING:
    from lucid.tensor import Tensor

__all__ = ["VideoResNet", "r3d_18", "mc3_18", "r2plus1d_18"]


def _conv3d_simple(c_in, c_out, mid, stride=1):
    return nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


def _conv_no_temporal(c_in, c_out, mid, stride=1):
    return nn.Conv3d(
        c_in, c_out, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False
    )


def _conv_2plus1d(c_in, c_out, mid, stride=1):
    return nn.Sequential(
        nn.Conv3d(c_in, mid, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False),
        nn.BatchNorm3d(mid),
        nn.ReLU(),
        nn.Conv3d(mid, c_out, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False),
    )


# How each conv kind strides its 1x1x1 shortcut (mc3's spatial-only convs keep the time axis).
_DOWNSAMPLE_STRIDE = {
    _conv3d_simple: lambda s: (s, s, s),
    _conv_no_temporal: lambda s: (1, s, s),
    _conv_2plus1d: lambda s: (s, s, s),
}


class VideoBasicBlock(nn.Module):
    """Two convolutions of one kind (``conv1``: conv+BN+ReLU, ``conv2``: conv+BN) plus the
    shortcut; ``downsample`` (1x1x1 conv + BN) matches the shortcut's shape when needed."""

    expansion = 1

    def __init__(
        self,
        c_in: int,
        planes: int,
        conv: Callable[..., nn.Module],
        stride: int = 1,
        downsample: nn.Module | None = None,
    ):
        super().__init__()
        # r(2+1)d's middle width: the (2+1)D pair then has as many weights as a 3x3x3 conv.
        mid = (c_in * planes * 27) // (c_in * 9 + 3 * planes)
        self.conv1 = nn.Sequential(
            conv(c_in, planes, mid, stride), nn.BatchNorm3d(planes), nn.ReLU()
        )
        self.conv2 = nn.Sequential(conv(planes, planes, mid), nn.BatchNorm3d(planes))
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        """conv2(conv1(x)) + shortcut(x), then ReLU."""
        out = self.conv2(self.conv1(x))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


def _basic_stem():
    return nn.Sequential(
        nn.Conv3d(3, 64, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
        nn.BatchNorm3d(64),
        nn.ReLU(),
    )


def _r2plus1d_stem():
    return nn.Sequential(
        nn.Conv3d(3, 45, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        nn.BatchNorm3d(45),
        nn.ReLU(),
        nn.Conv3d(45, 64, (3, 1, 1), stride=(1, 1, 1), padding=(1, 0, 0), bias=False),
        nn.BatchNorm3d(64),
        nn.ReLU(),
    )


class VideoResNet(nn.Module):
    """A ResNet over clips: ``stem``, ``layer1..4`` (widths 64-512, strides 1, 2, 2, 2),
    global average pooling ``avgpool`` and the classifier ``fc``.

    ``convs`` gives the convolution kind of each of the four stages; ``layers`` the number of
    blocks per stage. Input: float (N, 3, T, H, W) clips, any T >= 1 and H, W >= 1 (torchvision's
    Kinetics weights expect 16 x 112 x 112 normalised frames); output: (N, num_classes) logits.
    ``zero_init_residual`` zeroes each block's last BatchNorm scale (blocks start as identity).
    """

    def __init__(
        self,
        convs: Sequence[Callable[..., nn.Module]],
        layers: Sequence[int],
        stem: Callable[[], nn.Module],
        num_classes: int = 400,
        zero_init_residual: bool = False,
    ):
        super().__init__()
        if len(convs) != 4 or len(layers) != 4:
            raise ValueError(
                f"VideoResNet: expected 4 conv kinds and 4 stage depths, got "
                f"{len(convs)} and {len(layers)}"
            )
        self.inplanes = 64
        self.stem = stem()
        for i, (conv, depth, planes) in enumerate(zip(convs, layers, (64, 128, 256, 512))):
            setattr(
                self, f"layer{i + 1}", self._make_layer(conv, planes, depth, 1 if i == 0 else 2)
            )
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Linear(512 * VideoBasicBlock.expansion, num_classes)
        init_resnet_weights(self, zero_init_residual, last_bn=lambda b: b.conv2[1])

    def _make_layer(self, conv, planes, depth, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv3d(
                    self.inplanes, planes, 1, stride=_DOWNSAMPLE_STRIDE[conv](stride), bias=False
                ),
                nn.BatchNorm3d(planes),
            )
        blocks = [VideoBasicBlock(self.inplanes, planes, conv, stride, downsample)]
        self.inplanes = planes
        blocks += [VideoBasicBlock(planes, planes, conv) for _ in range(depth - 1)]
        return nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        """(N, 3, T, H, W) clips -> (N, num_classes) logits."""
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(
                f"{type(self).__name__}: expected clips of shape (N, 3, T, H, W), "
                f"got {tuple(x.shape)}"
            )
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def r3d_18(num_classes: int = 400, zero_init_residual: bool = False) -> VideoResNet:
    """ResNet3D-18 (Tran et al. 2018): full 3x3x3 convolutions, 33,371,472 parameters with 400
    classes. Input (N, 3, T, H, W) clips; output (N, num_classes) logits."""
    return VideoResNet(
        [_conv3d_simple] * 4, [2, 2, 2, 2], _basic_stem, num_classes, zero_init_residual
    )


def mc3_18(num_classes: int = 400, zero_init_residual: bool = False) -> VideoResNet:
    """MC3-18: 3D convolutions in ``layer1``, spatial-only (1x3x3) ones after; 11,695,440
    parameters with 400 classes. Input (N, 3, T, H, W) clips; output (N, num_classes) logits."""
    return VideoResNet(
        [_conv3d_simple] + [_conv_no_temporal] * 3,
        [2, 2, 2, 2],
        _basic_stem,
        num_classes,
        zero_init_residual,
    )


def r2plus1d_18(num_classes: int = 400, zero_init_residual: bool = False) -> VideoResNet:
    """R(2+1)D-18: every 3x3x3 convolution factorised into 1x3x3 spatial + 3x1x1 temporal;
    31,505,325 parameters with 400 classes. Input (N, 3, T, H, W) clips; output
    (N, num_classes) logits."""
    return VideoResNet(
        [_conv_2plus1d] * 4, [2, 2, 2, 2], _r2plus1d_stem, num_classes, zero_init_residual
    )
