"""Tests for the synthetic datasets in ``lucid.datasets`` (NumPy only)."""

import time

import numpy as np
import pytest

from lucid.datasets import MOTION_NAMES, SHAPE_NAMES, make_motion_clips, make_shapes3d

# ---------------------------------------------------------------------------------------
# Small NumPy classifiers / features used as probes
# ---------------------------------------------------------------------------------------


def nearest_centroid_acc(f_train, y_train, f_test, y_test):
    """Accuracy of a nearest-centroid classifier on standardised features."""
    f_train = np.asarray(f_train, np.float64).reshape(len(f_train), -1)
    f_test = np.asarray(f_test, np.float64).reshape(len(f_test), -1)
    mu, sd = f_train.mean(0), f_train.std(0) + 1e-12
    a, b = (f_train - mu) / sd, (f_test - mu) / sd
    classes = np.unique(y_train)
    cent = np.stack([a[y_train == c].mean(0) for c in classes])
    pred = classes[((b[:, None, :] - cent[None]) ** 2).sum(-1).argmin(1)]
    return float((pred == y_test).mean())


def knn_acc(f_train, y_train, f_test, y_test, k=15):
    """Accuracy of a k-nearest-neighbour classifier on a single scalar feature."""
    d = np.abs(f_test[:, None] - f_train[None, :])
    nn = np.argsort(d, axis=1)[:, :k]
    votes = np.stack([np.bincount(y_train[row], minlength=y_train.max() + 1) for row in nn])
    return float((votes.argmax(1) == y_test).mean())


def shape_features(vols):
    """Rotation/translation-invariant shape features: normalised inertia eigenvalues,
    radial kurtosis, and log volume (last column) of the thresholded occupancy."""
    n, s = vols.shape[0], vols.shape[-1]
    w = (vols[:, 0] > 0.5).reshape(n, -1).astype(np.float64)
    ax = np.arange(s) + 0.5
    grid = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3)
    vol = w.sum(1)
    mu = w @ grid / vol[:, None]
    rel = grid[None] - mu[:, None]
    cov = np.einsum("nv,nvi,nvj->nij", w, rel, rel) / vol[:, None, None]
    eig = np.linalg.eigvalsh(cov) / vol[:, None] ** (2.0 / 3.0)
    r2 = (rel**2).sum(-1)
    m2, m4 = (w * r2).sum(1) / vol, (w * r2**2).sum(1) / vol
    return np.column_stack([eig, m4 / m2**2, np.log(vol)])


def flow_features(clips):
    """Translation-invariant motion features from frame differences: the normalised
    correlations of the temporal difference with the x and y spatial gradients (signed
    optical-flow estimate) and its energy."""
    f = clips[:, 0].astype(np.float64)
    it = f[:, 1:] - f[:, :-1]
    m = 0.5 * (f[:, 1:] + f[:, :-1])
    ix = 0.5 * (np.roll(m, -1, -1) - np.roll(m, 1, -1))
    iy = 0.5 * (np.roll(m, -1, -2) - np.roll(m, 1, -2))
    g = (ix**2 + iy**2).sum((1, 2, 3))
    return np.column_stack(
        [(it * ix).sum((1, 2, 3)) / g, (it * iy).sum((1, 2, 3)) / g, (it**2).sum((1, 2, 3)) / g]
    )


# ---------------------------------------------------------------------------------------
# shapes3d
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("make, n", [(make_shapes3d, 40), (make_motion_clips, 30)])
def test_same_seed_same_data_other_seed_other_data(make, n):
    a, la = make(n, seed=3)
    b, lb = make(n, seed=3)
    c, lc = make(n, seed=4)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    assert not np.array_equal(a, c)
    assert not np.array_equal(la, lc)


