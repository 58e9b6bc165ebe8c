"""render_chest: a radiograph's 12-bit stored values from the anatomy (anatomy.py), with each
label's sign at a strength drawn per image, the detector response, upsampling and noise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from labeling.vocabulary import LABEL_KEYS

from .anatomy import Anatomy, chest_density
from .records import MONOCHROME1, MONOCHROME2, SIDED_LABELS, SIDES

MAX_STORED = 4095  # 12 bits stored
MIN_SIZE = 64

# Anatomy is drawn on a grid of at most this edge, then upsampled smoothly; fine noise is added
# at full size.
_RENDER_MAX = 320

# Independent random streams per part, so adding a label never shifts the others' numbers: the
# same rng renders the same anatomy and noise with or without any sign.
_PARTS = (
    "anatomy",
    "sides",
    "strength",
    "vessels",
    "ilm",
    "interstitial",
    "bronchitis",
    "aorta",
    "pleura",
    "mottle",
    "noise",
)


def _check_labels(labels: Iterable[str]) -> tuple[str, ...]:
    keys = tuple(labels)
    unknown = [key for key in keys if key not in LABEL_KEYS]
    if unknown:
        raise ValueError(f"labels: unknown key(s) {unknown}; known: {', '.join(LABEL_KEYS)}")
    return keys


def check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_SIZE:
        raise ValueError(f"size must be an integer of at least {MIN_SIZE} pixels, got {size!r}")


def _linear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Left neighbour index and weight of the right neighbour for linear interpolation
    between pixel centres."""
    pos = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0, n_in - 1)
    left = np.minimum(pos.astype(np.int64), n_in - 2)
    return left, (pos - left).astype(np.float32)


def _upsample(low: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling in numpy: columns on the small image, then whole rows, so the
    full-size work is contiguous row copies and in-place arithmetic."""
    g = low.shape[0]
    if g == size:
        return low.astype(np.float32)
    left, w = _linear_taps(g, size)
    wide = low[:, left] * (1 - w) + low[:, left + 1] * w  # (g, size)
    top, v = _linear_taps(g, size)
    out = wide[top]
    out *= (1 - v)[:, None]
    below = wide[top + 1]
    below *= v[:, None]
    out += below
    return out


def _to_stored(density: np.ndarray, a: Anatomy) -> np.ndarray:
    """Detector response: attenuation to 12-bit MONOCHROME2 values (bright = dense)."""
    return (a.floor + a.span * np.clip(density, 0, 1.05) ** a.gamma).astype(np.float32)


def _finish(low: np.ndarray, size: int, noise_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Upsample to full size and add per-pixel noise there, in integers.

    Large images are interpolated to half size and each pixel repeated 2×2: the interpolated
    image is smooth at that scale already, and the per-pixel noise added afterwards hides the
    repetition; this quarters the floating-point work at 2048². Random bytes shifted right give
    uniform noise over 0..255 >> shift, far cheaper than normal draws at 4 million pixels;
    values are clipped first so that the sum stays within 12 bits.
    """
    half = size % 2 == 0 and size // 2 > low.shape[0]
    smooth = _upsample(low, size // 2 if half else size)
    np.clip(smooth, 0, MAX_STORED - (255 >> noise_shift), out=smooth)
    noise = np.frombuffer(rng.bytes(size * size), dtype=np.uint8) >> np.uint8(noise_shift)
    if not half:
        return np.add(smooth.astype(np.uint16), noise.reshape(size, size), dtype=np.uint16)
    wide = np.repeat(smooth.astype(np.uint16), 2, axis=1)
    stored = np.empty((size // 2, 2, size), dtype=np.uint16)
    # Each half-size row twice, noise added in the same pass (contiguous inner loops).
    np.add(wide[:, None, :], noise.reshape(size // 2, 2, size), out=stored, dtype=np.uint16)
    return stored.reshape(size, size)


def render_chest(
    labels: Iterable[str],
    size: int,
    rng: np.random.Generator,
    photometric: str = MONOCHROME2,
    *,
    laterality: Mapping[str, str] | None = None,
) -> np.ndarray:
    """A size×size chest radiograph as 12-bit stored values (uint16, 0..4095).

    Each label in `labels` adds its sign at a strength drawn from `rng`; "normal" adds none.
    Every part draws from its own stream seeded from `rng`, so the same seed gives the same
    body and noise with or without a sign. `laterality` names the patient's side of the
    one-sided signs; missing ones are drawn. MONOCHROME1 stores inverted values (air bright).
    """
    keys = set(_check_labels(labels))
    check_size(size)
    if photometric not in (MONOCHROME1, MONOCHROME2):
        raise ValueError(f"photometric must be MONOCHROME1 or MONOCHROME2, got {photometric!r}")
    seeds = rng.integers(0, 2**63 - 1, size=len(_PARTS))
    streams = {part: np.random.default_rng(int(s)) for part, s in zip(_PARTS, seeds, strict=True)}
    strength = dict(
        zip(LABEL_KEYS, streams["strength"].uniform(0.3, 1.0, len(LABEL_KEYS)), strict=True)
    )
    sides = dict(zip(SIDED_LABELS, streams["sides"].choice(SIDES, len(SIDED_LABELS)), strict=True))
    for key, side in (laterality or {}).items():
        if side not in SIDES:
            raise ValueError(f"laterality[{key!r}] must be one of {SIDES}, got {side!r}")
        sides[key] = side
    density, anatomy = chest_density(keys, strength, sides, min(size, _RENDER_MAX), streams)
    low = _to_stored(density, anatomy)
    stored = _finish(low, size, anatomy.noise_shift, streams["noise"])
    if photometric == MONOCHROME1:
        np.subtract(MAX_STORED, stored, out=stored)
    return stored
