"""Segment generated scans with a 3D U-Net, from files to metrics (`make demo-seg`).

    python examples/segment_volumes.py [--epochs 32] [--train 16] [--val 4]
        [--shape 64,64,48] [--spacing 1,1,1.5] [--crop 16] [--samples 2] [--batch-size 2]
        [--roi 32] [--features 16,32,64] [--format auto] [--seed 0] [--out runs/segment]
        [--quick]

The job, step by step:

1. **Files.** ``--train`` + ``--val`` scans of ``--shape`` voxels of ``--spacing`` mm (anisotropic:
   1.5 mm slices) are generated and written as NIfTI (``lucid.io.write_volume``; safetensors
   through ``lucid.save`` when nibabel is missing or ``--format safetensors``), stored in LPS
   layout like a DICOM-derived scan. Each scan holds balls (label 1), boxes (2) and rods (3),
   drawn in millimetres so they keep their shape on the anisotropic grid, with intensities 100,
   200, 300 plus Gaussian noise of 35 on a background of 0 (about 8% of single voxels look like a
   neighbouring class: the network has to use their neighbourhood).
2. **Data.** The files are read back (``lucid.io.read_sample``) by a ``lucid.data.CacheDataset``
   whose deterministic steps (read, ``Orientation`` to RAS, ``ScaleIntensityRange``) run once per
   scan; on every read ``RandCropByPosNegLabel`` cuts ``--samples`` label-balanced ``--crop``^3
   crops (two thirds centred on an object, the rest on background) and ``RandomFlip`` flips
   them.
3. **Training.** ``UNet3d`` (batch norm) with ``DiceCELoss(to_onehot_y=True, softmax=True,
   batch=True)``, Adam with a OneCycle schedule.
4. **Validation.** ``sliding_window_inference`` (``--roi`` windows, overlap 0.25, Gaussian
   blending) on the whole held-out scans; the prediction is mapped back onto the file's grid
   (``lucid.transforms.invert``) and scored there against the label file: per-class Dice and
   HD95 in mm (``lucid.metrics``, with the file's voxel spacing).
5. **Outputs** in ``--out``: the checkpoint, one prediction written next to its scan (same affine),
   a PNG montage of label and prediction over the scan (``lucid.viz.show_slices``, when
   matplotlib is installed), and the total time and peak memory.

``--quick`` runs the whole job on tiny settings in a few seconds (the test suite uses it).
Measured results are in docs/segmentation.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time

import numpy as np

import lucid
import lucid.io
import lucid.nn as nn
from lucid import metrics, transforms as T
from lucid.data import CacheDataset, DataLoader, default_collate
from lucid.inference import sliding_window_inference
from lucid.models import UNet3d

CLASSES = ("background", "ball", "box", "rod")
KEYS = ["image", "label"]
INTENSITY = 100.0  # class k has intensity k * INTENSITY ("HU"), plus noise
NOISE = 35.0


# -- 1. files ---------------------------------------------------------------------------------


def make_volume(rng, shape, spacing):
    """One scan: an (X, Y, Z) float32 image and its uint8 label map. Objects are placed and
    sized in mm, so a ball stays round on an anisotropic grid; every class occurs."""
    axes = [np.arange(n, dtype=np.float32) * s for n, s in zip(shape, spacing)]
    mm = np.stack(np.meshgrid(*axes, indexing="ij"))  # (3, X, Y, Z) voxel centres in mm
    extent = np.array([(n - 1) * s for n, s in zip(shape, spacing)], np.float32)
    label = np.zeros(shape, np.uint8)
    scale = min(extent) / 64.0  # object sizes follow the field of view (tiny in --quick)
    kinds = [1, 2, 3] + [int(k) for k in rng.integers(1, 4, int(rng.integers(1, 4)))]
    for kind in rng.permutation(kinds):
        r = rng.uniform(6.0, 10.0) * scale
        c = rng.uniform(r, extent - r).astype(np.float32).reshape(3, 1, 1, 1)
        d = np.abs(mm - c)
        if kind == 1:
            inside = (d**2).sum(0) <= r**2
        elif kind == 2:
            inside = d.max(0) <= 0.8 * r
        else:  # a rod along a random axis: long and thin
            axis = int(rng.integers(0, 3))
            a, b = (d[i] for i in range(3) if i != axis)
            inside = (a**2 + b**2 <= (0.45 * r) ** 2) & (d[axis] <= 2.2 * r)
        label[inside] = kind
    image = INTENSITY * label + rng.normal(0.0, NOISE, shape)
    return image.astype(np.float32), label


def lps_affine(spacing, shape):
    """A voxel-to-world matrix in LPS layout (x runs left, y posterior, as DICOM): the
    Orientation step then has something to do."""
    affine = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])
    affine[:3, 3] = [spacing[0] * shape[0] / 2, spacing[1] * shape[1] / 2, -spacing[2] * 10]
    return affine


def write_file(path, array, affine):
    """One volume as NIfTI (by its extension) or as safetensors (array + affine)."""
    if path.endswith(".safetensors"):
        lucid.save({"array": array, "affine": affine}, path)
    else:
        lucid.io.write_volume(path, array, affine)


def read_file(path):
    """(array, affine) of a volume written by :func:`write_file`, in the file's voxel order."""
    if path.endswith(".safetensors"):
        d = lucid.load(path)
        return d["array"], d["affine"]
    vol = lucid.io.read_volume(path)
    return vol.array, vol.affine


