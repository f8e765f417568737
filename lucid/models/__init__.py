"""Ready-made 3D architectures: video ResNets with torchvision's names (``r3d_18``,
``mc3_18``, ``r2plus1d_18``), a 3D U-Net (``UNet3d``) and volumetric ResNets
(``resnet3d_10/18/34/50``); ``lucid.models.convert`` imports PyTorch weights from safetensors.
Nothing here downloads weights."""

from lucid.models.resnet3d import (  # noqa: F401
    BasicBlock3d,
    Bottleneck3d,
    ResNet3d,
    resnet3d_10,
    resnet3d_18,
    resnet3d_34,
    resnet3d_50,
)
from lucid.models.unet3d import UNet3d  # noqa: F401
from lucid.models.video_resnet import VideoResNet, mc3_18, r2plus1d_18, r3d_18  # noqa: F401

__all__ = [
    "VideoResNet",
    "r3d_18",
    "mc3_18",
    "r2plus1d_18",
    "UNet3d",
    "ResNet3d",
    "BasicBlock3d",
    "Bottleneck3d",
    "resnet3d_10",
    "resnet3d_18",
    "resnet3d_34",
    "resnet3d_50",
]
