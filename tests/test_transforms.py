"""lucid.transforms: each transform does what it says on a known volume, joint image/label
application, label integrity under resampling, determinism from a seed, and clear errors."""

import numpy as np
import pytest

from lucid import transforms as T

RNG = np.random.default_rng(3)


def volume(c=2, shape=(6, 7, 8)):
    return RNG.standard_normal((c,) + shape).astype(np.float32)


def blobs(shape=(12, 12, 12)):
    """A label map with three solid boxes (classes 1-3) on background 0."""
    lab = np.zeros(shape, np.int64)
    lab[1:5, 1:6, 2:7] = 1
    lab[6:11, 2:8, 6:11] = 2
    lab[2:6, 7:11, 1:4] = 3
    return lab


# --- geometry on known volumes ------------------------------------------------------------------
def test_flip_equals_np_flip_for_image_and_label():
    x, lab = volume(), blobs((6, 7, 8))
    fx, flab = T.RandomFlip(axes=(0, 2), p=1.0)(x, lab)
    np.testing.assert_array_equal(fx, np.flip(x, (1, 3)))
    np.testing.assert_array_equal(flab, np.flip(lab, (0, 2)))
    assert T.RandomFlip(p=0.0)(x) is x


def test_rotate90_matches_rot90_and_four_turns_are_identity():
    x = volume(shape=(4, 6, 6))
    once = T.RandomRotate90(plane=(1, 2), p=1.0, max_k=1)
    np.testing.assert_array_equal(once(x), np.rot90(x, 1, (2, 3)))
    y = x
    for _ in range(4):
        y = once(y)
    np.testing.assert_array_equal(y, x)
    # a non-square plane swaps its sizes, for the label too
    img, lab = T.RandomRotate90(plane=(0, 1), p=1.0, max_k=1)(
        volume(shape=(4, 6, 5)), blobs((4, 6, 5))
    )
    assert img.shape == (2, 6, 4, 5) and lab.shape == (6, 4, 5)


def test_center_crop_pad_and_random_crop():
    x = np.arange(2 * 6 * 7 * 8, dtype=np.float32).reshape(2, 6, 7, 8)
    np.testing.assert_array_equal(T.CenterCrop((4, 3, 8))(x), x[:, 1:5, 2:5, :])
    padded = T.PadToSize((9, 7, 5), value=-1.0)(x)
    assert padded.shape == (2, 9, 7, 8)  # only the short axis grows; longer ones stay
    np.testing.assert_array_equal(padded[:, 1:7], x)
    assert (padded[:, 0] == -1).all() and (padded[:, 7:] == -1).all()
    img, lab = T.RandomCrop(4, seed=0)(x, x[0].astype(np.int64))
    # the label is cut at the same place: find the image's block in the volume
    hits = [
        (d, h, w)
        for d in range(3)
        for h in range(4)
        for w in range(5)
        if np.array_equal(x[:, d : d + 4, h : h + 4, w : w + 4], img)
    ]
    assert len(hits) == 1
    d, h, w = hits[0]
    np.testing.assert_array_equal(lab, x[0, d : d + 4, h : h + 4, w : w + 4])
    _, lab = T.PadToSize(10)(x, blobs((6, 7, 8)))
    assert lab.shape == (10, 10, 10) and lab[0].max() == 0


def test_affine_identity_is_exact_and_translation_shifts():
    x, lab = volume(), blobs((6, 7, 8))
    ix, ilab = T.Affine()(x, lab)
    np.testing.assert_array_equal(ix, x)
    np.testing.assert_array_equal(ilab, lab)
    sx, slab = T.Affine(translation=(0, 1, 0))(x, lab)
    np.testing.assert_array_equal(sx[:, :, 1:], x[:, :, :-1])  # content moved +1 along H
    assert (sx[:, :, 0] == 0).all()
    np.testing.assert_array_equal(slab[:, 1:], lab[:, :-1])
    half = T.Affine(translation=(0, 0, 0.5))(x)  # half a voxel: the neighbours' mean
    np.testing.assert_allclose(half[..., 1:], (x[..., 1:] + x[..., :-1]) / 2, rtol=1e-6, atol=1e-6)


def test_affine_rotation_by_90_degrees_equals_rot90():
    x = volume(shape=(5, 7, 7))
    r = T.Affine(rotation=(np.pi / 2, 0, 0))(x)
    candidates = [np.rot90(x, k, (2, 3)) for k in (1, 3)]
    assert any(np.allclose(r, c, atol=1e-5) for c in candidates)


def test_affine_scale_two_zooms_about_the_centre():
    x = np.zeros((1, 9, 9, 9), np.float32)
    x[0, 4, 4, 4], x[0, 4, 4, 5] = 1.0, 2.0
    z = T.Affine(scale=2.0)(x)
    # source position of output voxel i is (i - 4) / 2 + 4: output 6 reads input 5
    assert z[0, 4, 4, 6] == pytest.approx(2.0) and z[0, 4, 4, 5] == pytest.approx(1.5)


def test_random_affine_keeps_labels_integer_and_values_in_the_set():
    lab = blobs()
    img = lab[None].astype(np.float32)
    t = T.RandomAffine(degrees=20, scale=(0.9, 1.1), translate=1.0, seed=1)
    for _ in range(3):
        wimg, wlab = t(img, lab)
        assert wlab.dtype == lab.dtype and wimg.dtype == np.float32
        assert set(np.unique(wlab)) == {0, 1, 2, 3}
        # the label moved with the image: where the image is a pure class, the label agrees
        pure = np.isclose(wimg[0], np.round(wimg[0]), atol=1e-6) & (wimg[0] > 0.5)
        assert (wlab[pure] == np.round(wimg[0][pure])).mean() > 0.97


