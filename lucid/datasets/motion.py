"""Synthetic motion-direction video clips (pure NumPy, deterministic, no download).

Each clip shows one small bright object (a Gaussian blob or an anti-aliased square) on a
dark background.  Its class is how it moves: it stays put ("static") or moves at a constant
speed to the left, right, up or down.  Only the change between frames tells the classes
apart; any single frame has exactly the same distribution in every class.

Boundary choice: the object WRAPS AROUND the frame (toroidal topology), both in its motion
and in its rendering (distances are taken modulo ``size``, so an object crossing an edge
reappears, partly or wholly, on the opposite side).  This is what makes the single-frame
statement exact: the start position is uniform on the torus and independent of the speed,
direction and appearance, so the position at frame ``t``, ``(start + t * velocity) mod
size``, is again uniform on the torus, for every class and every ``t``.  The appearance is
drawn from the same distribution for every class and the noise is i.i.d., hence the
distribution of frame ``t`` does not depend on the class.  (Keeping the object inside the
frame instead would leak the class: e.g. a right-moving object could not start near the
right edge, unless it bounced, which would blur the direction.)
"""

import numpy as np

MOTION_NAMES = ("static", "left", "right", "up", "down")

# Unit velocity (dy, dx) per class, in pixels/frame before scaling by the speed; the image
# rows grow downwards, so "up" is -y.
_DIRECTIONS = np.array([(0.0, 0.0), (0.0, -1.0), (0.0, 1.0), (-1.0, 0.0), (1.0, 0.0)])


def _wrapped(coord, pos, size):
    """Signed toroidal offset ``coord - pos`` mapped into ``[-size/2, size/2)``."""
    return np.mod(coord - pos + size / 2.0, size) - size / 2.0


def make_motion_clips(n, frames=8, size=16, seed=0, noise=0.05, speed=(1.0, 2.0)):
    """Generate a synthetic motion-direction classification set.

    Args:
        n: number of clips.
        frames: number of frames per clip.
        size: height and width of each frame.
        seed: seed of the NumPy random generator (same seed -> identical output).
        noise: standard deviation of the additive Gaussian noise (0 disables it).
        speed: ``(low, high)`` range of the speed in pixels/frame of the moving classes,
            drawn uniformly per clip (the "static" class has speed 0).

    Returns:
        ``(clips, labels)``: ``clips`` float32 of shape ``(n, 1, frames, size, size)``
        (axes t, y, x), ``labels`` int64 of shape ``(n,)`` indexing ``MOTION_NAMES``;
        classes are balanced (``n // 5`` each, the first ``n % 5`` get one more) and
        shuffled.  Without noise the values lie in ``[0, 1]``.

    Per clip: start position uniform over the frame (continuous), object kind (blob or
    square, 50/50), blob sigma in ``[0.8, 1.5]`` px or square side in ``[2, 4]`` px,
    brightness in ``[0.6, 1.0]``; none of these depends on the class.  The object wraps
    around the frame edges (see the module docstring).  The noise comes from its own
    random stream, so ``noise=0`` with the same seed gives the clean clips.
    """
    n, frames, size = int(n), int(frames), int(size)
    if n < 0 or frames < 1 or size < 4:
        raise ValueError("need n >= 0, frames >= 1 and size >= 4")
    lo, hi = float(speed[0]), float(speed[1])
    if not 0.0 <= lo <= hi:
        raise ValueError("speed must be a (low, high) range with 0 <= low <= high")

    param_ss, noise_ss = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(param_ss)
    k = len(MOTION_NAMES)
    counts = np.full(k, n // k, dtype=np.int64)
    counts[: n % k] += 1
    labels = np.repeat(np.arange(k, dtype=np.int64), counts)[rng.permutation(n)]

    # Per-clip parameters; everything but the velocity is drawn independently of the class.
    start = rng.uniform(0.0, size, size=(n, 2))  # (y, x)
    spd = rng.uniform(lo, hi, size=n)
    is_blob = rng.random(n) < 0.5
    sigma = rng.uniform(0.8, 1.5, size=n)
    half_side = rng.uniform(1.0, 2.0, size=n)
    amp = rng.uniform(0.6, 1.0, size=n)

    velocity = _DIRECTIONS[labels] * spd[:, None]  # (n, 2)
    t = np.arange(frames, dtype=np.float64)
    pos = start[:, None, :] + t[None, :, None] * velocity[:, None, :]  # (n, T, 2)

    # The object is separable, so render 1D profiles along y and x and take their outer
    # product: (n, T, size) each.
    coord = np.arange(size, dtype=np.float64)
    dy = _wrapped(coord[None, None, :], pos[:, :, 0:1], size)
    dx = _wrapped(coord[None, None, :], pos[:, :, 1:2], size)
    s2 = (2.0 * sigma**2)[:, None, None]
    hs = half_side[:, None, None]
    blob = is_blob[:, None, None]
    py = np.where(blob, np.exp(-dy * dy / s2), np.clip(hs + 0.5 - np.abs(dy), 0.0, 1.0))
    px = np.where(blob, np.exp(-dx * dx / s2), np.clip(hs + 0.5 - np.abs(dx), 0.0, 1.0))
    clips = (amp[:, None, None, None] * py[:, :, :, None] * px[:, :, None, :]).astype(np.float32)

    clips = clips[:, None]  # (n, 1, T, size, size)
    if noise:
        noise_rng = np.random.default_rng(noise_ss)
        clips += noise_rng.standard_normal(clips.shape, dtype=np.float32) * np.float32(noise)
    return clips, labels
