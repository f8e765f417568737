"""lucid.transforms' dictionary transforms: arrays and affine stay in agreement (every output
voxel's world position reads the input there), Spacing/Orientation/CropForeground/
ScaleIntensityRange against MONAI, label-balanced random crops, and invert's round trip back
onto the original grid."""

import numpy as np
import pytest

from lucid import transforms as T
from lucid.transforms import _grid

RNG = np.random.default_rng(11)
# a non-RAS, anisotropic grid: array axis 0 runs posterior (2 mm), 1 superior (1 mm), 2 left (3 mm)
AFFINE = np.array(
    [[0.0, 0.0, -3.0, 50.0], [-2.0, 0.0, 0.0, 20.0], [0.0, 1.0, 0.0, -30.0], [0, 0, 0, 1]]
)
SHAPE = (10, 14, 8)


def box_sample():
    """An image (2 channels) and a grid-aligned box label on AFFINE."""
    label = np.zeros((1, *SHAPE), np.int64)
    label[0, 3:7, 4:11, 2:6] = 1
    image = label * 100.0 + RNG.normal(0, 10, (2, *SHAPE))
    return {"image": image.astype(np.float32), "label": label, "affine": AFFINE.copy()}


def voxel_grid(shape):
    return np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in shape], indexing="ij"))


def source_voxels(before, after, shape):
    """Where each output voxel (by its world position) lies in the input's voxel grid."""
    rel = np.linalg.solve(before, after)
    return np.einsum("ij,j...->i...", rel[:3, :3], voxel_grid(shape)) + rel[:3, 3].reshape(
        3, 1, 1, 1
    )


def oblique_affine():
    q = np.linalg.qr(RNG.standard_normal((3, 3)))[0]
    out = np.eye(4)
    out[:3, :3] = q @ np.diag([1.3, 2.5, 0.8])
    out[:3, 3] = RNG.uniform(-50, 50, 3)
    return out


# --- the affine contract: arrays and affine agree after every geometric transform ----------------
@pytest.mark.parametrize("codes", ["RAS", "LPS", "SAR", "ILP"])
def test_orientation_moves_voxels_to_where_the_new_affine_says(codes):
    s = box_sample()
    out = T.Orientation(["image", "label"], codes)(s)
    assert _grid.axcodes(out["affine"]) == tuple(codes)
    src = source_voxels(AFFINE, out["affine"], out["image"].shape[1:])
    idx = np.rint(src).astype(int)
    np.testing.assert_allclose(src, idx, atol=1e-9)  # a permutation: whole voxels
    np.testing.assert_array_equal(out["image"], s["image"][:, idx[0], idx[1], idx[2]])
    np.testing.assert_array_equal(out["label"], s["label"][:, idx[0], idx[1], idx[2]])
    assert out["label"].dtype == np.int64 and s["affine"] is not out["affine"]
    np.testing.assert_array_equal(s["affine"], AFFINE)  # the input sample is not modified


def test_spacing_reads_each_output_voxel_at_its_world_position():
    ndimage = pytest.importorskip("scipy.ndimage")
    s = box_sample()
    for affine in (AFFINE, oblique_affine()):
        s["affine"] = affine
        out = T.Spacing(["image", "label"], (0.7, 1.9, 1.1))(s)
        np.testing.assert_allclose(_grid.spacing(out["affine"]), (0.7, 1.9, 1.1))
        np.testing.assert_allclose(out["affine"] @ [0, 0, 0, 1], affine @ [0, 0, 0, 1])
        src = source_voxels(affine, out["affine"], out["image"].shape[1:])
        # scipy as the independent oracle: trilinear, edges repeated ("border")
        for c in range(2):
            x = s["image"][c].astype(np.float64)
            ref = ndimage.map_coordinates(x, src, order=1, mode="nearest")
            np.testing.assert_allclose(out["image"][c], ref, rtol=1e-5, atol=1e-4)
        hi = np.array(SHAPE).reshape(3, 1, 1, 1) - 1
        near = np.clip(np.rint(src), 0, hi).astype(int)
        np.testing.assert_array_equal(out["label"][0], s["label"][0][near[0], near[1], near[2]])
        assert out["label"].dtype == np.int64


