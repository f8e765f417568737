"""Synthetic 3D shape classification volumes (pure NumPy, deterministic, no download).

Each sample is one solid shape (sphere, cube, cylinder, cone or torus) rendered into a
``size**3`` voxel grid with a random 3D rotation, a random position (the shape always
stays inside the grid) and a random size, followed by additive Gaussian noise.

Sizes are drawn so that the *enclosed volume* follows the same log-uniform distribution
for every class (each shape's linear scale is derived from its own unit volume).  The
voxel count therefore carries almost no class information: a classifier has to look at
the geometry (corners, flat faces, elongation, the torus hole, ...).

Rendering uses the exact signed distance function ``d`` (in voxels) of each
shape, evaluated at the voxel centres.  With ``soft=True`` the occupancy is the
anti-aliased ``clip(0.5 - d, 0, 1)`` (a linear ramp one voxel wide across the surface);
with ``soft=False`` it is the binary ``d <= 0``.
"""

import numpy as np

SHAPE_NAMES = ("sphere", "cube", "cylinder", "cone", "torus")

# Shape parameters in "unit" local coordinates: every shape fits inside the unit ball
# centred at the local origin (bounding radius 1), so a scale ``s`` (in voxels) bounds it
# by a ball of radius ``s``.
_CUBE_HALF = 1.0 / np.sqrt(3.0)  # half side; corners on the unit sphere
_CYL_RADIUS, _CYL_HALF_H = 0.5, np.sqrt(1.0 - 0.25)  # elongated: length 1.73, diameter 1
_CONE_BASE_R = 0.8
_CONE_BASE_Z = -np.sqrt(1.0 - _CONE_BASE_R**2)  # base rim on the unit sphere
_CONE_H = 1.0 - _CONE_BASE_Z  # apex at z = +1
_TORUS_R, _TORUS_r = 0.7, 0.3  # major / minor radius

_UNIT_VOLUME = {
    "sphere": 4.0 / 3.0 * np.pi,
    "cube": (2.0 * _CUBE_HALF) ** 3,
    "cylinder": np.pi * _CYL_RADIUS**2 * 2.0 * _CYL_HALF_H,
    "cone": np.pi * _CONE_BASE_R**2 * _CONE_H / 3.0,
    "torus": 2.0 * np.pi**2 * _TORUS_R * _TORUS_r**2,
}

# Largest bounding radius, as a fraction of the half grid, and the ratio between the
# largest and the smallest volume drawn.
_MAX_SCALE_FRAC = 0.8
_VOLUME_RATIO = 3.0
_CHUNK = 256  # samples rendered at once (bounds temporary memory)


def _seg_dist(px, pz, ax, az, bx, bz):
    """Euclidean distance from 2D points ``(px, pz)`` to the segment from a to b."""
    dx, dz = bx - ax, bz - az
    t = np.clip(((px - ax) * dx + (pz - az) * dz) / (dx * dx + dz * dz), 0.0, 1.0)
    return np.sqrt((px - ax - t * dx) ** 2 + (pz - az - t * dz) ** 2)


def _sdf_unit(name, p):
    """Exact signed distance (unit local coordinates) of shape ``name`` at points ``p``.

    ``p`` has shape ``(..., 3)``; negative values are inside.  Shapes with an axis
    (cylinder, cone, torus) are symmetric about the local z axis.
    """
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    if name == "sphere":
        return np.sqrt(x * x + y * y + z * z) - 1.0
    if name == "cube":
        q = np.abs(p) - _CUBE_HALF
        outside = np.sqrt(np.sum(np.maximum(q, 0.0) ** 2, axis=-1))
        return outside + np.minimum(q.max(axis=-1), 0.0)
    rho = np.sqrt(x * x + y * y)
    if name == "cylinder":
        qr, qz = rho - _CYL_RADIUS, np.abs(z) - _CYL_HALF_H
        outside = np.sqrt(np.maximum(qr, 0.0) ** 2 + np.maximum(qz, 0.0) ** 2)
        return outside + np.minimum(np.maximum(qr, qz), 0.0)
    if name == "cone":
        # Cross-section in the (rho, z) half-plane: triangle (0, zb), (rb, zb), (0, 1);
        # its real surface is the base edge and the slanted edge.
        zb, rb = _CONE_BASE_Z, _CONE_BASE_R
        dist = np.minimum(_seg_dist(rho, z, 0.0, zb, rb, zb), _seg_dist(rho, z, rb, zb, 0.0, 1.0))
        inside = (z >= zb) & (rho <= rb * (1.0 - z) / _CONE_H)
        return np.where(inside, -dist, dist)
    if name == "torus":
        return np.sqrt((rho - _TORUS_R) ** 2 + z * z) - _TORUS_r
    raise ValueError(f"unknown shape {name!r}; expected one of {SHAPE_NAMES}")