def write_dataset(root, n, shape, spacing, seed, ext):
    """``n`` generated scans as image/label files under ``root``; a list of
    ``{"image": path, "label": path}`` items."""
    os.makedirs(root, exist_ok=True)
    affine = lps_affine(spacing, shape)
    items = []
    for i in range(n):
        image, label = make_volume(np.random.default_rng((seed, i)), shape, spacing)
        item = {k: os.path.join(root, f"case{i:03d}_{k}{ext}") for k in KEYS}
        write_file(item["image"], image, affine)
        write_file(item["label"], label, affine)
        items.append(item)
    return items


# -- 2. data ----------------------------------------------------------------------------------


def load_case(item):
    """A ``{"image": path, "label": path}`` item as a sample: (1, X, Y, Z) float32 image,
    (1, X, Y, Z) int64 label, the files' affine."""
    if item["image"].endswith(".safetensors"):
        (image, affine), (label, _) = read_file(item["image"]), read_file(item["label"])
        return {"image": image[None], "label": label[None].astype(np.int64), "affine": affine}
    return lucid.io.read_sample(item, dtypes={"image": np.float32, "label": np.int64})


load_case.is_random = False  # reading is deterministic: CacheDataset keeps its output


def preprocessing():
    """The deterministic steps, cached per scan: RAS axes, intensities 0..1."""
    return [
        load_case,
        T.Orientation(KEYS, axcodes="RAS"),
        T.ScaleIntensityRange("image", a_min=-100.0, a_max=400.0, b_min=0.0, b_max=1.0, clip=True),
    ]


def flip_crops(crops, rng):
    """Each crop flipped along random axes (image and label together); only the arrays are
    kept: the affine and the records are not network input."""
    flip = T.RandomFlip(p=0.5)
    out = []
    for c in crops:
        image, label = flip(c["image"], c["label"], rng=rng)
        out.append({"image": image, "label": label})
    return out


flip_crops.is_random = True


def collate_crops(batch):
    """A batch of scans, each a list of crops, as one batch of crops."""
    return default_collate([crop for crops in batch for crop in crops])


# -- 4. validation ----------------------------------------------------------------------------


@lucid.no_grad()
def predict(model, sample, roi):
    """Labels for a whole preprocessed scan by sliding-window inference, mapped back onto the
    file's grid: a (1, X, Y, Z) uint8 array."""
    model.eval()
    x = lucid.tensor(sample["image"][None])
    logits = sliding_window_inference(x, roi, 4, model, overlap=0.25, mode="gaussian")
    pred = logits.argmax(dim=1).numpy().astype(np.uint8)  # (1, X, Y, Z) on the RAS grid
    return T.invert(pred, sample)


def one_hot(label, n):
    """(1, X, Y, Z) class indices -> (1, n, X, Y, Z) 0/1 (the metrics' input)."""
    return np.moveaxis(np.eye(n, dtype=np.uint8)[label], -1, 1)


def evaluate(model, dataset, items, roi, distances=True):
    """Per-class Dice and HD95 (mm) of the predictions against the label files, and the
    predictions themselves."""
    dice = metrics.DiceMetric(include_background=False, reduction="mean_batch")
    # get_not_nans: a class with no valid HD95 (never predicted) shows as such, not as 0
    hd95 = metrics.HausdorffDistanceMetric(percentile=95, reduction="mean_batch", get_not_nans=True)
    preds = []
    for i in range(len(dataset)):
        pred = predict(model, dataset[i], roi)
        truth, affine = read_file(items[i]["label"])
        spacing = tuple(np.linalg.norm(affine[:3, :3], axis=0))  # mm per voxel axis
        p, g = one_hot(pred, len(CLASSES)), one_hot(truth[None].astype(np.int64), len(CLASSES))
        dice(p, g)
        if distances:
            hd95(p, g, spacing=spacing)
        preds.append(pred)
    hd = None
    if distances:
        values, counts = hd95.aggregate()
        hd = np.where(np.asarray(counts) > 0, np.asarray(values), np.nan)
    return np.asarray(dice.aggregate()), hd, preds


