"""3D ResNets for volumes (medical-imaging style, as in Med3D / MONAI's ResNet):
``resnet3d_10/18/34/50``.

The 2D ResNet carried over to 3D: a 7x7x7 stride-2 stem (its temporal/depth size and stride
configurable, as for anisotropic scans), an optional 3x3x3 max pool, four stages of BasicBlocks
(10/18/34) or Bottlenecks (50) with 1x1x1-conv shortcuts where the shape changes, global
average pooling and a linear head. ``in_channels`` is free (1 for CT/MRI, several modalities).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import lucid.nn as nn
from lucid.models._resnet_common import init_resnet_weights

if TYPE_CHECKING:
    from lucid.tensor import Tensor

__all__ = [
    "ResNet3d",
    "BasicBlock3d",
    "Bottleneck3d",
    "resnet3d_10",
    "resnet3d_18",
    "resnet3d_34",
    "resnet3d_50",
]


def _conv_bn(c_in, c_out, kernel, stride=1):
    return [
        nn.Conv3d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm3d(c_out),
    ]


class BasicBlock3d(nn.Module):
    """3x3x3 conv-BN-ReLU, 3x3x3 conv-BN, plus the shortcut, then ReLU."""

    expansion = 1

    def __init__(
        self, c_in: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ):
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(c_in, planes, 3, stride)
        self.conv2, self.bn2 = _conv_bn(planes, planes, 3)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        """The block's output for input ``x``."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class Bottleneck3d(nn.Module):
    """1x1x1 reduce, 3x3x3 (carrying the stride), 1x1x1 expand by 4, plus the shortcut."""

    expansion = 4

    def __init__(
        self, c_in: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ):
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(c_in, planes, 1)
        self.conv2, self.bn2 = _conv_bn(planes, planes, 3, stride)
        self.conv3, self.bn3 = _conv_bn(planes, planes * 4, 1)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        """The block's output for input ``x``."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNet3d(nn.Module):
    """A volumetric ResNet: ``conv1``/``bn1``/``relu``/``maxpool`` stem, ``layer1..4``,
    ``avgpool``, ``fc``.

    Input: float (N, in_channels, D, H, W) volumes (any size >= 1; the stem and stages
    downsample by 32 in H and W, by ``conv1_t_stride * 16`` in D); output (N, num_classes)
    logits. ``widths`` are the four stage widths (64, 128, 256, 512 as in the paper; smaller
    for small data). ``no_max_pool`` drops the stem's max pool (for small volumes).
    """

    def __init__(
        self,
        block: type[BasicBlock3d | Bottleneck3d],
        layers: Sequence[int],
        in_channels: int = 1,
        num_classes: int = 2,
        widths: Sequence[int] = (64, 128, 256, 512),
        conv1_t_size: int = 7,
        conv1_t_stride: int = 2,
        no_max_pool: bool = False,
        zero_init_residual: bool = False,
    ):
        super().__init__()
        if len(layers) != 4 or len(widths) != 4:
            raise ValueError(
                f"ResNet3d: expected 4 stage depths and 4 widths, got {len(layers)} "
                f"and {len(widths)}"
            )
        self.inplanes = widths[0]
        self.conv1 = nn.Conv3d(
            in_channels,
            widths[0],
            (conv1_t_size, 7, 7),
            stride=(conv1_t_stride, 2, 2),
            padding=(conv1_t_size // 2, 3, 3),
            bias=False,
        )
        self.bn1 = nn.BatchNorm3d(widths[0])
        self.relu = nn.ReLU()
        self.maxpool = nn.Identity() if no_max_pool else nn.MaxPool3d(3, stride=2, padding=1)
        for i, (depth, planes) in enumerate(zip(layers, widths)):
            setattr(
                self, f"layer{i + 1}", self._make_layer(block, planes, depth, 1 if i == 0 else 2)
            )
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)
        last = (lambda b: b.bn3) if block is Bottleneck3d else (lambda b: b.bn2)
        init_resnet_weights(self, zero_init_residual, last_bn=last)

    def _make_layer(self, block, planes, depth, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                *_conv_bn(self.inplanes, planes * block.expansion, 1, stride)
            )
        blocks = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        blocks += [block(self.inplanes, planes) for _ in range(depth - 1)]
        return nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        """(N, in_channels, D, H, W) volumes -> (N, num_classes) logits."""
        if x.ndim != 5 or x.shape[1] != self.conv1.in_channels:
            raise ValueError(
                f"ResNet3d: expected volumes of shape (N, {self.conv1.in_channels}, "
                f"D, H, W), got {tuple(x.shape)}"
            )
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def resnet3d_10(**kwargs: Any) -> ResNet3d:
    """ResNet3d-10: BasicBlocks [1, 1, 1, 1]; 14,356,546 parameters (1 channel in, 2 classes).
    Keyword arguments as for ``ResNet3d`` (in_channels, num_classes, widths, ...)."""
    return ResNet3d(BasicBlock3d, [1, 1, 1, 1], **kwargs)


def resnet3d_18(**kwargs: Any) -> ResNet3d:
    """ResNet3d-18: BasicBlocks [2, 2, 2, 2]; 33,161,026 parameters (1 channel in, 2 classes).
    Keyword arguments as for ``ResNet3d``."""
    return ResNet3d(BasicBlock3d, [2, 2, 2, 2], **kwargs)


def resnet3d_34(**kwargs: Any) -> ResNet3d:
    """ResNet3d-34: BasicBlocks [3, 4, 6, 3]; 63,470,658 parameters (1 channel in, 2 classes).
    Keyword arguments as for ``ResNet3d``."""
    return ResNet3d(BasicBlock3d, [3, 4, 6, 3], **kwargs)


def resnet3d_50(**kwargs: Any) -> ResNet3d:
    """ResNet3d-50: Bottlenecks [3, 4, 6, 3] (4x expansion); 46,159,170 parameters (1 channel
    in, 2 classes). Keyword arguments as for ``ResNet3d``."""
    return ResNet3d(Bottleneck3d, [3, 4, 6, 3], **kwargs)