# --- against MONAI -------------------------------------------------------------------------------
def _monai_dict(arrays, affine):
    torch = pytest.importorskip("torch")
    meta = pytest.importorskip("monai.data")
    return {
        k: meta.MetaTensor(torch.tensor(v), affine=torch.tensor(affine)) for k, v in arrays.items()
    }


@pytest.mark.parametrize("padding_mode", ["border", "zeros"])
@pytest.mark.filterwarnings("ignore")
def test_spacing_matches_monai_spacingd(padding_mode):
    mt = pytest.importorskip("monai.transforms")
    s = box_sample()
    # pixdim chosen so that no output voxel falls exactly half-way between two input voxels
    # (there nearest-neighbour ties are broken by rounding noise in MONAI)
    for affine, pix in [(AFFINE, (0.7, 1.3, 1.1)), (oblique_affine(), (0.9, 1.1, 1.7))]:
        s["affine"] = affine
        ours = T.Spacing(
            ["image", "label"], pix, mode=("bilinear", "nearest"), padding_mode=padding_mode
        )(s)
        ref = mt.Spacingd(
            ["image", "label"], pix, mode=("bilinear", "nearest"), padding_mode=padding_mode
        )(_monai_dict({"image": s["image"], "label": s["label"]}, affine))
        assert ours["image"].shape == tuple(ref["image"].shape)
        np.testing.assert_allclose(ours["affine"], ref["image"].affine.numpy(), atol=1e-12)
        np.testing.assert_allclose(ours["image"], ref["image"].numpy(), rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(ours["label"], ref["label"].numpy())


@pytest.mark.parametrize("codes", ["RAS", "LPS", "PIR"])
@pytest.mark.filterwarnings("ignore")
def test_orientation_matches_monai_orientationd(codes):
    mt = pytest.importorskip("monai.transforms")
    s = box_sample()
    for affine in (AFFINE, oblique_affine()):
        s["affine"] = affine
        ours = T.Orientation("image", codes)(s)
        ref = mt.Orientationd("image", axcodes=codes)(_monai_dict({"image": s["image"]}, affine))
        np.testing.assert_array_equal(ours["image"], ref["image"].numpy())
        np.testing.assert_allclose(ours["affine"], ref["image"].affine.numpy(), atol=1e-12)


@pytest.mark.parametrize("allow_smaller, shape", [(False, (8, 17, 6)), (True, (8, 14, 6))])
@pytest.mark.filterwarnings("ignore")
def test_crop_foreground_matches_monai(allow_smaller, shape):
    mt = pytest.importorskip("monai.transforms")
    s = box_sample()
    kw = dict(margin=(2, 5, 1), k_divisible=(4, 1, 3), allow_smaller=allow_smaller)
    ours = T.CropForeground(["image", "label"], "label", **kw)(s)
    ref = mt.CropForegroundd(["image", "label"], "label", **kw)(
        _monai_dict({"image": s["image"], "label": s["label"]}, AFFINE)
    )
    for k in ("image", "label"):
        np.testing.assert_array_equal(ours[k], ref[k].numpy())
    np.testing.assert_allclose(ours["affine"], ref["image"].affine.numpy(), atol=1e-12)
    # the box at its place: voxel u of the crop is voxel start + u of the input
    start = ours["transforms"][-1]["start"]
    # the box 4x7x4 plus margins (2, 5, 1), then x to a multiple of 4, z of 3; without
    # allow_smaller y reaches 1 voxel past each end of the volume (padded with 0)
    assert ours["image"].shape[1:] == shape
    np.testing.assert_array_equal(ours["affine"], AFFINE @ _shift(start))


def _shift(start):
    m = np.eye(4)
    m[:3, 3] = start
    return m


@pytest.mark.filterwarnings("ignore")
def test_scale_intensity_range_matches_monai():
    mt = pytest.importorskip("monai.transforms")
    x = RNG.uniform(-1200, 800, (1, 4, 5, 6)).astype(np.float32)
    for kw in [
        dict(a_min=-1000, a_max=400, b_min=0.0, b_max=1.0, clip=True),
        dict(a_min=-57, a_max=164, b_min=-1.0, b_max=2.0, clip=False),
    ]:
        ours = T.ScaleIntensityRange("image", **kw)({"image": x})["image"]
        ref = mt.ScaleIntensityRanged("image", **kw)({"image": x})["image"]
        assert ours.dtype == np.float32
        np.testing.assert_allclose(ours, np.asarray(ref), rtol=1e-6, atol=1e-6)
    ints = T.ScaleIntensityRange("image", 0, 10)({"image": np.arange(11).reshape(1, 11, 1, 1)})
    assert ints["image"].dtype == np.float32
    np.testing.assert_allclose(ints["image"].ravel(), np.arange(11) / 10)
    assert "transforms" not in ints  # intensity: nothing to invert


def test_axcodes_match_nibabel():
    nib = pytest.importorskip("nibabel")
    for _ in range(20):
        affine = oblique_affine()
        assert _grid.axcodes(affine) == nib.aff2axcodes(affine)
    assert _grid.axcodes(AFFINE) == nib.aff2axcodes(AFFINE) == ("P", "S", "L")


# --- invert: back onto the original grid ---------------------------------------------------------
def test_orientation_spacing_crop_then_invert_restores_the_grid_exactly():
    s = box_sample()
    pipeline = T.Compose(
        [
            T.Orientation(["image", "label"], "RAS"),
            T.Spacing(["image", "label"], 1.0),  # integer upsampling: 2x, 1x, 3x
            T.ScaleIntensityRange("image", -50, 150),
            T.CropForeground(["image", "label"], "label", margin=2),
        ]
    )
    t = pipeline(s)
    assert [e["name"] for e in t["transforms"]] == ["Orientation", "Spacing", "CropForeground"]
    # RAS axes were array axes 2, 0, 1 (3, 2, 1 mm); the box's 4, 4, 7 voxels became 12, 8
    # (ties round to even), 7 at 1 mm, plus a margin of 2 voxels on each side
    assert t["label"].shape == (1, 16, 12, 11)
    np.testing.assert_allclose(_grid.spacing(t["affine"]), 1.0)
    assert _grid.axcodes(t["affine"]) == ("R", "A", "S")

    back = T.invert(t)
    assert back["label"].shape == s["label"].shape and back["label"].dtype == np.int64
    np.testing.assert_array_equal(back["label"], s["label"])  # no voxel mismatch
    np.testing.assert_allclose(back["affine"], AFFINE, atol=1e-12)
    assert back["transforms"] == []
    # the image: inside the crop, the scaled original (upsampled then read back at the
    # original voxel centres); outside, 0 (what the crop dropped is not known)
    covered = T.invert(np.ones((1, *t["image"].shape[1:])), t) > 0.5
    scaled = (s["image"].astype(np.float64) + 50) / 200
    np.testing.assert_allclose(back["image"][:, covered[0]], scaled[:, covered[0]], atol=1e-5)
    assert (back["image"][:, ~covered[0]] == 0).all() and covered.sum() < covered.size

    # a prediction on the transformed grid, mapped back: labels nearest, probabilities bilinear
    np.testing.assert_array_equal(T.invert(t["label"], t), s["label"])
    prob = T.invert(t["label"].astype(np.float32), t)
    assert prob.dtype == np.float32
    np.testing.assert_array_equal(prob > 0.5, s["label"] > 0)
    np.testing.assert_array_equal(T.invert(t["label"], t["transforms"]), s["label"])


def test_a_ball_comes_back_up_to_its_surface_after_fractional_zoom():
    g = voxel_grid((20, 22, 12))
    w = np.einsum("ij,j...->i...", AFFINE[:3, :3], g)
    ball = (((w - w.mean(axis=(1, 2, 3), keepdims=True)) ** 2).sum(0) <= 9.0**2)[None]
    s = {"label": ball.astype(np.uint8), "affine": AFFINE}
    t = T.Compose(
        [
            T.Orientation("label"),
            T.Spacing("label", (1.3, 0.7, 1.1), mode="nearest"),
            T.CropForeground("label", "label", margin=1),
        ]
    )(s)
    back = T.invert(t)["label"]
    wrong = back != s["label"]
    # nearest-neighbour twice at non-integer zooms moves only surface voxels: under 5% of the ball
    assert 0 < wrong.sum() < 0.05 * ball.sum()
    from_edge = np.abs(np.sqrt(((w - w.mean(axis=(1, 2, 3), keepdims=True)) ** 2).sum(0)) - 9)
    assert from_edge[wrong[0]].max() < 2.0  # every mismatch lies within 2 mm of the surface


def test_invert_rejects_arrays_off_the_transformed_grid():
    t = T.Spacing("label", 1.0, mode="nearest")(box_sample())
    with pytest.raises(ValueError, match=r"spatial size \(10, 14, 8\).*Spacing left"):
        T.invert(box_sample()["label"], t)
    with pytest.raises(TypeError, match="invert"):
        T.invert(t["label"])
    with pytest.raises(ValueError, match="mode"):
        T.invert(t["label"], t, mode="cubic")


# --- label-balanced random crops -----------------------------------------------------------------
def test_rand_crop_by_pos_neg_label_balances_and_is_seeded():
    s = box_sample()
    crop = T.RandCropByPosNegLabel(
        ["image", "label"], "label", (3, 3, 3), pos=1, neg=1, num_samples=400, seed=0
    )
    crops = crop(s)
    assert len(crops) == 400 and all(c["image"].shape == (2, 3, 3, 3) for c in crops)
    centres = np.array([c["label"][0, 1, 1, 1] for c in crops])
    # the box lies inside the volume, so a foreground-centred crop keeps its centre on it
    assert 0.42 < centres.mean() < 0.58  # pos/(pos+neg) = 0.5, 400 draws: 4 sigma is +-0.1
    for c in crops[:20]:
        start = np.array(c["transforms"][-1]["start"])
        np.testing.assert_array_equal(c["affine"], AFFINE @ _shift(start))
        box = tuple(slice(a, a + 3) for a in start)
        np.testing.assert_array_equal(c["image"], s["image"][(slice(None), *box)])
    only_fg = T.RandCropByPosNegLabel("label", "label", 3, pos=1, neg=0, num_samples=50, seed=1)
    assert all(c["label"][0, 1, 1, 1] == 1 for c in only_fg(s))
    only_bg = T.RandCropByPosNegLabel("label", "label", 3, pos=0, neg=1, num_samples=50, seed=1)
    assert all(c["label"][0, 1, 1, 1] == 0 for c in only_bg(s))
    again = T.RandCropByPosNegLabel(["image", "label"], "label", 3, num_samples=5)
    a, b = again(s, rng=(0, 2, 9)), again(s, rng=(0, 2, 9))
    assert all(np.array_equal(x["image"], y["image"]) for x, y in zip(a, b))
    c = T.RandCropByPosNegLabel("label", "label", (4, -1, 4), seed=0)(s)[0]
    assert c["label"].shape == (1, 4, 14, 4)  # -1: the whole axis
    back, (x0, _, z0) = T.invert(c)["label"], c["transforms"][-1]["start"]
    np.testing.assert_array_equal(back[:, x0 : x0 + 4, :, z0 : z0 + 4], c["label"])
    assert back.sum() == c["label"].sum() and back.shape == s["label"].shape


def test_a_pipeline_after_random_crops_runs_per_crop_and_inverts_each():
    s = box_sample()
    pipe = T.Compose(
        [
            T.Orientation(["image", "label"]),
            T.RandCropByPosNegLabel(["image", "label"], "label", (4, 4, 4), num_samples=3),
            T.ScaleIntensityRange("image", -50, 150, clip=True),
        ],
        seed=0,
    )
    out = pipe(s)
    assert isinstance(out, list) and len(out) == 3
    for c in out:
        assert c["image"].min() >= 0 and c["image"].max() <= 1
        back = T.invert(c)
        assert back["label"].shape == s["label"].shape
        np.testing.assert_array_equal(back["affine"], AFFINE)
        np.testing.assert_array_equal(back["label"][back["label"] > 0], 1)
        assert (back["label"] <= s["label"]).all()  # the crop's part of the box, in place


# --- clear errors --------------------------------------------------------------------------------
def test_clear_errors():
    s = box_sample()
    with pytest.raises(ValueError, match="mode has 2 entries for 1 keys"):
        T.Spacing("image", 1.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        T.Spacing("image", 1.0, mode="cubic")
    with pytest.raises(ValueError, match="pixdim"):
        T.Spacing("image", (1.0, 2.0), mode="bilinear")
    with pytest.raises(ValueError, match="each of the three axes once"):
        T.Orientation("image", "RRS")
    with pytest.raises(ValueError, match="letters"):
        T.Orientation("image", "XYZ")
    with pytest.raises(KeyError, match="'affine'"):
        T.Orientation("image")({"image": s["image"]})
    with pytest.raises(KeyError, match="allow_missing_keys"):
        T.Orientation(["image", "pred"])(s)
    assert T.Orientation(["image", "pred"], allow_missing_keys=True)(s)["image"].shape[0] == 2
    with pytest.raises(ValueError, match="share one spatial size"):
        T.Orientation(["image", "label"])({**s, "label": s["label"][:, :5]})
    with pytest.raises(ValueError, match=r"\(C, X, Y, Z\)"):
        T.Spacing("image", 1.0, mode="bilinear")({**s, "image": s["image"][0]})
    with pytest.raises(ValueError, match="4x4"):
        T.Orientation("image")({**s, "affine": np.eye(3)})
    with pytest.raises(ValueError, match="larger than the volume"):
        T.RandCropByPosNegLabel("image", "label", 12)(s)
    with pytest.raises(ValueError, match="pos and neg"):
        T.RandCropByPosNegLabel("image", "label", 3, pos=0, neg=0)
    with pytest.raises(ValueError, match="a_min and a_max must differ"):
        T.ScaleIntensityRange("image", 3, 3)
    with pytest.raises(TypeError, match="one sample dict"):
        T.ScaleIntensityRange("image", 0, 1)(s["image"], s["label"])
    with pytest.raises(TypeError, match="sample dict"):
        T.ScaleIntensityRange("image", 0, 1)(s["image"])
    with pytest.raises(ValueError, match="margin"):
        T.CropForeground("image", "label", margin=-1)
    # no foreground: the volume is kept whole (MONAI would return an empty crop)
    empty = {**s, "label": np.zeros_like(s["label"])}
    assert T.CropForeground(["image", "label"], "label")(empty)["image"].shape == (2, *SHAPE)


# --- caching datasets: the deterministic prefix is cached, the random crops are not ---------------
def test_is_random_says_which_dictionary_transforms_draw():
    dict_classes = {
        getattr(T, n)
        for n in T.__all__
        if isinstance(getattr(T, n), type) and issubclass(getattr(T, n), T.MapTransform)
    }
    every = [
        T.Orientation(["image", "label"]),
        T.Spacing(["image", "label"], 1.5),
        T.ScaleIntensityRange("image", 0, 100),
        T.CropForeground(["image", "label"], "label"),
        T.RandCropByPosNegLabel(["image", "label"], "label", 4, num_samples=2),
    ]
    assert dict_classes - {T.MapTransform} == {type(t) for t in every}
    for t in every:
        rng = np.random.default_rng(0)
        t(box_sample(), rng=rng)
        drew = rng.bit_generator.state != np.random.default_rng(0).bit_generator.state
        assert t.is_random == drew, type(t).__name__


def test_persistent_dataset_caches_the_deterministic_steps_and_their_records(tmp_path):
    from lucid.data import PersistentDataset

    pipeline = T.Compose(
        [
            T.Orientation(["image", "label"]),
            T.Spacing(["image", "label"], 1.0),
            T.CropForeground(["image", "label"], "label", margin=2),
            T.RandCropByPosNegLabel(["image", "label"], "label", 4, num_samples=2),
        ]
    )
    s = box_sample()
    ds = PersistentDataset([s], pipeline, cache_dir=tmp_path)
    assert [type(t) for t in ds.chain.prefix] == [T.Orientation, T.Spacing, T.CropForeground]
    first, again = ds[0], ds[0]  # the second read comes from the file
    assert len(first) == len(again) == 2 and len(list(tmp_path.iterdir())) == 1
    for crop in again:
        assert [r["name"] for r in crop["transforms"]][-1] == "RandCropByPosNegLabel"
        back = T.invert(crop)  # the records survived the cache file
        np.testing.assert_allclose(back["affine"], AFFINE, atol=1e-12)
        assert back["label"].shape == s["label"].shape and (back["label"] <= s["label"]).all()
