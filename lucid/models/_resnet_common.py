"""Weight initialisation shared by the ResNet families (torchvision's scheme)."""

from __future__ import annotations

import lucid.nn as nn
from lucid.nn import init


def init_resnet_weights(model, zero_init_residual=False, last_bn=None):
    """He-normal (fan_out) convolutions, unit-scale BatchNorm, N(0, 0.01) linear layers, zero
    biases. With ``zero_init_residual`` the BatchNorm ``last_bn(block)`` of every residual
    block (a module with a ``downsample`` attribute) starts at scale 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)):
            init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm3d, nn.InstanceNorm3d)) and m.weight is not None:
            init.ones_(m.weight)
            init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            init.normal_(m.weight, 0.0, 0.01)
            init.zeros_(m.bias)
    if zero_init_residual and last_bn is not None:
        for m in model.modules():
            if hasattr(m, "downsample") and m is not model:
                init.zeros_(last_bn(m).weight)