def random_rotations(rng, n):
    """Return ``n`` uniformly distributed random 3x3 rotation matrices, shape ``(n, 3, 3)``.

    Built from normalised Gaussian quaternions (uniform on SO(3)).
    """
    q = rng.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=1,
    )


def _balanced_labels(n, k, rng):
    """``n`` labels in ``range(k)``, ``n // k`` each with the remainder spread, shuffled."""
    counts = np.full(k, n // k, dtype=np.int64)
    counts[: n % k] += 1
    labels = np.repeat(np.arange(k, dtype=np.int64), counts)
    return labels[rng.permutation(n)]


def make_shapes3d(
    n,
    size=16,
    seed=0,
    noise=0.1,
    classes=("sphere", "cube", "cylinder", "cone", "torus"),
    soft=True,
):
    """Generate a synthetic 3D shape classification set.

    Args:
        n: number of samples.
        size: edge length of the cubic voxel grid.
        seed: seed of the NumPy random generator (same seed -> identical output).
        noise: standard deviation of the additive Gaussian noise (0 disables it).
        classes: shape names to use, a subset of ``SHAPE_NAMES``; label ``i`` is
            ``classes[i]``.
        soft: anti-aliased occupancy in ``[0, 1]`` if true, binary ``{0, 1}`` otherwise.

    Returns:
        ``(volumes, labels)``: ``volumes`` float32 of shape ``(n, 1, size, size, size)``
        (axes z, y, x), ``labels`` int64 of shape ``(n,)``; classes are balanced
        (``n // k`` each, the first ``n % k`` classes get one more) and shuffled.

    The noise is drawn from its own random stream, so ``noise=0`` with the same seed
    gives exactly the clean volumes of the noisy call.
    """
    classes = tuple(classes)
    if not classes:
        raise ValueError("classes must not be empty")
    for name in classes:
        if name not in SHAPE_NAMES:
            raise ValueError(f"unknown shape {name!r}; expected one of {SHAPE_NAMES}")
    n, size = int(n), int(size)
    if n < 0 or size < 4:
        raise ValueError("need n >= 0 and size >= 4")

    param_ss, noise_ss = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(param_ss)
    k = len(classes)
    labels = _balanced_labels(n, k, rng)

    # Per-sample geometry, all drawn up front (independent of the class except the scale).
    half = size / 2.0
    unit_vol = np.array([_UNIT_VOLUME[c] for c in classes])
    v_hi = min(_UNIT_VOLUME.values()) * (_MAX_SCALE_FRAC * half) ** 3
    log_v = rng.uniform(np.log(v_hi / _VOLUME_RATIO), np.log(v_hi), size=n)
    scale = np.cbrt(np.exp(log_v) / unit_vol[labels])  # bounding radius, voxels
    rot = random_rotations(rng, n)
    room = np.maximum(half - scale - 1.0, 0.0)  # AA edge (0.5 vox) inside the grid
    centre = rng.uniform(-1.0, 1.0, size=(n, 3)) * room[:, None]

    # Voxel centres relative to the grid centre, (size**3, 3) in (z, y, x) order.
    ax = np.arange(size, dtype=np.float64) + 0.5 - half
    grid = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), axis=-1).reshape(-1, 3)

    vols = np.empty((n, size**3), dtype=np.float32)
    for ci, name in enumerate(classes):
        idx = np.flatnonzero(labels == ci)
        for start in range(0, idx.size, _CHUNK):
            sel = idx[start : start + _CHUNK]
            rel = grid[None, :, :] - centre[sel, None, :]  # (m, V, 3)
            # local = R^T rel / s  (row vectors: rel @ R)
            local = np.matmul(rel, rot[sel]) / scale[sel, None, None]
            d = _sdf_unit(name, local) * scale[sel, None]  # voxels
            if soft:
                vols[sel] = np.clip(0.5 - d, 0.0, 1.0)
            else:
                vols[sel] = d <= 0.0

    vols = vols.reshape(n, 1, size, size, size)
    if noise:
        noise_rng = np.random.default_rng(noise_ss)
        vols += noise_rng.standard_normal(vols.shape, dtype=np.float32) * np.float32(noise)
    return vols, labels
