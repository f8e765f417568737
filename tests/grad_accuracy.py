"""Float32 gradient accuracy against a float64 reference, for Lucid and PyTorch side by side.

Shared by ``tests/test_grad_accuracy.py`` and ``benchmarks/grad_accuracy.py``. Each network
(``NETS``: every lucid.models architecture and a MONAI-BasicUNet-like UNet) is built in Lucid
and, with the same parameter names, in PyTorch (``_torch_nets``, written from the Lucid
definitions); ``build_pair`` gives both the same weights. Both frameworks' float32 gradients
are then compared with PyTorch's float64 gradients of the same weights and input
(``compare``). PyTorch's runs take the ReLU/LeakyReLU branches of Lucid's float32 run
(``pin_masks``): a pre-activation within float32 rounding of 0 may land on either side, and the
gradient behind it then differs by far more than rounding, however accurate the arithmetic.
``layer_errors`` does the same for one layer alone (``LAYERS``), input gradient included.

The measure is per tensor, ``|g32 - g64| / |g64|`` (2-norms; a tensor of more than 65536
entries on every k-th one), and a network's figure is the median over its parameters. A
parameter whose exact gradient is 0 (a conv bias just before an InstanceNorm, which removes any
per-channel constant) has no relative error and is left out (``rel_errors``).

PyTorch is imported lazily; callers ``pytest.importorskip("torch")`` first.
"""

from __future__ import annotations

import copy

import numpy as np

import lucid
import lucid.nn as lnn
from lucid import models

# ----------------------------------------------------------------------------- Lucid BasicUNet


class _LucidConvBlock(lnn.Module):
    """conv (bias) -> InstanceNorm(affine) -> LeakyReLU(0.1), named as MONAI's Convolution
    (``conv``, ``adn.N``, ``adn.A``)."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = lnn.Conv3d(c_in, c_out, 3, padding=1)
        self.adn = lnn.Sequential()
        self.adn.add_module("N", lnn.InstanceNorm3d(c_out, affine=True))
        self.adn.add_module("A", lnn.LeakyReLU(0.1))

    def forward(self, x):
        """The block's output."""
        return self.adn(self.conv(x))


def _lucid_two_conv(c_in, c_out):
    """MONAI's TwoConv: two conv blocks named conv_0, conv_1."""
    seq = lnn.Sequential()
    seq.add_module("conv_0", _LucidConvBlock(c_in, c_out))
    seq.add_module("conv_1", _LucidConvBlock(c_out, c_out))
    return seq


class _LucidDown(lnn.Module):
    """MONAI's Down: 2x max pooling, then a TwoConv."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.max_pooling = lnn.MaxPool3d(2)
        self.convs = _lucid_two_conv(c_in, c_out)

    def forward(self, x):
        """Max pool by 2, then two conv blocks."""
        return self.convs(self.max_pooling(x))


class _LucidUpCat(lnn.Module):
    """MONAI's UpCat with deconv upsampling (sizes divisible by 2: no padding needed)."""

    def __init__(self, c_in, c_cat, c_out, halves=True):
        super().__init__()
        up = c_in // 2 if halves else c_in
        self.upsample = lnn.Sequential()
        self.upsample.add_module("deconv", lnn.ConvTranspose3d(c_in, up, 2, stride=2))
        self.convs = _lucid_two_conv(c_cat + up, c_out)

    def forward(self, x, skip):
        """Upsample x by 2, concatenate after the skip, two conv blocks."""
        return self.convs(lucid.cat([skip, self.upsample(x)], 1))


class LucidBasicUNet(lnn.Module):
    """MONAI's ``BasicUNet`` (3-D, deconv upsampling, InstanceNorm(affine), LeakyReLU(0.1),
    biased convs) written in Lucid with MONAI's parameter names, so a state dict carries over.
    Spatial sizes must be divisible by 16 (no padding of odd upsampled sizes)."""

    def __init__(self, in_channels=1, out_channels=2, features=(32, 32, 64, 128, 256, 32)):
        super().__init__()
        f = features
        self.conv_0 = _lucid_two_conv(in_channels, f[0])
        self.down_1, self.down_2 = _LucidDown(f[0], f[1]), _LucidDown(f[1], f[2])
        self.down_3, self.down_4 = _LucidDown(f[2], f[3]), _LucidDown(f[3], f[4])
        self.upcat_4, self.upcat_3 = _LucidUpCat(f[4], f[3], f[3]), _LucidUpCat(f[3], f[2], f[2])
        self.upcat_2 = _LucidUpCat(f[2], f[1], f[1])
        self.upcat_1 = _LucidUpCat(f[1], f[0], f[5], halves=False)
        self.final_conv = lnn.Conv3d(f[5], out_channels, 1)

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


