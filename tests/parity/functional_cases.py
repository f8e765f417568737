"""``lucid.nn.functional`` in the parity table: convolutions, pools, norms, resampling, linear and
embedding, and every functional loss (each against ``torch.nn.functional`` of the same name).
"""

from __future__ import annotations

import numpy as np

import lucid
import lucid.nn.functional as LF
from tests.parity.harness import RNG, Case, c, positive, rand, s

REDUCTIONS = ("mean", "sum", "none")


def build(torch):
    """The functional cases, built with the ``torch`` module."""
    TF = torch.nn.functional
    cases = []

    def f(name, *samples, lucid_fn=None, torch_fn=None, **opts):
        cases.append(
            Case(
                f"F.{name}",
                lucid_fn or getattr(LF, name),
                torch_fn or getattr(TF, name),
                list(samples),
                **opts,
            )
        )

    def per_framework(make):
        """(lucid_fn, torch_fn) from ``make(F, tensor)``: for calls that need fixed tensors
        built inside (running statistics, which are updated in place and take no gradient)."""
        return (
            make(LF, lambda a: lucid.tensor(a, dtype=str(a.dtype))),
            make(TF, lambda a: torch.tensor(a)),
        )

    # --- convolutions --------------------------------------------------------------------------
    f(
        "conv1d",
        s(rand(2, 3, 7), rand(4, 3, 3), rand(4), padding=1),
        s(rand(1, 4, 9), rand(4, 2, 2), stride=2, dilation=2, groups=2),
    )
    f(
        "conv2d",
        s(rand(2, 3, 6, 5), rand(4, 3, 3, 2), rand(4), stride=(2, 1), padding=(1, 0)),
        s(rand(1, 2, 5, 5), rand(3, 2, 3, 3), padding="same", dilation=2),
    )
    f(
        "conv3d",
        s(rand(1, 2, 5, 4, 4), rand(3, 2, 3, 3, 3), rand(3), padding=1),
        s(rand(1, 4, 4, 5, 4), rand(2, 2, 2, 2, 2), stride=2, groups=2),
    )
    f(
        "conv_transpose1d",
        s(rand(2, 3, 5), rand(3, 2, 3), rand(2), stride=2, padding=1, output_padding=1),
    )
    f(
        "conv_transpose2d",
        s(rand(1, 4, 3, 4), rand(4, 1, 3, 2), None, 2, 0, 0, 2),
        s(rand(1, 2, 3, 3), rand(2, 3, 2, 2), rand(3), stride=1, dilation=2),
    )
    f("conv_transpose3d", s(rand(1, 2, 3, 2, 3), rand(2, 2, 2, 2, 2), rand(2), stride=2))
    # --- pools ---------------------------------------------------------------------------------
    for d in (1, 2, 3):
        shape = (1, 2) + (7, 6, 5)[:d]
        f(
            f"avg_pool{d}d",
            s(rand(*shape), 2),
            s(rand(*shape), 3, 2, 1, ceil_mode=True, count_include_pad=False),
        )
        f(
            f"max_pool{d}d",
            s(distinct_like(shape), 2),
            s(distinct_like(shape), 3, 2, 1, ceil_mode=True),
            s(distinct_like(shape), 2, return_indices=True),
        )
        f(f"adaptive_avg_pool{d}d", s(rand(*shape), (3, 2, 4)[:d]))
        f(
            f"adaptive_max_pool{d}d",
            s(distinct_like(shape), (3, 4, 2)[:d]),
            s(distinct_like(shape), 2, return_indices=True),
        )
        f(f"lp_pool{d}d", s(positive(*shape), 2, 2), s(positive(*shape), 3, 3, 2, ceil_mode=True))

        def unpool(F, x, d=d):
            out, idx = getattr(F, f"max_pool{d}d")(x, 2, return_indices=True)
            return getattr(F, f"max_unpool{d}d")(out, idx, 2, output_size=x.shape[2:])

        f(
            f"max_unpool{d}d",
            s(distinct_like(shape)),
            lucid_fn=lambda x, u=unpool: u(LF, x),
            torch_fn=lambda x, u=unpool: u(TF, x),
        )

        def unpool_module(nn, x, d=d):  # the modules: indices from MaxPool(return_indices)
            pooled = getattr(nn, f"MaxPool{d}d")(2, stride=2, return_indices=True)(x)
            return getattr(nn, f"MaxUnpool{d}d")(2, stride=2)(*pooled, output_size=x.shape)

        cases.append(
            Case(
                f"nn.MaxUnpool{d}d",
                lambda x, u=unpool_module: u(lucid.nn, x),
                lambda x, u=unpool_module: u(torch.nn, x),
                [s(distinct_like(shape))],
            )
        )
    # --- normalisation -------------------------------------------------------------------------
    stats = (rand(3) * 0.1, positive(3))

    def batch_norm(training):
        def make(F, T):
            def call(x, w, b):
                rm, rv = T(stats[0]), T(stats[1])
                return F.batch_norm(x, rm, rv, w, b, training=training, momentum=0.3), rm, rv

            return call

        return per_framework(make)

    for training in (True, False):
        lf, tf = batch_norm(training)
        f("batch_norm", s(rand(4, 3, 5), positive(3), rand(3)), lucid_fn=lf, torch_fn=tf)
    f("batch_norm", s(rand(4, 3), None, None, training=True))

    def instance_norm(F, T):
        def call(x):
            rm, rv = T(stats[0]), T(stats[1])
            return F.instance_norm(x, rm, rv, momentum=0.2), rm, rv

        return call

    lf, tf = per_framework(instance_norm)
    f("instance_norm", s(rand(2, 3, 4, 3)), s(rand(2, 3, 5), weight=positive(3), bias=rand(3)))
    f("instance_norm", s(rand(2, 3, 6)), lucid_fn=lf, torch_fn=tf)
    f("group_norm", s(rand(2, 4, 3, 2), 2, positive(4), rand(4)), s(rand(2, 6, 5), 3))
    f("layer_norm", s(rand(2, 3, 4), (4,), positive(4), rand(4)), s(rand(2, 3, 4), (3, 4)))
    f("rms_norm", s(rand(2, 3, 4), (4,), positive(4)), s(rand(2, 3, 4), (3, 4), eps=1e-3))
    f("local_response_norm", s(rand(2, 5, 4, 3), 3), s(rand(2, 4, 6), 2, 1e-2, 0.5, 2.0))
    # --- resampling ----------------------------------------------------------------------------
    for name in ("interpolate", "upsample"):
        f(
            name,
            s(rand(1, 2, 5), scale_factor=2, mode="linear"),
            s(rand(1, 2, 3, 4), size=(5, 7), mode="bilinear", align_corners=True),
            s(rand(1, 1, 3, 4, 2), scale_factor=(2, 1, 1.5), mode="trilinear"),
            s(rand(1, 2, 4, 3), size=(7, 5), mode="bicubic"),
            s(rand(1, 1, 31), scale_factor=1.3, mode="nearest"),
            s(rand(1, 2, 5, 4), size=(3, 7), mode="nearest"),
        )
    f(
        "interpolate",
        s(rand(1, 1, 31), scale_factor=1.3, mode="nearest-exact"),
        s(rand(1, 2, 4, 3), scale_factor=(1.0, 2.0), mode="bilinear"),
    )
    # --- linear, embedding ---------------------------------------------------------------------
    f("linear", s(rand(2, 3, 4), rand(5, 4), rand(5)), s(rand(4), rand(2, 4)))
    ids = np.array([[0, 4, 2], [2, 2, 1]])
    f("embedding", s(ids, rand(5, 3)), s(ids, rand(5, 3), padding_idx=2))

    def renormed(F, T):
        def call(weight):
            return F.embedding(T(ids), weight, max_norm=1.0), weight  # the table is rescaled

        return call

    lf, tf = per_framework(renormed)
    f("embedding", s(rand(5, 3)), lucid_fn=lf, torch_fn=tf, grad=False)
    # --- losses --------------------------------------------------------------------------------
    labels = np.array([0, 2, 1, 1])
    for r in REDUCTIONS:
        f("mse_loss", s(rand(3, 4), rand(3, 4), reduction=r))
        f("l1_loss", s(rand(3, 4), rand(3, 4), reduction=r))
        f("smooth_l1_loss", s(rand(3, 4), rand(3, 4), reduction=r, beta=0.5))
        f("huber_loss", s(rand(3, 4), rand(3, 4), reduction=r, delta=0.7))
        f("binary_cross_entropy", s(unit(3, 4), c(unit(3, 4)), c(positive(3, 4)), reduction=r))
        f(
            "binary_cross_entropy_with_logits",
            s(
                rand(3, 4),
                unit(3, 4),
                reduction=r,
                pos_weight=c(positive(4)),
                weight=c(positive(3, 4)),
            ),
        )
        f(
            "nll_loss",
            s(rand(4, 3), labels, c(positive(3)), reduction=r),
            s(rand(4, 3, 2), np.array([[0, 1], [2, -100], [1, 0], [0, 0]]), reduction=r),
        )
        f(
            "cross_entropy",
            s(rand(4, 3), labels, reduction=r, label_smoothing=0.2),
            s(rand(4, 3), softmax_rows(4, 3), reduction=r),
        )
        f(
            "kl_div",
            s(rand(3, 4), unit(3, 4), reduction="batchmean" if r == "mean" else r),
            s(rand(3, 4), rand(3, 4), reduction=r, log_target=True),
        )
        f("soft_margin_loss", s(rand(3, 4), c(np.sign(rand(3, 4))), reduction=r))
        f("multilabel_soft_margin_loss", s(rand(3, 4), c((rand(3, 4) > 0) * 1.0), reduction=r))
        f(
            "multilabel_margin_loss",
            s(rand(2, 4), np.array([[3, 0, -1, 1], [1, 2, 3, -1]]), reduction=r),
            grad2_fd="PyTorch has no double backward for multilabel_margin_loss",
        )
        f(
            "multi_margin_loss",
            s(rand(4, 3), labels, p=2, margin=0.7, weight=c(positive(3)), reduction=r),
            grad2_fd="PyTorch has no double backward for multi_margin_loss",
        )
        f("hinge_embedding_loss", s(rand(3, 4), c(np.sign(rand(3, 4))), margin=0.5, reduction=r))
        f(
            "poisson_nll_loss",
            s(rand(3, 4), positive(3, 4), reduction=r),
            s(positive(3, 4), positive(3, 4) * 3, log_input=False, full=True, reduction=r),
        )
        f(
            "gaussian_nll_loss",
            s(rand(3, 4), rand(3, 4), positive(3, 4), reduction=r),
            s(rand(3, 4), rand(3, 4), positive(3, 1), full=True, reduction=r),
        )
        f("margin_ranking_loss", s(rand(5), rand(5), c(np.sign(rand(5))), margin=0.2, reduction=r))
        f(
            "cosine_embedding_loss",
            s(rand(4, 3), rand(4, 3), c(np.sign(rand(4))), margin=0.1, reduction=r),
        )
        f(
            "triplet_margin_loss",
            s(rand(4, 3), rand(4, 3), rand(4, 3), margin=0.5, reduction=r),
            s(rand(4, 3), rand(4, 3), rand(4, 3), p=1.0, swap=True, reduction=r),
        )
    return cases


def distinct_like(shape):
    """float64 data without ties (max pools pick one element unambiguously)."""
    n = int(np.prod(shape))
    return (RNG.permutation(n).reshape(shape) + RNG.uniform(0.1, 0.9, shape)) / n * 4 - 2


def unit(*shape):
    """Probabilities in [0.1, 0.9]."""
    return RNG.uniform(0.1, 0.9, shape)


def softmax_rows(*shape):
    """Rows of class probabilities (soft cross-entropy targets)."""
    e = np.exp(rand(*shape))
    return e / e.sum(axis=-1, keepdims=True)
