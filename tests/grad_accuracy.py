"""Float32 gradient accuracy against a float64 reference, for Lucid and PyTorch side by side.

Shared by ``tests/test_grad_accuracy.py`` and ``benchmarks/grad_accuracy.py``. Each network
(``NETS``: every lucid.models architecture and a MONAI-BasicUNet-like UNet) is built in Lucid
and in PyTorch from the same source (``torch_net``: ``tests/torch_port.py`` runs the Lucid
file with ``lucid`` renamed ``torch``); ``build_pair`` gives both the same weights. Both
frameworks' float32 gradients are then compared with PyTorch's float64 gradients of the same
weights and input (``compare``). PyTorch's runs take the ReLU/LeakyReLU branches of Lucid's
float32 run (``pin_masks``): a pre-activation within float32 rounding of 0 may land on either
side, and the gradient behind it then differs by far more than rounding, however accurate the
arithmetic. ``layer_errors`` does the same for one layer alone (``LAYERS``), input gradient
included.

The measure is per tensor, ``|g32 - g64| / |g64|`` (2-norms; a tensor of more than 65536
entries on every k-th one), and a network's figure is the median over its parameters. A
parameter whose exact gradient is 0 (a conv bias just before an InstanceNorm, which removes any
per-channel constant) has no relative error and is left out (``rel_errors``).

PyTorch is imported lazily; callers ``pytest.importorskip("torch")`` first.
"""

from __future__ import annotations

import copy
import pathlib

import numpy as np

import lucid
from lucid import models
from tests import basic_unet, torch_port


def lucid_net(name, kwargs):
    """The Lucid network ``name`` (a ``lucid.models`` factory or class, or "BasicUNet")."""
    if name == "BasicUNet":
        return basic_unet.BasicUNet(**kwargs)
    return getattr(models, name)(**kwargs)


def torch_net(name, kwargs):
    """The PyTorch twin of ``lucid_net(name, kwargs)``: the same source run by PyTorch
    (``tests/torch_port.py``), so its structure, parameter names and initialisation are Lucid's."""
    if name == "BasicUNet":
        return torch_port.torch_port(pathlib.Path(basic_unet.__file__)).BasicUNet(**kwargs)
    return torch_port.torch_model(name, **kwargs)


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
    theirs = torch_net(name, kwargs)
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