# ----------------------------------------------------------------------------- PyTorch mirrors


def _torch_nets():
    """PyTorch versions of the Lucid networks, same structure and parameter names (written from
    the Lucid models' own definitions; torchvision and MONAI are not needed)."""
    import torch
    import torch.nn as tnn

    def conv3d_simple(c_in, c_out, mid, stride=1):
        return tnn.Conv3d(c_in, c_out, 3, stride=stride, padding=1, bias=False)

    def conv_no_temporal(c_in, c_out, mid, stride=1):
        return tnn.Conv3d(c_in, c_out, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False)

    def conv_2plus1d(c_in, c_out, mid, stride=1):
        return tnn.Sequential(
            tnn.Conv3d(c_in, mid, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False),
            tnn.BatchNorm3d(mid),
            tnn.ReLU(),
            tnn.Conv3d(mid, c_out, (3, 1, 1), (stride, 1, 1), (1, 0, 0), bias=False),
        )

    down_stride = {conv_no_temporal: lambda s: (1, s, s)}

    class VideoBlock(tnn.Module):
        def __init__(self, c_in, planes, conv, stride=1, downsample=None):
            super().__init__()
            mid = (c_in * planes * 27) // (c_in * 9 + 3 * planes)
            self.conv1 = tnn.Sequential(
                conv(c_in, planes, mid, stride), tnn.BatchNorm3d(planes), tnn.ReLU()
            )
            self.conv2 = tnn.Sequential(conv(planes, planes, mid), tnn.BatchNorm3d(planes))
            self.relu = tnn.ReLU()
            self.downsample = downsample

        def forward(self, x):
            out = self.conv2(self.conv1(x))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class VideoResNet(tnn.Module):
        def __init__(self, convs, stem, num_classes):
            super().__init__()
            self.stem = stem
            c = 64
            for i, (conv, planes) in enumerate(zip(convs, (64, 128, 256, 512))):
                stride = 1 if i == 0 else 2
                ds = None
                if stride != 1 or c != planes:
                    s = down_stride.get(conv, lambda s: (s, s, s))(stride)
                    ds = tnn.Sequential(
                        tnn.Conv3d(c, planes, 1, stride=s, bias=False), tnn.BatchNorm3d(planes)
                    )
                blocks = [VideoBlock(c, planes, conv, stride, ds), VideoBlock(planes, planes, conv)]
                setattr(self, f"layer{i + 1}", tnn.Sequential(*blocks))
                c = planes
            self.avgpool = tnn.AdaptiveAvgPool3d(1)
            self.fc = tnn.Linear(512, num_classes)

        def forward(self, x):
            x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
            return self.fc(self.avgpool(x).flatten(1))

    def basic_stem():
        return tnn.Sequential(
            tnn.Conv3d(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
            tnn.BatchNorm3d(64),
            tnn.ReLU(),
        )

    def r2plus1d_stem():
        return tnn.Sequential(
            tnn.Conv3d(3, 45, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False),
            tnn.BatchNorm3d(45),
            tnn.ReLU(),
            tnn.Conv3d(45, 64, (3, 1, 1), 1, (1, 0, 0), bias=False),
            tnn.BatchNorm3d(64),
            tnn.ReLU(),
        )

    def conv_bn(c_in, c_out, k, stride=1):
        return [
            tnn.Conv3d(c_in, c_out, k, stride=stride, padding=k // 2, bias=False),
            tnn.BatchNorm3d(c_out),
        ]

    class Basic(tnn.Module):
        expansion = 1

        def __init__(self, c_in, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1, self.bn1 = conv_bn(c_in, planes, 3, stride)
            self.conv2, self.bn2 = conv_bn(planes, planes, 3)
            self.relu, self.downsample = tnn.ReLU(), downsample

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class Bottleneck(tnn.Module):
        expansion = 4

        def __init__(self, c_in, planes, stride=1, downsample=None):
            super().__init__()
            self.conv1, self.bn1 = conv_bn(c_in, planes, 1)
            self.conv2, self.bn2 = conv_bn(planes, planes, 3, stride)
            self.conv3, self.bn3 = conv_bn(planes, planes * 4, 1)
            self.relu, self.downsample = tnn.ReLU(), downsample

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn3(self.conv3(self.relu(self.bn2(self.conv2(out)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class ResNet3d(tnn.Module):
        def __init__(self, block, layers, in_channels, num_classes, widths, no_max_pool=False):
            super().__init__()
            self.conv1 = tnn.Conv3d(in_channels, widths[0], 7, 2, 3, bias=False)
            self.bn1, self.relu = tnn.BatchNorm3d(widths[0]), tnn.ReLU()
            self.maxpool = tnn.Identity() if no_max_pool else tnn.MaxPool3d(3, 2, 1)
            c = widths[0]
            for i, (depth, planes) in enumerate(zip(layers, widths)):
                stride = 1 if i == 0 else 2
                ds = None
                if stride != 1 or c != planes * block.expansion:
                    ds = tnn.Sequential(*conv_bn(c, planes * block.expansion, 1, stride))
                blocks = [block(c, planes, stride, ds)]
                c = planes * block.expansion
                blocks += [block(c, planes) for _ in range(depth - 1)]
                setattr(self, f"layer{i + 1}", tnn.Sequential(*blocks))
            self.avgpool = tnn.AdaptiveAvgPool3d(1)
            self.fc = tnn.Linear(c, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    def double_conv(c_in, c_out, norm):
        def nrm(c):
            return tnn.BatchNorm3d(c) if norm == "batch" else tnn.InstanceNorm3d(c, affine=True)

        return tnn.Sequential(
            tnn.Conv3d(c_in, c_out, 3, padding=1, bias=False),
            nrm(c_out),
            tnn.ReLU(),
            tnn.Conv3d(c_out, c_out, 3, padding=1, bias=False),
            nrm(c_out),
            tnn.ReLU(),
        )

    class UNet3d(tnn.Module):
        def __init__(self, in_channels, out_channels, features, norm, upsample):
            super().__init__()
            self.encoders, c = tnn.ModuleList(), in_channels
            for f in features:
                self.encoders.append(double_conv(c, f, norm))
                c = f
            self.pool = tnn.MaxPool3d(2)
            self.ups, self.decoders = tnn.ModuleList(), tnn.ModuleList()
            for f in reversed(features[:-1]):
                if upsample == "transpose":
                    self.ups.append(tnn.ConvTranspose3d(c, f, 2, stride=2))
                else:
                    self.ups.append(
                        tnn.Sequential(
                            tnn.Upsample(scale_factor=2, mode="trilinear", align_corners=False),
                            tnn.Conv3d(c, f, 1),
                        )
                    )
                self.decoders.append(double_conv(2 * f, f, norm))
                c = f
            self.head = tnn.Conv3d(features[0], out_channels, 1)

        def forward(self, x):
            skips = []
            for i, enc in enumerate(self.encoders):
                x = enc(x if i == 0 else self.pool(x))
                skips.append(x)
            for up, dec, skip in zip(self.ups, self.decoders, reversed(skips[:-1])):
                x = dec(torch.cat([up(x), skip], 1))
            return self.head(x)

    class ConvBlock(tnn.Module):
        def __init__(self, c_in, c_out):
            super().__init__()
            self.conv = tnn.Conv3d(c_in, c_out, 3, padding=1)
            self.adn = tnn.Sequential()
            self.adn.add_module("N", tnn.InstanceNorm3d(c_out, affine=True))
            self.adn.add_module("A", tnn.LeakyReLU(0.1))

        def forward(self, x):
            return self.adn(self.conv(x))

    def two_conv(c_in, c_out):
        seq = tnn.Sequential()
        seq.add_module("conv_0", ConvBlock(c_in, c_out))
        seq.add_module("conv_1", ConvBlock(c_out, c_out))
        return seq

    class Down(tnn.Module):
        def __init__(self, c_in, c_out):
            super().__init__()
            self.max_pooling, self.convs = tnn.MaxPool3d(2), two_conv(c_in, c_out)

        def forward(self, x):
            return self.convs(self.max_pooling(x))

    class UpCat(tnn.Module):
        def __init__(self, c_in, c_cat, c_out, halves=True):
            super().__init__()
            up = c_in // 2 if halves else c_in
            self.upsample = tnn.Sequential()
            self.upsample.add_module("deconv", tnn.ConvTranspose3d(c_in, up, 2, stride=2))
            self.convs = two_conv(c_cat + up, c_out)

        def forward(self, x, skip):
            return self.convs(torch.cat([skip, self.upsample(x)], 1))

    class BasicUNet(tnn.Module):
        def __init__(self, in_channels, out_channels, features):
            super().__init__()
            f = features
            self.conv_0 = two_conv(in_channels, f[0])
            self.down_1, self.down_2 = Down(f[0], f[1]), Down(f[1], f[2])
            self.down_3, self.down_4 = Down(f[2], f[3]), Down(f[3], f[4])
            self.upcat_4, self.upcat_3 = UpCat(f[4], f[3], f[3]), UpCat(f[3], f[2], f[2])
            self.upcat_2 = UpCat(f[2], f[1], f[1])
            self.upcat_1 = UpCat(f[1], f[0], f[5], halves=False)
            self.final_conv = tnn.Conv3d(f[5], out_channels, 1)

        def forward(self, x):
            x0 = self.conv_0(x)
            x1 = self.down_1(x0)
            x2 = self.down_2(x1)
            x3 = self.down_3(x2)
            x4 = self.down_4(x3)
            u = self.upcat_3(self.upcat_4(x4, x3), x2)
            return self.final_conv(self.upcat_1(self.upcat_2(u, x1), x0))

    video = {
        "r3d_18": ([conv3d_simple] * 4, basic_stem),
        "mc3_18": ([conv3d_simple] + [conv_no_temporal] * 3, basic_stem),
        "r2plus1d_18": ([conv_2plus1d] * 4, r2plus1d_stem),
    }
    resnets = {
        "resnet3d_10": (Basic, [1, 1, 1, 1]),
        "resnet3d_18": (Basic, [2, 2, 2, 2]),
        "resnet3d_34": (Basic, [3, 4, 6, 3]),
        "resnet3d_50": (Bottleneck, [3, 4, 6, 3]),
    }

    def build(name, kwargs):
        if name in video:
            convs, stem = video[name]
            return VideoResNet(convs, stem(), kwargs.get("num_classes", 400))
        if name in resnets:
            block, layers = resnets[name]
            return ResNet3d(
                block,
                layers,
                kwargs.get("in_channels", 1),
                kwargs.get("num_classes", 2),
                kwargs.get("widths", (64, 128, 256, 512)),
                kwargs.get("no_max_pool", False),
            )
        if name == "UNet3d":
            return UNet3d(
                kwargs.get("in_channels", 1),
                kwargs.get("out_channels", 2),
                tuple(kwargs.get("features", (16, 32, 64, 128))),
                kwargs.get("norm", "batch"),
                kwargs.get("upsample", "transpose"),
            )
        if name == "BasicUNet":
            return BasicUNet(
                kwargs.get("in_channels", 1), kwargs.get("out_channels", 2), kwargs["features"]
            )
        raise KeyError(name)

    return build


def lucid_net(name, kwargs):
    """The Lucid network ``name`` (a ``lucid.models`` factory or class, or "BasicUNet")."""
    if name == "BasicUNet":
        return LucidBasicUNet(**kwargs)
    return getattr(models, name)(**kwargs)


# Every lucid.models architecture, and the BasicUNet, at a size whose forward + backward in
# both frameworks takes about a second on two cores: (name, constructor kwargs, input shape,
# training mode). The video ResNets have fixed widths (64-512, ~3e7 parameters) and run in eval
# mode on one small clip (in training mode their last BatchNorms would normalise 2 values); the
# volumetric ones take narrow widths and no stem pooling, so that their last BatchNorms still
# see 16 values per channel.
NETS = [
    ("r3d_18", dict(num_classes=5), (1, 3, 4, 16, 16), False),
    ("mc3_18", dict(num_classes=5), (1, 3, 4, 16, 16), False),
    ("r2plus1d_18", dict(num_classes=5), (1, 3, 4, 16, 16), False),
    ("resnet3d_10", dict(widths=(8, 16, 32, 64), no_max_pool=True), (2, 1, 32, 32, 32), True),
    ("resnet3d_18", dict(widths=(8, 16, 32, 64), no_max_pool=True), (2, 1, 32, 32, 32), True),
    ("resnet3d_34", dict(widths=(4, 8, 16, 32), no_max_pool=True), (2, 1, 32, 32, 32), True),
    ("resnet3d_50", dict(widths=(4, 8, 16, 32), no_max_pool=True), (2, 1, 32, 32, 32), True),
    ("UNet3d", dict(features=(4, 8, 16), norm="batch"), (2, 1, 16, 16, 16), True),
    ("UNet3d", dict(features=(4, 8, 16), norm="instance"), (1, 1, 16, 16, 16), True),
    (
        "UNet3d",
        dict(features=(4, 8, 16), norm="instance", upsample="trilinear"),
        (1, 1, 16, 16, 16),
        True,
    ),
    ("BasicUNet", dict(features=(4, 4, 8, 16, 32, 4)), (1, 1, 32, 32, 32), True),
]


def label(name, kwargs):
    """A short name for a NETS entry."""
    extra = ",".join(f"{v}" for k, v in kwargs.items() if k in ("norm", "upsample"))
    return f"{name}({extra})" if extra else name


def _no_inplace(torch_model):
    """``torch_model`` with its in-place activations made out-of-place."""
    for m in torch_model.modules():
        if hasattr(m, "inplace"):
            m.inplace = False  # the pinned rectifiers need the pre-activation
    return torch_model


def torch_copy(model, torch_model, dtype):
    """``torch_model`` with ``model``'s (Lucid) parameters and buffers, cast to ``dtype``."""
    import torch

    state = {k: torch.from_numpy(np.array(v.numpy())) for k, v in model.state_dict().items()}
    theirs = torch_model.state_dict()
    missing = set(theirs) - set(state)
    if missing:
        raise KeyError(f"the PyTorch mirror has parameters Lucid's model lacks: {sorted(missing)}")
    torch_model.load_state_dict({k: state[k] for k in theirs})
    return _no_inplace(torch_model).to(dtype)


def _resnet_init(torch_model):
    """lucid.models' initialisation (models/_resnet_common.py) applied in PyTorch: He-normal
    (fan_out) convolutions, unit norms, N(0, 0.01) linear layers, zero biases."""
    import torch.nn as tnn

    for m in torch_model.modules():
        if isinstance(m, (tnn.Conv3d, tnn.ConvTranspose3d)):
            tnn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                tnn.init.zeros_(m.bias)
        elif isinstance(m, tnn.Linear):
            tnn.init.normal_(m.weight, 0.0, 0.01)
            tnn.init.zeros_(m.bias)


def _is_rectifier(m):
    """ReLU or LeakyReLU, of either framework."""
    return type(m).__name__ in ("ReLU", "LeakyReLU")


def record_masks(model):
    """Forward hooks on ``model``'s ReLU/LeakyReLU (Lucid or PyTorch) appending ``input > 0`` of
    each call to the returned ``{module name: [mask, ...]}`` (a module may run several times)."""
    masks = {}
    for name, m in model.named_modules():
        if _is_rectifier(m):

            def hook(mod, args, out, name=name):
                a = args[0]
                a = a.detach().numpy() if hasattr(a, "detach") else a.numpy()
                masks.setdefault(name, []).append(a > 0)

            m.register_forward_hook(hook)
    return masks


def pin_masks(torch_model64, masks):
    """Make the PyTorch float64 model's rectifiers take, call by call, the branches stored in
    ``masks`` (``record_masks`` of a float32 run of the same input)."""
    import torch

    calls = {}
    for name, m in torch_model64.named_modules():
        if _is_rectifier(m):
            slope = getattr(m, "negative_slope", 0.0)

            def hook(mod, args, out, name=name, slope=slope):
                i = calls[name] = calls.get(name, -1) + 1
                keep = torch.from_numpy(masks[name][i])
                return torch.where(keep, args[0], args[0] * slope)

            m.register_forward_hook(hook)


# Errors of tensors larger than this are measured on every k-th entry (the same ones in every
# run): the 3e7 weights of a video ResNet would otherwise cost seconds of float64 copies.
_SAMPLE = 1 << 16


def _sampled(g):
    """A float64 copy of ``g`` (numpy), flattened; every k-th entry of a large one."""
    flat = np.asarray(g).reshape(-1)
    return flat[:: max(1, flat.size // _SAMPLE)].astype(np.float64)


def _grads(model, x, seed, lib):
    """``{name: gradient}`` (``_sampled``) of ``sum(model(x) * seed)`` over the parameters."""
    xt = lib.tensor(x)
    (model(xt) * lib.tensor(seed)).sum().backward()
    out = {n: _sampled(p.grad.numpy()) for n, p in model.named_parameters()}
    model.zero_grad()
    return out


def rel_errors(got, exact):
    """``{name: |got - exact| / |exact|}`` (2-norms) over the parameters whose exact gradient is
    not 0: one whose float64 norm is below 1e-9 of the largest is rounding noise (a conv bias
    just before an InstanceNorm) and has no relative error."""
    norms = {n: float(np.linalg.norm(g)) for n, g in exact.items()}
    scale = max(norms.values())
    return {
        n: float(np.linalg.norm(got[n] - g)) / norms[n]
        for n, g in exact.items()
        if norms[n] > 1e-9 * scale
    }


def compare(model, theirs32, x, train=True, seed=0):
    """Per-parameter relative errors of the float32 gradients of a ``build_pair`` pair at input
    ``x``, in training mode or not: ``(lucid_errors, torch_errors)``, each ``{name: error}``.
    PyTorch's runs take the rectifier branches of Lucid's float32 run (``pin_masks``), so one
    float64 run is the reference of both."""
    import torch

    ref = copy.deepcopy(theirs32).to(torch.float64)
    for m in (model, theirs32, ref):
        m.train(train)
    # the float64 run gets exactly the float32 values of input and output gradient
    x32 = x.astype(np.float32)
    s32 = np.random.default_rng(seed).standard_normal(_out_shape(theirs32, x32), np.float32)
    masks = record_masks(model)
    ours = _grads(model, x32, s32, lucid)
    pin_masks(theirs32, masks)
    pin_masks(ref, masks)
    theirs = _grads(theirs32, x32, s32, torch)
    exact = _grads(ref, x32.astype(np.float64), s32.astype(np.float64), torch)
    return rel_errors(ours, exact), rel_errors(theirs, exact)


def _out_shape(torch_model, x):
    """The output shape of ``torch_model`` at ``x``."""
    import torch

    with torch.no_grad():
        state = torch_model.training
        torch_model.eval()  # no BatchNorm running-statistics update from this probe
        shape = tuple(torch_model(torch.from_numpy(x)).shape)
        torch_model.train(state)
    return shape


def build_pair(name, kwargs, seed=0):
    """A NETS entry as ``(Lucid float32 network, PyTorch float32 network)`` with the same
    weights: initialised in PyTorch (as lucid.models initialises them; MLX draws 3e7 normals
    much slower) and loaded into Lucid, whose own random initialisation is then never run."""
    import torch

    torch.manual_seed(seed)
    theirs = _torch_nets()(name, kwargs)
    if name != "BasicUNet":
        _resnet_init(theirs)
    ours = lucid_net(name, kwargs)
    state = ours.state_dict()
    missing = set(theirs.state_dict()) ^ set(state)
    if missing:
        raise KeyError(f"Lucid's and PyTorch's {name} differ in parameters: {sorted(missing)}")
    ours.load_state_dict({k: lucid.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    return ours, _no_inplace(theirs)


def median(errors):
    """The median of a ``{name: error}`` dict."""
    return float(np.median(list(errors.values())))


# ----------------------------------------------------------------------------- layers alone


def _cat_fn(lib, x):
    """A skip concatenation: x next to a scaled copy of itself along the channels."""
    return lib.cat([x, x * 0.5], 1)


def _module(lib, spec):
    """The module a LAYERS builder makes in ``lib`` (lucid or torch)."""
    nn = lib.nn
    if callable(spec):
        return spec(nn)
    base = nn.Module

    class Fn(base):  # a parameterless function as a module (cat, interpolate)
        def forward(self, x):
            return spec[1](lib, x)

    return Fn()


# Layer types of the networks above, alone: (label, builder of the module from an ``nn``
# namespace (lucid.nn or torch.nn) or ("fn", function(lib, x)), input shape). The input has a
# nonzero mean (as activations after LeakyReLU do), where long float32 sums lose the most.
LAYERS = [
    ("conv 3x3x3", lambda nn: nn.Conv3d(8, 8, 3, padding=1), (2, 8, 32, 32, 32)),
    ("conv 1x1x1", lambda nn: nn.Conv3d(8, 4, 1), (2, 8, 32, 32, 32)),
    (
        "conv + IN",
        lambda nn: nn.Sequential(nn.Conv3d(8, 8, 3, padding=1), nn.InstanceNorm3d(8, affine=True)),
        (1, 8, 32, 32, 32),
    ),
    ("convT k2 s2", lambda nn: nn.ConvTranspose3d(8, 4, 2, stride=2), (2, 8, 16, 16, 16)),
    ("BN (train)", lambda nn: nn.BatchNorm3d(8), (2, 8, 32, 32, 32)),
    ("IN (affine)", lambda nn: nn.InstanceNorm3d(8, affine=True), (2, 8, 32, 32, 32)),
    ("GN", lambda nn: nn.GroupNorm(2, 8), (2, 8, 32, 32, 32)),
    ("LeakyReLU", lambda nn: nn.LeakyReLU(0.1), (2, 8, 32, 32, 32)),
    ("maxpool 2", lambda nn: nn.MaxPool3d(2), (2, 8, 32, 32, 32)),
    ("cat", ("fn", _cat_fn), (2, 8, 32, 32, 32)),
    (
        "interpolate x2",
        lambda nn: nn.Upsample(scale_factor=2, mode="trilinear", align_corners=False),
        (2, 8, 16, 16, 16),
    ),
    ("linear", lambda nn: nn.Linear(4096, 16), (64, 4096)),
]


def _layer_grads(module, x, seed, lib):
    """``{"input": dx, name: dparam, ...}`` (``_sampled``) of ``sum(module(x) * seed)``."""
    xt = lib.tensor(x, requires_grad=True)
    (module(xt) * lib.tensor(seed)).sum().backward()
    out = {"input": _sampled(xt.grad.numpy())}
    out.update({n: _sampled(p.grad.numpy()) for n, p in module.named_parameters()})
    return out


def layer_errors(spec, shape, seed=0, mean=0.5):
    """Relative errors of Lucid's and PyTorch's float32 gradients (input and parameters) of one
    layer against PyTorch float64 with the same weights: ``(lucid_errors, torch_errors)``."""
    import torch

    lucid.manual_seed(seed)
    ours = _module(lucid, spec)
    theirs32 = torch_copy(ours, _module(torch, spec), torch.float32)
    ref = copy.deepcopy(theirs32).to(torch.float64)
    rng = np.random.default_rng(seed)
    x32 = (rng.standard_normal(shape) + mean).astype(np.float32)
    s32 = rng.standard_normal(_out_shape(theirs32, x32), np.float32)
    exact = _layer_grads(ref, x32.astype(np.float64), s32.astype(np.float64), torch)
    got_l = _layer_grads(ours, x32, s32, lucid)
    got_t = _layer_grads(theirs32, x32, s32, torch)
    return rel_errors(got_l, exact), rel_errors(got_t, exact)