def test_resize_image_like_trilinear_and_label_nearest():
    torch = pytest.importorskip("torch")
    x, lab = volume(shape=(4, 5, 6)), blobs((4, 5, 6))
    rx, rlab = T.Resize((7, 3, 9))(x, lab)
    ref = torch.nn.functional.interpolate(
        torch.tensor(x[None], dtype=torch.float64),
        size=(7, 3, 9),
        mode="trilinear",
        align_corners=False,
    )[0].numpy()
    np.testing.assert_allclose(rx, ref, rtol=1e-5, atol=1e-6)
    ref_lab = torch.nn.functional.interpolate(
        torch.tensor(lab[None, None], dtype=torch.float64), size=(7, 3, 9), mode="nearest"
    )[0, 0].numpy()
    np.testing.assert_array_equal(rlab, ref_lab.astype(np.int64))


def test_resize_doubling_linear_values():
    x = np.arange(4, dtype=np.float32).reshape(1, 1, 1, 4)
    out = T.Resize((1, 1, 8))(x)[0, 0, 0]
    np.testing.assert_allclose(out, [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3])


# --- intensity ----------------------------------------------------------------------------------
def test_normalize_intensity():
    x = volume() * 3 + 5
    n = T.NormalizeIntensity()(x)
    np.testing.assert_allclose(n.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(n.std(axis=(1, 2, 3)), 1, atol=1e-5)
    fixed = T.NormalizeIntensity(mean=[1.0, 2.0], std=2.0)(x)
    np.testing.assert_allclose(fixed[1], (x[1] - 2) / 2, rtol=1e-6)
    masked = x.copy()
    masked[:, :2] = 0
    m = T.NormalizeIntensity(nonzero=True)(masked)
    assert (m[:, :2] == 0).all()
    np.testing.assert_allclose(m[:, 2:].mean(axis=(1, 2, 3)), 0, atol=1e-5)


def test_scale_shift_gamma_noise():
    x = volume()
    s = T.ScaleIntensity(-1, 1)(x)
    assert s.min() == pytest.approx(-1) and s.max() == pytest.approx(1)
    np.testing.assert_allclose(T.ShiftIntensity(2.5)(x), x + 2.5)
    g = T.RandomGamma((2.0, 2.0), p=1.0)(x)
    lo, hi = x.min(), x.max()
    np.testing.assert_allclose(
        g, lo + ((x - lo) / (hi - lo)) ** 2 * (hi - lo), rtol=1e-5, atol=1e-5
    )
    noisy = T.GaussianNoise(std=0.5, p=1.0, seed=0)(np.zeros((1, 20, 20, 20), np.float32))
    assert abs(noisy.mean()) < 0.02 and noisy.std() == pytest.approx(0.5, rel=0.03)
    ints = T.ShiftIntensity(1)(np.zeros((1, 2, 2, 2), np.int64))
    assert ints.dtype == np.float32


def test_intensity_transforms_leave_the_label_alone():
    x, lab = volume(shape=(6, 7, 8)), blobs((6, 7, 8))
    for t in (
        T.NormalizeIntensity(),
        T.ScaleIntensity(),
        T.ShiftIntensity((0, 1)),
        T.RandomGamma(p=1.0),
        T.GaussianNoise(p=1.0),
    ):
        _, out = t(x, lab)
        np.testing.assert_array_equal(out, lab)


# --- seeding, composition, errors ---------------------------------------------------------------
def pipeline(seed=None):
    return T.Compose(
        [
            T.RandomFlip(p=0.5),
            T.RandomRotate90(p=0.5),
            T.RandomCrop(6),
            T.RandomAffine(degrees=10, translate=1),
            T.RandomGamma(p=0.5),
            T.GaussianNoise(0.1, p=0.5),
        ],
        seed=seed,
    )


def test_same_seed_same_output_and_rng_argument_overrides():
    x, lab = volume(shape=(8, 8, 8)), blobs((8, 8, 8))
    a, b = pipeline(seed=4), pipeline(seed=4)
    for _ in range(3):
        (xa, la), (xb, lb) = a(x, lab), b(x, lab)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(la, lb)
    first = pipeline()(x, lab, rng=(7, 0, 11))  # e.g. (seed, epoch, index) inside a Dataset
    again = pipeline()(x, lab, rng=np.random.default_rng((7, 0, 11)))
    np.testing.assert_array_equal(first[0], again[0])
    other = pipeline()(x, lab, rng=(7, 0, 12))
    assert not np.array_equal(first[0], other[0])
    assert "RandomFlip" in repr(pipeline())


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"\(C, D, H, W\)"):
        T.RandomFlip()(np.zeros((4, 4, 4)))
    with pytest.raises(TypeError, match="numpy array"):
        T.RandomFlip()([[[[0.0]]]])
    with pytest.raises(ValueError, match="spatial size"):
        T.RandomFlip()(np.zeros((1, 4, 4, 4)), np.zeros((4, 4, 5)))
    with pytest.raises(ValueError, match="smaller than the crop"):
        T.RandomCrop(5)(np.zeros((1, 4, 8, 8)))
    with pytest.raises(ValueError, match="p must be in"):
        T.RandomFlip(p=2)
    with pytest.raises(ValueError, match="plane"):
        T.RandomRotate90(plane=(1, 1))
    with pytest.raises(ValueError, match="one value per channel"):
        T.NormalizeIntensity(mean=[1, 2, 3])(np.ones((2, 2, 2, 2)))
