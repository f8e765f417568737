"""Random convolution problems shared by the kernel-set tests (test_backend_conv.py for MLX,
test_numpy_conv.py for NumPy): one generator, one oracle call, one error measure."""

import numpy as np

from tests import reference as ref


def rel_err(got, want):
    """max |got - want| / max |want|, in float64."""
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


def make_configs(count, seed, hard_every, max_batch, extent, max_dense_channels=4, max_hard_pad=4):
    """Random conv problems cycling through 1D/2D/3D and dense / 2 groups / depthwise (with a
    depth multiplier); every ``hard_every``-th one forces the hard corners (stride >= 2, kernels
    >= 2, padding up to ``max_hard_pad - 1``, wider than the kernel's reach). ``extent[nd]`` is
    how much larger than the smallest valid input a spatial size may be."""
    rng = np.random.default_rng(seed)
    configs = []
    for i in range(count):
        nd = 1 + i % 3
        hard = i % hard_every == 0
        k = tuple(int(v) for v in rng.integers(2 if hard else 1, 5, nd))
        s = tuple(int(v) for v in rng.integers(2 if hard else 1, 4, nd))
        d = tuple(int(v) for v in rng.integers(1, 4, nd))
        pad = tuple(
            (int(rng.integers(0, max_hard_pad if hard else 3)), int(rng.integers(0, 3)))
            for _ in range(nd)
        )
        kind = ("dense", "groups2", "depthwise")[(i // 3) % 3]
        if kind == "dense":
            groups, cig = 1, int(rng.integers(1, max_dense_channels + 1))
            og = int(rng.integers(1, max_dense_channels + 1))
        elif kind == "groups2":
            groups, cig, og = 2, int(rng.integers(1, 4)), int(rng.integers(1, 3))
        else:
            groups, cig, og = int(rng.integers(2, 6)), 1, int(rng.integers(1, 3))
        n = int(rng.integers(1, max_batch + 1))
        spatial = []
        for kk, dd, (lo, hi) in zip(k, d, pad):
            least = max(1, dd * (kk - 1) + 1 - lo - hi)  # at least one output position
            spatial.append(int(rng.integers(least, least + extent[nd])))
        configs.append(
            dict(
                n=n,
                groups=groups,
                cig=cig,
                og=og,
                spatial=tuple(spatial),
                kernel=k,
                stride=s,
                dilation=d,
                padding=pad,
            )
        )
    return configs


def make_patch_configs(count, seed):
    """Random convolutions whose windows do not overlap and need no padding (the MLX path's
    matmul route): cycling 1D/2D/3D, dense / 2 groups / depthwise, and 1x1 stride 1, 1x1
    strided (a subsample; dilation is then irrelevant and random), patchify (stride == kernel)
    and kernels narrower than the stride; spatial sizes that the stride does not divide
    included."""
    rng = np.random.default_rng(seed)
    configs = []
    for i in range(count):
        nd = 1 + i % 3
        kind = ("pointwise", "subsample", "patchify", "narrow")[(i // 3) % 4]
        s = (1,) * nd if kind == "pointwise" else tuple(int(v) for v in rng.integers(2, 4, nd))
        if kind in ("pointwise", "subsample"):
            k = (1,) * nd
        elif kind == "patchify":
            k = s
        else:
            k = tuple(int(rng.integers(1, v + 1)) for v in s)
        d = tuple(int(v) for v in rng.integers(1, 4, nd)) if kind == "subsample" else (1,) * nd
        groups, cig, og = (
            (1, int(rng.integers(1, 4)), int(rng.integers(1, 4))),
            (2, int(rng.integers(1, 3)), int(rng.integers(1, 3))),
            (int(rng.integers(2, 5)), 1, int(rng.integers(1, 3))),
        )[(i // 12) % 3]
        spatial = tuple(kk + int(rng.integers(0, 3 * ss)) for kk, ss in zip(k, s))
        configs.append(
            dict(
                n=int(rng.integers(1, 3)),
                groups=groups,
                cig=cig,
                og=og,
                spatial=spatial,
                kernel=k,
                stride=s,
                dilation=d,
                padding=((0, 0),) * nd,
            )
        )
    return configs


def assert_covers_corners(cs):
    """The sweep hits every corner the kernel contract cares about."""
    assert {len(c["kernel"]) for c in cs} == {1, 2, 3}
    assert {k for c in cs for k in c["kernel"]} == {1, 2, 3, 4}
    assert {s for c in cs for s in c["stride"]} == {1, 2, 3}
    assert {d for c in cs for d in c["dilation"]} == {1, 2, 3}
    assert any(lo != hi for c in cs for lo, hi in c["padding"])
    assert any(
        lo > d * (k - 1)
        for c in cs
        for (lo, _), d, k in zip(c["padding"], c["dilation"], c["kernel"])
    )
    kinds = {
        (
            len(c["kernel"]),
            "dense" if c["groups"] == 1 else "depthwise" if c["cig"] == 1 else "grouped",
        )
        for c in cs
    }
    assert kinds == {(nd, kd) for nd in (1, 2, 3) for kd in ("dense", "grouped", "depthwise")}
    assert any(c["cig"] == 1 and c["og"] > 1 and c["groups"] > 2 for c in cs)  # depth multiplier
    assert {c["n"] for c in cs} >= {1, 2}
    # strides that do not divide the padded extent: some input positions are never read
    assert any(
        (n + lo + hi - d * (k - 1) - 1) % s
        for c in cs
        for n, k, s, d, (lo, hi) in zip(
            c["spatial"], c["kernel"], c["stride"], c["dilation"], c["padding"]
        )
    )


def config_id(c):
    """A readable test id for a config."""
    return "{}d-g{}x{}x{}-k{}-s{}-d{}-p{}-S{}-n{}".format(
        len(c["kernel"]),
        c["groups"],
        c["cig"],
        c["og"],
        "".join(map(str, c["kernel"])),
        "".join(map(str, c["stride"])),
        "".join(map(str, c["dilation"])),
        "".join(f"{lo}{hi}" for lo, hi in c["padding"]),
        "x".join(map(str, c["spatial"])),
        c["n"],
    )


def conv_args(c):
    """(stride, padding, dilation, groups) of a config."""
    return c["stride"], c["padding"], c["dilation"], c["groups"]


def make_data(c, seed):
    """x, w, dy (float64) and the oracle's (y, dx, dw) for config ``c``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((c["n"], c["groups"] * c["cig"]) + c["spatial"])
    w = rng.standard_normal((c["groups"] * c["og"], c["cig"]) + c["kernel"])
    y = ref.conv_forward(x, w, *conv_args(c))
    dy = rng.standard_normal(y.shape)
    dx = ref.conv_input_grad(dy, w, c["spatial"], *conv_args(c))
    dw = ref.conv_weight_grad(x, dy, c["kernel"], *conv_args(c))
    return x, w, dy, (y, dx, dw)