# -- 5. outputs -------------------------------------------------------------------------------


def montage(image, label, pred, spacing, path, num=6):
    """The scan with its label, then with the prediction, on ``num`` axial slices
    (``lucid.viz.show_slices``), saved as one PNG; None without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(2.2 * num, 5.4), layout="constrained")
    for sub, overlay, title in zip(fig.subfigures(2, 1), (label, pred), ("label", "prediction")):
        lucid.viz.show_slices(
            image, overlay, axis=2, num=num, spacing=spacing, fig=sub, ncols=num,
            vmin=-100, vmax=400, alpha=0.5, title=title,
        )  # fmt: skip
    fig.savefig(path, dpi=80)
    return path


def max_rss_mib():
    """The process's peak resident memory in MiB (NaN where the platform does not say)."""
    try:
        import resource
    except ImportError:  # Windows
        return float("nan")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024  # bytes there, KiB on Linux


def window_memory(model, sample, roi):
    """Peak memory above the baseline during one scan's sliding-window inference, in bytes,
    and the input's size (the docs quote their ratio)."""
    x = lucid.tensor(sample["image"][None])
    x.numpy()  # evaluated: counts in the baseline
    lucid.memory.reset_peak()
    base = lucid.memory.active()
    with lucid.no_grad():
        sliding_window_inference(x, roi, 4, model, overlap=0.25, mode="gaussian").numpy()
    return lucid.memory.peak() - base, x.numel() * 4


# -- the job ----------------------------------------------------------------------------------


def ints(text):
    """'64,64,48' -> (64, 64, 48)."""
    return tuple(int(v) for v in text.split(","))


def floats(text):
    """'1,1,1.5' -> (1.0, 1.0, 1.5)."""
    return tuple(float(v) for v in text.split(","))


QUICK = {
    "epochs": 1,
    "train": 2,
    "val": 1,
    "shape": (24, 24, 16),
    "crop": 8,
    "samples": 2,
    "roi": 16,
    "features": (4, 8),
    "val_every": 0,
}


def parse_args(argv=None):
    """Command-line options (``--quick``: tiny settings for the tests)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=32)
    p.add_argument("--train", type=int, default=16, help="training scans")
    p.add_argument("--val", type=int, default=4, help="held-out scans")
    p.add_argument("--shape", type=ints, default=(64, 64, 48), help="voxels X,Y,Z")
    p.add_argument("--spacing", type=floats, default=(1.0, 1.0, 1.5), help="mm per voxel")
    p.add_argument("--crop", type=int, default=16, help="training crop edge (voxels)")
    p.add_argument("--samples", type=int, default=2, help="crops per scan per read")
    p.add_argument("--batch-size", type=int, default=2, help="scans per step")
    p.add_argument("--roi", type=int, default=32, help="sliding-window edge (voxels)")
    p.add_argument("--features", type=ints, default=(16, 32, 64), help="UNet3d widths")
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--val-every", type=int, default=16, help="epochs between Dice checks (0: end)")
    p.add_argument("--format", default="auto", choices=("auto", "nifti", "safetensors"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/segment")
    p.add_argument("--quick", action="store_true", help="tiny settings (seconds)")
    args = p.parse_args(argv)
    if args.quick:
        for k, v in QUICK.items():
            setattr(args, k, v)
    return args


def file_format(choice):
    """The files' extension: NIfTI when nibabel is installed (or asked for), else safetensors."""
    if choice == "auto":
        try:
            import nibabel  # noqa: F401
        except ImportError:
            return ".safetensors"
        return ".nii.gz"
    return ".nii.gz" if choice == "nifti" else ".safetensors"