@pytest.mark.parametrize("n,size", [(23, 16), (7, 12), (0, 16)])
def test_shapes3d_shapes_dtypes_balance(n, size):
    x, y = make_shapes3d(n, size=size, seed=1)
    assert x.shape == (n, 1, size, size, size) and x.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    counts = np.bincount(y, minlength=len(SHAPE_NAMES))
    k = len(SHAPE_NAMES)
    expected = np.full(k, n // k)
    expected[: n % k] += 1
    assert np.array_equal(counts, expected)


def test_shapes3d_shuffled_and_class_subset():
    _, y = make_shapes3d(100, seed=0)
    assert not np.all(np.diff(y) >= 0)
    x, y = make_shapes3d(10, seed=0, classes=("cube", "torus"))
    assert set(y.tolist()) == {0, 1} and np.bincount(y).tolist() == [5, 5]
    with pytest.raises(ValueError):
        make_shapes3d(4, classes=("sphere", "pyramid"))


def test_shapes3d_value_ranges():
    noisy, y = make_shapes3d(200, seed=5, noise=0.1)
    clean, y2 = make_shapes3d(200, seed=5, noise=0.0)
    assert np.array_equal(y, y2)
    assert clean.min() >= 0.0 and clean.max() <= 1.0
    # every sample has a solid interior and a soft (anti-aliased) edge
    assert np.all(clean.max(axis=(1, 2, 3, 4)) == 1.0)
    assert np.all(((clean > 0) & (clean < 1)).any(axis=(1, 2, 3, 4)))
    # the shape, including its half-voxel soft edge, stays inside the grid
    faces = (
        [clean[:, :, i] for i in (0, -1)]
        + [clean[:, :, :, i] for i in (0, -1)]
        + [clean[..., i] for i in (0, -1)]
    )
    assert max(float(np.abs(f).max()) for f in faces) == 0.0
    resid = noisy - clean
    assert abs(float(resid.std()) - 0.1) < 0.005 and abs(float(resid.mean())) < 0.005
    binary, _ = make_shapes3d(50, seed=5, noise=0.0, soft=False)
    assert set(np.unique(binary).tolist()) == {0.0, 1.0}


def test_shapes3d_generation_time():
    make_shapes3d(10)  # warm-up
    t0 = time.perf_counter()
    x, _ = make_shapes3d(2000, size=16, seed=0)
    elapsed = time.perf_counter() - t0
    assert x.shape == (2000, 1, 16, 16, 16)
    assert elapsed < 5.0, f"make_shapes3d(2000) took {elapsed:.2f} s"


def test_shapes3d_separable_by_shape_not_by_volume():
    xtr, ytr = make_shapes3d(1000, seed=11)
    xte, yte = make_shapes3d(1000, seed=12)
    ftr, fte = shape_features(xtr), shape_features(xte)
    # geometric features separate the classes well (chance = 0.2)
    assert nearest_centroid_acc(ftr[:, :-1], ytr, fte[:, :-1], yte) > 0.85
    # ...but the voxel count alone does not
    assert nearest_centroid_acc(ftr[:, -1:], ytr, fte[:, -1:], yte) < 0.35
    assert knn_acc(ftr[:, -1], ytr, fte[:, -1], yte) < 0.35
    soft_vol_tr = xtr.sum(axis=(1, 2, 3, 4))
    soft_vol_te = xte.sum(axis=(1, 2, 3, 4))
    assert knn_acc(soft_vol_tr, ytr, soft_vol_te, yte) < 0.35
    # the per-class voxel-count ranges overlap heavily
    lo = max(ftr[ytr == c, -1].min() for c in range(5))
    hi = min(ftr[ytr == c, -1].max() for c in range(5))
    assert hi - lo > 0.8  # log-volume overlap shared by all classes


# ---------------------------------------------------------------------------------------
# motion clips
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("n,frames,size", [(23, 8, 16), (11, 4, 12), (0, 8, 16)])
def test_motion_shapes_dtypes_balance(n, frames, size):
    x, y = make_motion_clips(n, frames=frames, size=size, seed=2)
    assert x.shape == (n, 1, frames, size, size) and x.dtype == np.float32
    assert y.shape == (n,) and y.dtype == np.int64
    k = len(MOTION_NAMES)
    expected = np.full(k, n // k)
    expected[: n % k] += 1
    assert np.array_equal(np.bincount(y, minlength=k), expected)


def test_motion_value_ranges_and_motion():
    noisy, y = make_motion_clips(300, seed=6, noise=0.05)
    clean, y2 = make_motion_clips(300, seed=6, noise=0.0)
    assert np.array_equal(y, y2)
    assert clean.min() >= 0.0 and clean.max() <= 1.0
    assert np.all(clean.max(axis=(1, 2, 3, 4)) >= 0.5)  # the object is visible
    resid = noisy - clean
    assert abs(float(resid.std()) - 0.05) < 0.003
    # static clips do not change; moving clips do; mass is conserved (wrap-around)
    change = np.abs(np.diff(clean[:, 0], axis=1)).sum(axis=(1, 2, 3))
    static = y == MOTION_NAMES.index("static")
    assert np.all(change[static] < 1e-5) and np.all(change[~static] > 0.5)
    mass = clean[:, 0].sum(axis=(2, 3))
    assert np.allclose(mass, mass[:, :1], rtol=1e-3)


def test_motion_direction_of_centroid():
    clean, y = make_motion_clips(200, seed=7, noise=0.0)
    size = clean.shape[-1]
    f = clean[:, 0].astype(np.float64)
    ang = 2 * np.pi * np.arange(size) / size
    # circular centroid (wrap-aware) along x and y for every frame
    px = np.angle((f.sum(2) * np.exp(1j * ang)).sum(-1))
    py = np.angle((f.sum(3) * np.exp(1j * ang)).sum(-1))
    step = lambda p: np.angle(np.exp(1j * np.diff(p, axis=1))).mean(1) * size / (2 * np.pi)
    vx, vy = step(px), step(py)
    want = {"static": (0, 0), "left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}
    for name, (wy, wx) in want.items():
        sel = y == MOTION_NAMES.index(name)
        for v, w in ((vx[sel], wx), (vy[sel], wy)):
            if w == 0:
                assert np.all(np.abs(v) < 1e-6)
            else:
                assert np.all(np.sign(v) == w) and np.all(np.abs(v) > 0.9)


def test_motion_single_frame_is_uninformative_but_differences_are():
    xtr, ytr = make_motion_clips(1500, seed=21)
    xte, yte = make_motion_clips(1500, seed=22)
    chance = 1.0 / len(MOTION_NAMES)
    # single frames: raw pixels and translation-invariant amplitude spectra -> chance level
    for t in (0, xtr.shape[2] // 2, xtr.shape[2] - 1):
        acc = nearest_centroid_acc(xtr[:, 0, t], ytr, xte[:, 0, t], yte)
        assert acc < chance + 0.08, (t, acc)
    spec = lambda x: np.abs(np.fft.fft2(x[:, 0, 0].astype(np.float64)))
    assert nearest_centroid_acc(spec(xtr), ytr, spec(xte), yte) < chance + 0.08
    # frame 0 brightness statistics are class-independent too
    stats = lambda x: np.column_stack(
        [x[:, 0, 0].sum((1, 2)), x[:, 0, 0].max((1, 2)), (x[:, 0, 0] ** 2).sum((1, 2))]
    )
    assert nearest_centroid_acc(stats(xtr), ytr, stats(xte), yte) < chance + 0.08
    # frame differences: far above chance
    assert nearest_centroid_acc(flow_features(xtr), ytr, flow_features(xte), yte) > 0.9
