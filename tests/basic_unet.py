"""MONAI's 3-D ``BasicUNet`` written in the PyTorch API with Lucid's names, so that
``tests/torch_port.py`` runs this same source as its PyTorch twin (``tests/grad_accuracy.py``);
MONAI is not needed."""

import lucid
import lucid.nn as nn


class _ConvBlock(nn.Module):
    """conv (bias) -> InstanceNorm(affine) -> LeakyReLU(0.1), named as MONAI's Convolution
    (``conv``, ``adn.N``, ``adn.A``)."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = nn.Conv3d(c_in, c_out, 3, padding=1)
        self.adn = nn.Sequential()
        self.adn.add_module("N", nn.InstanceNorm3d(c_out, affine=True))
        self.adn.add_module("A", nn.LeakyReLU(0.1))

    def forward(self, x):
        """The block's output."""
        return self.adn(self.conv(x))


def _two_conv(c_in, c_out):
    """MONAI's TwoConv: two conv blocks named conv_0, conv_1."""
    seq = nn.Sequential()
    seq.add_module("conv_0", _ConvBlock(c_in, c_out))
    seq.add_module("conv_1", _ConvBlock(c_out, c_out))
    return seq


class _Down(nn.Module):
    """MONAI's Down: 2x max pooling, then a TwoConv."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.max_pooling = nn.MaxPool3d(2)
        self.convs = _two_conv(c_in, c_out)

    def forward(self, x):
        """Max pool by 2, then two conv blocks."""
        return self.convs(self.max_pooling(x))


class _UpCat(nn.Module):
    """MONAI's UpCat with deconv upsampling (sizes divisible by 2: no padding needed)."""

    def __init__(self, c_in, c_cat, c_out, halves=True):
        super().__init__()
        up = c_in // 2 if halves else c_in
        self.upsample = nn.Sequential()
        self.upsample.add_module("deconv", nn.ConvTranspose3d(c_in, up, 2, stride=2))
        self.convs = _two_conv(c_cat + up, c_out)

    def forward(self, x, skip):
        """Upsample x by 2, concatenate after the skip, two conv blocks."""
        return self.convs(lucid.cat([skip, self.upsample(x)], 1))


class BasicUNet(nn.Module):
    """MONAI's ``BasicUNet`` (3-D, deconv upsampling, InstanceNorm(affine), LeakyReLU(0.1),
    biased convs) with MONAI's parameter names, so a state dict carries over.
    Spatial sizes must be divisible by 16 (no padding of odd upsampled sizes)."""

    def __init__(self, in_channels=1, out_channels=2, features=(32, 32, 64, 128, 256, 32)):
        super().__init__()
        f = features
        self.conv_0 = _two_conv(in_channels, f[0])
        self.down_1, self.down_2 = _Down(f[0], f[1]), _Down(f[1], f[2])
        self.down_3, self.down_4 = _Down(f[2], f[3]), _Down(f[3], f[4])
        self.upcat_4, self.upcat_3 = _UpCat(f[4], f[3], f[3]), _UpCat(f[3], f[2], f[2])
        self.upcat_2 = _UpCat(f[2], f[1], f[1])
        self.upcat_1 = _UpCat(f[1], f[0], f[5], halves=False)
        self.final_conv = nn.Conv3d(f[5], out_channels, 1)

    def forward(self, x):
        """(N, in_channels, D, H, W) -> (N, out_channels, D, H, W) logits."""
        x0 = self.conv_0(x)
        x1 = self.down_1(x0)
        x2 = self.down_2(x1)
        x3 = self.down_3(x2)
        x4 = self.down_4(x3)
        u = self.upcat_4(x4, x3)
        u = self.upcat_3(u, x2)
        u = self.upcat_2(u, x1)
        return self.final_conv(self.upcat_1(u, x0))