def main(argv=None):
    """Run the job; returns the mean foreground Dice on the held-out scans."""
    args = parse_args(argv)
    start, cpu = time.perf_counter(), time.process_time()
    lucid.random.seed(args.seed)
    ext = file_format(args.format)

    # 1. files
    data = os.path.join(args.out, "data")
    train_items = write_dataset(
        os.path.join(data, "train"), args.train, args.shape, args.spacing, args.seed, ext
    )
    val_items = write_dataset(
        os.path.join(data, "val"), args.val, args.shape, args.spacing, args.seed + 10_000, ext
    )

    # 2. data: the deterministic steps run here, once per scan
    crops = T.RandCropByPosNegLabel(
        KEYS, "label", args.crop, pos=2, neg=1, num_samples=args.samples
    )
    train_ds = CacheDataset(train_items, [*preprocessing(), crops, flip_crops])
    val_ds = CacheDataset(val_items, preprocessing())
    loader = DataLoader(
        train_ds, batch_size=args.batch_size, shuffle=True, seed=args.seed, collate_fn=collate_crops
    )
    t_data = time.perf_counter() - start

    # 3. training
    model = UNet3d(1, len(CLASSES), features=args.features, norm="batch")
    optimizer = lucid.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = lucid.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * len(loader), pct_start=0.2
    )
    # batch=True: Dice per class over the whole batch of crops, so a class missing from one
    # crop does not count as a failed Dice of that crop (measured: faster, steadier learning)
    loss_fn = nn.DiceCELoss(to_onehot_y=True, softmax=True, batch=True)
    print(
        f"lucid {lucid.__version__} | {args.train} training / {args.val} held-out scans of "
        f"{args.shape} voxels at {args.spacing} mm ({ext} files, written and cached in "
        f"{t_data:.1f}s) | {args.samples} crops of {args.crop}^3 per scan, "
        f"{args.batch_size * args.samples} per step | UNet3d{args.features}: "
        f"{model.num_parameters()} parameters",
        flush=True,
    )
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        total, steps = 0.0, 0
        for batch in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(batch["image"]), batch["label"])
            loss.backward()
            optimizer.step()
            scheduler.step()
            total, steps = total + loss.item(), steps + 1
        line = f"epoch {epoch:2d}/{args.epochs} | loss {total / steps:.4f}"
        if args.val_every and epoch % args.val_every == 0 and epoch < args.epochs:
            dice, _, _ = evaluate(model, val_ds, val_items, args.roi, distances=False)
            line += f" | held-out Dice {float(np.mean(dice)):.4f}"
        print(f"{line} | {time.perf_counter() - t0:.1f}s", flush=True)
    t_train = time.perf_counter() - start

    # 4. validation on the whole held-out scans, scored on the files' grid
    # HD95 needs scipy's distance transform (pip install lucid[metrics]); Dice does not
    has_scipy = importlib.util.find_spec("scipy") is not None
    dice, hd95, preds = evaluate(model, val_ds, val_items, args.roi, distances=has_scipy)
    if hd95 is None:
        print("HD95: skipped (pip install lucid[metrics] for scipy)")
        hd95 = np.full(len(dice), np.nan)
    mean_dice = float(np.mean(dice))
    print(f"held-out scans ({args.val}), sliding window {args.roi}^3, overlap 0.25, gaussian:")
    print("  class   Dice    HD95 (mm)")
    for name, d, h in zip(CLASSES[1:], dice, hd95):
        print(f"  {name:<6} {d:.4f}  {h:.2f}")
    print(f"mean foreground Dice {mean_dice:.4f}, mean HD95 {float(np.mean(hd95)):.2f} mm")

    # 5. outputs: checkpoint, one prediction next to its scan, a montage
    os.makedirs(args.out, exist_ok=True)
    lucid.save({"model": model.state_dict()}, os.path.join(args.out, "unet3d.safetensors"))
    image, affine = read_file(val_items[0]["image"])
    pred_path = os.path.join(args.out, f"case000_pred{ext}")
    write_file(pred_path, preds[0][0], affine)  # the scan's own affine: aligned with it
    back, back_affine = read_file(pred_path)
    assert back.shape == image.shape and np.allclose(back_affine, affine, atol=1e-5)
    truth, _ = read_file(val_items[0]["label"])
    png = montage(image, truth, back, args.spacing, os.path.join(args.out, "montage.png"))
    print(f"prediction: {pred_path} (affine of {val_items[0]['image']})")
    print(f"montage: {png}" if png else "montage: skipped (pip install lucid[examples])")

    peak = lucid.memory.peak()
    rss = max_rss_mib()
    sw_peak, sw_input = window_memory(model, val_ds[0], args.roi)
    print(
        f"sliding-window peak above the input: {sw_peak / 2**20:.1f} MiB = "
        f"{sw_peak / sw_input:.2f}x the input ({sw_input / 2**20:.2f} MiB)"
    )
    print(
        f"total time: {time.perf_counter() - start:.1f}s wall (data {t_data:.1f}s, training "
        f"{t_train - t_data:.1f}s), {time.process_time() - cpu:.1f}s CPU; peak memory "
        f"{peak / 2**20:.0f} MiB (lucid.memory.peak), max RSS {rss:.0f} MiB; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    return mean_dice


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
