"""Layers, losses, optimizers and LR schedules compared with PyTorch.

A layer case builds the PyTorch module, copies its parameters and buffers into Lucid's module of
the same name and arguments, and compares outputs, input gradients and parameter gradients in
training and evaluation mode. A loss case is an op case over (input, target). An optimizer case
runs the same steps on the same problem; a schedule case compares the learning-rate sequence.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tests.parity.harness import RNG, positive, rand


@dataclasses.dataclass
class ModuleCase:
    """``nn.<cls>(*args, **kwargs)`` on inputs of the given shapes."""

    cls: str
    args: tuple = ()
    kwargs: dict = dataclasses.field(default_factory=dict)
    inputs: tuple = ((2, 3, 5),)
    rtol: float = 1e-9
    atol: float = 1e-11
    torch_make: object = None  # torch -> reference module, where nn.<cls> itself is inexact

    @property
    def name(self):
        return f"nn.{self.cls}({', '.join(map(repr, self.args))})" + (
            f"{self.kwargs}" if self.kwargs else ""
        )


def _Shift(torch, add, mul=1.0):
    """A torch module computing (x + add) * mul."""

    class Shift(torch.nn.Module):
        def forward(self, x):
            return (x + add) * mul

    return Shift()


M = ModuleCase
MODULE_CASES = [
    M("Linear", (5, 4)),
    M("Linear", (5, 4), {"bias": False}),
    M("Conv1d", (3, 4, 3), {"padding": 1}, ((2, 3, 7),)),
    M("Conv2d", (3, 4, 3), {"stride": 2, "padding": "valid"}, ((2, 3, 7, 6),)),
    M("Conv3d", (2, 4, 3), {"padding": "same", "dilation": 2}, ((1, 2, 6, 5, 5),)),
    M(
        "Conv3d",
        (4, 4, 3),
        {"groups": 2, "padding_mode": "reflect", "padding": 1},
        ((1, 4, 5, 5, 5),),
    ),
    M("Conv2d", (2, 3, 3), {"padding": 2, "padding_mode": "circular"}, ((1, 2, 5, 6),)),
    M("Conv2d", (2, 3, 3), {"padding": 1, "padding_mode": "replicate"}, ((1, 2, 5, 6),)),
    M("ConvTranspose3d", (2, 3, 3), {"stride": 2, "output_padding": 1}, ((1, 2, 3, 3, 3),)),
    M("ConvTranspose2d", (4, 2, 2), {"stride": 2, "groups": 2}, ((1, 4, 3, 3),)),
    M("BatchNorm1d", (3,)),
    M("BatchNorm3d", (3,), {}, ((2, 3, 4, 3, 2),)),
    M("BatchNorm2d", (3,), {"affine": False, "momentum": None}, ((2, 3, 4, 3),)),
    M("InstanceNorm3d", (3,), {"affine": True}, ((2, 3, 4, 3, 2),)),
    M("InstanceNorm1d", (3,), {"track_running_stats": True}, ((2, 3, 6),)),
    M("InstanceNorm2d", (3,), {"track_running_stats": True, "momentum": None}, ((2, 3, 4, 4),)),
    M("GroupNorm", (2, 4), {}, ((2, 4, 3, 3),)),
    M("LayerNorm", ((3, 5),), {}, ((2, 3, 5),)),
    M("RMSNorm", ((5,),), {}, ((2, 3, 5),)),
    M("RMSNorm", (5,), {"eps": 1e-3}, ((2, 5),)),
    M("LocalResponseNorm", (3,), {}, ((2, 5, 4, 4),)),
    M("MaxPool3d", (2,), {}, ((1, 2, 4, 4, 4),)),
    M("MaxPool2d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True}, ((1, 2, 6, 7),)),
    M("MaxPool1d", (4,), {"ceil_mode": True, "stride": 3}, ((1, 2, 3),)),
    M("AvgPool3d", (2,), {"ceil_mode": True}, ((1, 2, 5, 4, 3),)),
    M("AvgPool2d", (3,), {"stride": 2, "padding": 1, "count_include_pad": False}, ((1, 2, 6, 7),)),
    M("AdaptiveAvgPool3d", ((2, 3, 1),), {}, ((1, 2, 5, 6, 4),)),
    M("AdaptiveMaxPool2d", (3,), {}, ((1, 2, 7, 5),)),
    M("LPPool2d", (2, 2), {}, ((1, 2, 4, 6),)),
    M("LPPool1d", (3, 3), {}, ((1, 2, 9),)),
    M("LPPool3d", (1.5, 2), {"ceil_mode": True}, ((1, 2, 5, 4, 3),)),
    M("AdaptiveAvgPool1d", (3,), {}, ((1, 2, 7),)),
    M("AdaptiveAvgPool2d", ((2, None),), {}, ((1, 2, 5, 3),)),
    M("AdaptiveMaxPool1d", (4,), {}, ((1, 2, 9),)),
    M("AdaptiveMaxPool3d", ((2, 3, 1),), {}, ((1, 2, 5, 6, 4),)),
    M("AvgPool1d", (3,), {"stride": 2, "padding": 1}, ((1, 2, 8),)),
    M("ConvTranspose1d", (3, 2, 3), {"stride": 2, "padding": 1, "output_padding": 1}, ((2, 3, 5),)),
    M("Upsample", (), {"scale_factor": 2, "mode": "nearest"}, ((1, 2, 3, 4),)),
    M("Upsample", (), {"scale_factor": 1.3, "mode": "nearest"}, ((1, 1, 31),)),
    M("Upsample", (), {"size": (5, 4, 6), "mode": "trilinear"}, ((1, 2, 3, 4, 5),)),
    M(
        "Upsample",
        (),
        {"scale_factor": 2, "mode": "bilinear", "align_corners": True},
        ((1, 2, 3, 4),),
    ),
    M("Upsample", (), {"size": (6, 3), "mode": "bicubic"}, ((1, 2, 4, 3),)),
    M("Upsample", (), {"scale_factor": (1.0, 1.7), "mode": "bilinear"}, ((1, 2, 4, 3),)),
    M("Flatten", (), {}, ((2, 3, 4),)),
    M("Unflatten", (1, (2, 2)), {}, ((3, 4),)),
    M("Identity", (), {}, ((2, 3),)),
    M("PReLU", (), {}, ((2, 3, 4),)),
    M("PReLU", (3,), {"init": 0.1}, ((2, 3, 4),)),
    M("Softmax", (), {"dim": 1}, ((2, 3, 4),)),
    M("LogSoftmax", (), {"dim": -1}),
    M("Softmin", (), {"dim": 1}),
    M("ReLU"),
    M("ReLU6"),
    M("ELU"),
    M("SELU"),
    M("CELU", (), {"alpha": 0.5}),
    M("GELU"),
    M("GELU", (), {"approximate": "tanh"}),
    M("SiLU"),
    M("Mish"),
    M("Hardswish"),
    # PyTorch's float64 Hardsigmoid backward uses 1/6 rounded to float32; relu6(x + 3) / 6 is
    # the same function with an exact gradient
    M(
        "Hardsigmoid",
        torch_make=lambda torch: torch.nn.Sequential(
            _Shift(torch, 3.0), torch.nn.ReLU6(), _Shift(torch, 0.0, 1 / 6)
        ),
    ),
    M("Hardtanh", (-0.5, 0.7)),
    M("LeakyReLU", (0.2,)),
    M("LogSigmoid"),
    M("Softsign"),
    M("Softplus", (), {"beta": 2.0}),
    M("Tanhshrink"),
    M("Hardshrink", (0.3,)),
    M("Softshrink", (0.3,)),
    M("Threshold", (0.1, -2.0)),
    M("GLU", (), {"dim": 1}, ((2, 4, 3),)),
    M("Sigmoid"),
    M("Tanh"),
]

LOSS_CASES = {
    # name: (lucid/torch kwargs, input maker, target maker)
    "MSELoss": ({}, lambda: rand(3, 4), lambda: rand(3, 4)),
    "L1Loss": ({"reduction": "sum"}, lambda: rand(3, 4), lambda: rand(3, 4) + 5),
    "SmoothL1Loss": ({"beta": 0.5}, lambda: rand(3, 4), lambda: rand(3, 4)),
    "HuberLoss": ({"delta": 0.7}, lambda: rand(3, 4), lambda: rand(3, 4)),
    "BCELoss": ({}, lambda: RNG.uniform(0.1, 0.9, (3, 4)), lambda: RNG.uniform(0, 1, (3, 4))),
    "BCEWithLogitsLoss": (
        {"pos_weight": positive(4)},
        lambda: rand(3, 4),
        lambda: RNG.uniform(0, 1, (3, 4)),
    ),
    "CrossEntropyLoss": (
        {"label_smoothing": 0.1, "ignore_index": 1},
        lambda: rand(4, 3, 2),
        lambda: np.array([[0, 1], [2, 2], [1, 0], [0, 0]]),
    ),
    "NLLLoss": ({"weight": positive(3)}, lambda: rand(4, 3), lambda: np.array([0, 2, 1, 1])),
    "KLDivLoss": (
        {"reduction": "batchmean", "log_target": True},
        lambda: rand(3, 4),
        lambda: rand(3, 4),
    ),
    "SoftMarginLoss": ({}, lambda: rand(3, 4), lambda: np.sign(rand(3, 4))),
    "MultiLabelSoftMarginLoss": ({}, lambda: rand(3, 4), lambda: (rand(3, 4) > 0) * 1.0),
    "MultiLabelMarginLoss": (
        {},
        lambda: rand(2, 4),
        lambda: np.array([[3, 0, -1, 1], [1, 2, 3, -1]]),
    ),
    "MultiMarginLoss": (
        {"p": 2, "margin": 0.7},
        lambda: rand(4, 3),
        lambda: np.array([0, 2, 1, 1]),
    ),
    "HingeEmbeddingLoss": ({"margin": 0.5}, lambda: rand(3, 4), lambda: np.sign(rand(3, 4))),
    "PoissonNLLLoss": ({"log_input": True}, lambda: rand(3, 4), lambda: positive(3, 4)),
    "GaussianNLLLoss": ({}, lambda: (rand(3, 4), rand(3, 4), positive(3, 4)), None),
    "MarginRankingLoss": ({"margin": 0.2}, lambda: (rand(5), rand(5), np.sign(rand(5))), None),
    "CosineEmbeddingLoss": (
        {"margin": 0.1},
        lambda: (rand(4, 3), rand(4, 3), np.sign(rand(4))),
        None,
    ),
    "TripletMarginLoss": ({"margin": 0.5}, lambda: (rand(4, 3), rand(4, 3), rand(4, 3)), None),
}

OPTIMIZER_CASES = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.1, "momentum": 0.5, "dampening": 0.1}),
    ("Adam", {"lr": 0.05, "amsgrad": True, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.05, "betas": (0.8, 0.9)}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
    ("NAdam", {"lr": 0.05}),
    ("NAdam", {"lr": 0.05, "decoupled_weight_decay": True, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.05}),
    ("Adamax", {"lr": 0.05, "weight_decay": 0.1}),
    ("Adadelta", {"lr": 1.0, "rho": 0.8}),
    ("ASGD", {"lr": 0.05, "t0": 3}),
    ("Rprop", {"lr": 0.05}),
    ("LBFGS", {"lr": 0.5, "history_size": 4, "max_iter": 5}),
]

SCHEDULER_CASES = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [2, 5]}),
    ("ExponentialLR", {"gamma": 0.9}),
    ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.01}),
    ("LambdaLR", {"lr_lambda": lambda e: 0.9**e}),
    ("MultiplicativeLR", {"lr_lambda": lambda e: 0.95}),
    ("LinearLR", {"start_factor": 0.25, "total_iters": 6}),
    ("ConstantLR", {"factor": 0.5, "total_iters": 4}),
    ("PolynomialLR", {"total_iters": 8, "power": 2.0}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 4}),
    (
        "CyclicLR",
        {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "mode": "exp_range", "gamma": 0.9},
    ),
    ("CosineAnnealingWarmRestarts", {"T_0": 4, "T_mult": 2, "eta_min": 0.001}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": 30}),
]
