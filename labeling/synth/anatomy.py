"""Procedural anatomy: one patient's chest and the label signs, drawn as attenuation on a
low-resolution grid.

Coordinates: x in [-0.5, 0.5] left to right, y in [0, 1] top to bottom, so one unit is the image
edge on both axes. Every sign draws from its own random stream (see render.py), so adding a label
never moves the rest of the body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image


@dataclass
class Anatomy:
    """One patient's body geometry and exposure, in image units."""

    body_half_width: float
    shoulder_y: float
    lung_cx: float
    lung_rx: float
    lung_cy: float
    lung_ry: float
    lung_medial: float
    dome_peak: tuple[float, float]  # image left (patient right), image right (patient left)
    dome_height: float
    heart_cx: float
    heart_cy: float
    heart_hw: float
    heart_hh: float
    knob: tuple[float, float, float]  # x, y, radius of the aortic knob
    rib_y0: float
    rib_spacing: float
    rib_curve: float
    air: float  # how much the lungs darken
    tissue: float
    gamma: float
    floor: float
    span: float
    noise_shift: int  # fine noise is uniform over 0..255 >> noise_shift
    gastric_bubble: bool
    vessel_gain: float = 1.0
    vessel_pruning: float = 0.0


def _sample_anatomy(rng: np.random.Generator) -> Anatomy:
    peak = rng.uniform(0.63, 0.68)
    return Anatomy(
        body_half_width=rng.uniform(0.43, 0.47),
        shoulder_y=rng.uniform(0.06, 0.1),
        lung_cx=rng.uniform(0.2, 0.215),
        lung_rx=rng.uniform(0.175, 0.19),
        lung_cy=rng.uniform(0.55, 0.58),
        lung_ry=rng.uniform(0.43, 0.46),
        lung_medial=rng.uniform(0.03, 0.04),
        dome_peak=(peak, peak + rng.uniform(0.015, 0.04)),
        dome_height=rng.uniform(0.055, 0.08),
        heart_cx=rng.uniform(0.045, 0.06),
        heart_cy=rng.uniform(0.57, 0.6),
        heart_hw=rng.uniform(0.16, 0.18),
        heart_hh=rng.uniform(0.11, 0.125),
        knob=(rng.uniform(0.055, 0.07), rng.uniform(0.31, 0.34), rng.uniform(0.022, 0.028)),
        rib_y0=rng.uniform(0.08, 0.1),
        rib_spacing=rng.uniform(0.058, 0.066),
        rib_curve=rng.uniform(0.75, 1.0),
        air=rng.uniform(0.3, 0.36),
        tissue=rng.uniform(0.58, 0.64),
        gamma=rng.uniform(0.9, 1.1),
        floor=rng.uniform(60, 220),
        span=rng.uniform(3300, 3750),
        noise_shift=int(rng.integers(2, 4)),
        gastric_bubble=bool(rng.random() < 0.75),
    )


def _apply_shape_signs(a: Anatomy, labels: set[str], strength: Mapping[str, float]) -> None:
    """Signs that change the body's geometry rather than add a shadow."""
    if "increased_heart_shadow" in labels:
        s = strength["increased_heart_shadow"]
        a.heart_hw *= 1 + 0.4 * s
        a.heart_cx += 0.025 * s
        a.heart_hh *= 1 + 0.1 * s
    if "emphysema" in labels:
        s = strength["emphysema"]
        a.dome_height *= 1 - 0.75 * s
        a.dome_peak = (a.dome_peak[0] + 0.06 * s, a.dome_peak[1] + 0.06 * s)
        a.lung_ry += 0.03 * s
        a.air *= 1 + 0.4 * s
        a.heart_hw *= 1 - 0.12 * s
        a.rib_curve *= 1 - 0.35 * s
        a.rib_spacing *= 1 + 0.08 * s
        a.vessel_pruning = 0.7 * s
    if "increased_lung_marking" in labels:
        a.vessel_gain = 1 + 0.7 * strength["increased_lung_marking"]


@dataclass
class _Canvas:
    """The low-resolution grid and the fields shared by the signs."""

    g: int
    x: np.ndarray  # (1, g)
    y: np.ndarray  # (g, 1)
    px: float  # one grid pixel in image units
    side: np.ndarray  # (1, g): -1 on the image's left half (patient right), +1 on the right
    u: np.ndarray  # (1, g): distance from the midline
    density: np.ndarray = field(init=False)
    air: np.ndarray = field(init=False)  # where lung air darkens, 0..1

    @classmethod
    def make(cls, g: int) -> _Canvas:
        x = ((np.arange(g, dtype=np.float32) + 0.5) / g - 0.5)[None, :]
        y = ((np.arange(g, dtype=np.float32) + 0.5) / g)[:, None]
        return cls(g, x, y, 1.0 / g, np.where(x < 0, -1.0, 1.0).astype(np.float32), np.abs(x))


def _ramp(d: np.ndarray | float, width: float) -> np.ndarray:
    """A soft step: 0 where d < -width/2, 1 where d > width/2, linear between."""
    return np.clip(np.asarray(d, dtype=np.float32) / np.float32(width) + np.float32(0.5), 0, 1)


def _box1d(a: np.ndarray, r: int, axis: int) -> np.ndarray:
    pad = [(0, 0), (0, 0)]
    pad[axis] = (r + 1, r)
    c = np.cumsum(np.pad(a, pad, mode="edge"), axis=axis, dtype=np.float32)
    n = 2 * r + 1
    if axis == 0:
        return (c[n:] - c[:-n]) / np.float32(n)
    return (c[:, n:] - c[:, :-n]) / np.float32(n)


def _blur(a: np.ndarray, radius: int, passes: int = 2) -> np.ndarray:
    """Approximate Gaussian blur by repeated box filters (cheap: cost independent of radius)."""
    if radius < 1:
        return a
    for _ in range(passes):
        a = _box1d(_box1d(a, radius, 0), radius, 1)
    return a


def _splat(g: int, xs: np.ndarray, ys: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Add weighted points (image units) into a g×g grid with bilinear weights."""
    fx, fy = (xs + 0.5) * g - 0.5, ys * g - 0.5
    x0, y0 = np.floor(fx).astype(np.int64), np.floor(fy).astype(np.int64)
    ok = (x0 >= 0) & (x0 < g - 1) & (y0 >= 0) & (y0 < g - 1)
    x0, y0, tx, ty, w = x0[ok], y0[ok], (fx - x0)[ok], (fy - y0)[ok], weights[ok]
    i = y0 * g + x0
    acc = np.bincount(i, w * (1 - tx) * (1 - ty), minlength=g * g)
    acc += np.bincount(i + 1, w * tx * (1 - ty), minlength=g * g)
    acc += np.bincount(i + g, w * (1 - tx) * ty, minlength=g * g)
    acc += np.bincount(i + g + 1, w * tx * ty, minlength=g * g)
    return acc.reshape(g, g).astype(np.float32)


def _segment_points(segments: np.ndarray, step: float) -> tuple[np.ndarray, ...]:
    """Points every `step` along segments (rows x0, y0, x1, y1, weight); weights per point."""
    if len(segments) == 0:
        empty = np.zeros(0)
        return empty, empty, empty
    x0, y0, x1, y1, w = segments.T
    counts = np.maximum(2, np.ceil(np.hypot(x1 - x0, y1 - y0) / step).astype(int))
    owner = np.repeat(np.arange(len(segments)), counts)
    t = (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)) / np.repeat(
        counts - 1, counts
    )
    xs = x0[owner] + (x1 - x0)[owner] * t
    ys = y0[owner] + (y1 - y0)[owner] * t
    return xs, ys, w[owner] * step


def _dome(c: _Canvas, a: Anatomy) -> np.ndarray:
    """The diaphragm's top edge per column: highest mid-lung, lowest at the chest wall."""
    peak = np.where(c.side < 0, a.dome_peak[0], a.dome_peak[1])
    return peak + a.dome_height * ((c.u - a.lung_cx) / 0.2) ** 2


def _lung_radius(c: _Canvas, a: Anatomy) -> np.ndarray:
    """Normalised elliptical radius of each pixel in its side's lung outline (1 on the edge)."""
    return np.sqrt(((c.u - a.lung_cx) / a.lung_rx) ** 2 + ((c.y - a.lung_cy) / a.lung_ry) ** 2)


def _lungs(c: _Canvas, a: Anatomy) -> np.ndarray:
    edge = 2 * c.px
    inside = _ramp((1 - _lung_radius(c, a)) * a.lung_rx, edge)
    return inside * _ramp(c.u - a.lung_medial, edge) * _ramp(_dome(c, a) - c.y, edge)


def _ellipse(c: _Canvas, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    r = np.sqrt(((c.x - cx) / rx) ** 2 + ((c.y - cy) / ry) ** 2)
    return _ramp((1 - r) * min(rx, ry), 2 * c.px)


def _body(c: _Canvas, a: Anatomy) -> np.ndarray:
    """Soft tissue: a neck widening into the shoulders, thinner towards the sides."""
    t = np.clip((c.y - a.shoulder_y + 0.05) / 0.12, 0, 1)
    half = 0.09 + (a.body_half_width - 0.09) * t * t * (3 - 2 * t)
    inside = _ramp(half - c.u, 3 * c.px)
    thickness = np.sqrt(np.clip(1 - (c.x / half) ** 2, 0, 1))
    return inside * (0.55 + 0.45 * thickness)


def _heart(c: _Canvas, a: Anatomy) -> np.ndarray:
    """The cardiac silhouette: an ellipse tilted down towards the apex (image right)."""
    cos, sin = np.float32(np.cos(0.45)), np.float32(np.sin(0.45))
    dx, dy = c.x - a.heart_cx, c.y - a.heart_cy
    along, across = dx * cos + dy * sin, -dx * sin + dy * cos
    r = np.sqrt((along / a.heart_hw) ** 2 + (across / a.heart_hh) ** 2)
    return _ramp((1 - r) * a.heart_hh, 2 * c.px)


def _mediastinum(c: _Canvas, a: Anatomy) -> np.ndarray:
    half = 0.045 + 0.02 * np.clip((c.y - 0.1) / 0.35, 0, 1)
    band = _ramp(half - np.abs(c.x - 0.008), 2 * c.px) * _ramp(0.62 - c.y, 0.05)
    kx, ky, kr = a.knob
    knob = _ellipse(c, kx, ky, kr, kr)
    return np.maximum(np.maximum(band, knob), _heart(c, a))


def _ribs(c: _Canvas, a: Anatomy) -> tuple[np.ndarray, np.ndarray]:
    """Posterior ribs arching out from the spine and anterior ribs sloping down to the sternum.

    Each set is one phase field (all ribs in one pass): a rib wherever the phase is near an
    integer, brighter at its cortical edges.
    """
    u = c.u
    phase = (c.y - a.rib_y0 + 0.35 * u - a.rib_curve * 1.5 * u * u) / a.rib_spacing
    phase = phase * (1 - 0.025 * phase)  # ribs spread apart going down
    t = phase - np.round(phase)
    half = 0.23
    band = _ramp(half - np.abs(t), 2 * c.px / a.rib_spacing)
    cortex = 0.6 + 0.4 * (np.abs(t) / half) ** 2
    count = _ramp(phase + 0.3, 0.2) * _ramp(10.4 - phase, 0.2)
    span = _ramp(u - 0.025, 2 * c.px) * _ramp(a.body_half_width - 0.015 - u, 4 * c.px)
    posterior = band * cortex * count * span
    phase_a = (c.y - a.rib_y0 - 0.13 + 0.55 * (u - 0.4)) / (a.rib_spacing * 1.3)
    t_a = phase_a - np.round(phase_a)
    anterior = _ramp(0.2 - np.abs(t_a), 3 * c.px / a.rib_spacing)
    anterior *= _ramp(phase_a + 0.3, 0.2) * _ramp(5.4 - phase_a, 0.2) * _ramp(u - 0.1, 0.06)
    anterior *= _ramp(0.42 - u, 0.04)
    return posterior, anterior


def _segments_field(c: _Canvas, segments: Sequence[tuple[float, ...]], radius: float) -> np.ndarray:
    """Max over segments (x0, y0, x1, y1) of a soft band of half-width `radius`.

    Each segment is evaluated only inside its bounding box, which is a small part of the grid.
    """
    out = np.zeros((c.g, c.g), np.float32)
    margin = radius + 2 * c.px
    for x0, y0, x1, y1 in segments:
        cols = _window(c.x[0], min(x0, x1) - margin, max(x0, x1) + margin)
        rows = _window(c.y[:, 0], min(y0, y1) - margin, max(y0, y1) + margin)
        gx, gy = c.x[:, cols], c.y[rows, :]
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((gx - x0) * dx + (gy - y0) * dy) / (dx * dx + dy * dy), 0, 1)
        d = np.hypot(gx - x0 - t * dx, gy - y0 - t * dy)
        np.maximum(out[rows, cols], _ramp(radius - d, 2 * c.px), out=out[rows, cols])
    return out


def _window(coords: np.ndarray, low: float, high: float) -> slice:
    """The slice of sorted grid coordinates between low and high."""
    return slice(int(np.searchsorted(coords, low)), int(np.searchsorted(coords, high)))


def _clavicles(c: _Canvas) -> np.ndarray:
    segs = []
    for s in (-1.0, 1.0):
        segs += [(s * 0.03, 0.175, s * 0.12, 0.15), (s * 0.12, 0.15, s * 0.26, 0.105)]
    return _segments_field(c, segs, 0.011)


def _spine(c: _Canvas) -> np.ndarray:
    column = _ramp(0.03 - np.abs(c.x), 2 * c.px)
    plates = 0.75 + 0.25 * np.cos(2 * np.pi * c.y / 0.048) ** 8
    return column * plates


def _blob(c: _Canvas, cx: float, cy: float, r: float) -> np.ndarray:
    """A Gaussian spot, built as an outer product (separable, so cheap)."""
    return np.exp(-((c.y - cy) ** 2) / (r * r)) * np.exp(-((c.x - cx) ** 2) / (r * r))


def _vessel_tree(
    rng: np.random.Generator, side: float, hilum: tuple[float, float], min_len: float, jitter: float
) -> np.ndarray:
    """Branching vessels from one hilum: rows (x0, y0, x1, y1, weight).

    Grown a generation at a time with array operations: every branch forks in two, shorter and
    fainter, until it is too short, too deep or leaves the chest.
    """
    n = int(rng.integers(4, 7))
    angle = np.linspace(np.radians(rng.uniform(-75, -55)), np.radians(rng.uniform(95, 115)), n)
    angle += rng.normal(0, 0.1, n)
    if side < 0:
        angle = np.pi - angle
    x = hilum[0] + side * rng.uniform(0.0, 0.025, n)
    y = hilum[1] + rng.uniform(-0.05, 0.05, n)
    length, weight = rng.uniform(0.05, 0.08, n), np.ones(n)
    generations = []
    for depth in range(7):
        x1, y1 = x + length * np.cos(angle), y + length * np.sin(angle)
        generations.append(np.stack([x, y, x1, y1, weight], axis=1))
        grow = (length * 0.75 >= min_len) & (np.abs(x1) < 0.42) & (y1 > 0.08) & (y1 < 0.8)
        if depth == 6 or not grow.any():
            break
        x1, y1, angle, length, weight = x1[grow], y1[grow], angle[grow], length[grow], weight[grow]
        m = len(x1)
        spread = np.radians(rng.uniform(14, 32, m))
        x, y = np.repeat(x1, 2), np.repeat(y1, 2)
        turn = np.stack([-spread, spread], axis=1).ravel()
        angle = np.repeat(angle, 2) + turn + rng.normal(0, jitter, 2 * m)
        length = np.repeat(length, 2) * rng.uniform(0.62, 0.85, 2 * m)
        weight = np.repeat(weight, 2) * 0.8
    return np.concatenate(generations)


def _rasterise(c: _Canvas, segments: np.ndarray) -> np.ndarray:
    """Draw weighted segments as lines a few grid pixels wide, peak about the weight.

    Every kind of line (vessels, extra markings, bronchial walls) goes through one splat and
    one blur per image: blurring is linear, so the sum of blurred lines is the blurred sum.
    """
    xs, ys, ws = _segment_points(segments, c.px * 0.7)
    r = max(1, round(c.g / 384))
    return _blur(_splat(c.g, xs, ys, ws / c.px), r) * np.float32(1.2 * r)


def _thicken(segments: np.ndarray, offset: float) -> np.ndarray:
    """Add two parallel copies of each segment, `offset` either side: a wider line."""
    x0, y0, x1, y1, w = segments.T
    length = np.maximum(np.hypot(x1 - x0, y1 - y0), 1e-9)
    nx, ny = -(y1 - y0) / length * offset, (x1 - x0) / length * offset
    copies = [segments]
    for sign in (-1.0, 1.0):
        copies.append(
            np.stack([x0 + sign * nx, y0 + sign * ny, x1 + sign * nx, y1 + sign * ny, w * 0.8], 1)
        )
    return np.concatenate(copies)


def _vessels(rng: np.random.Generator, min_len: float, jitter: float) -> np.ndarray:
    """Lung markings: a vessel tree per hilum, trunks drawn wider than peripheral branches."""
    segments = np.concatenate(
        [
            _vessel_tree(
                rng, s, (s * rng.uniform(0.085, 0.1), rng.uniform(0.43, 0.47)), min_len, jitter
            )
            for s in (-1.0, 1.0)
        ]
    )
    trunk = segments[:, 4] > 0.7
    return np.concatenate([_thicken(segments[trunk], 0.003), segments[~trunk]])


def _scaled(segments: np.ndarray, factor: np.ndarray | float) -> np.ndarray:
    out = segments.copy()
    out[:, 4] *= factor
    return out


# --------------------------------------------------------------------------------------------
# Label signs
# --------------------------------------------------------------------------------------------


def _side_mask(c: _Canvas, side: str) -> np.ndarray:
    """1 on the patient's `side` (image right is patient left), as a (1, g) row."""
    if side == "both":
        return np.ones_like(c.x)
    return (c.side > 0 if side == "left" else c.side < 0).astype(np.float32)


def _extra_markings(rng: np.random.Generator, s: float) -> np.ndarray:
    """Denser, more tortuous branches for increased lung marking."""
    extra = np.concatenate([_vessels(rng, 0.008, 0.35), _vessels(rng, 0.01, 0.3)])
    return _scaled(extra, 0.4 + 0.6 * s)


def _reticulation(c: _Canvas, rng: np.random.Generator, lungs: np.ndarray, s: float) -> np.ndarray:
    """A fine net of lines (zero crossings of band-passed noise), worst at the lung bases."""
    white = rng.standard_normal((c.g, c.g), dtype=np.float32)
    r = max(1, round(c.g / 256))
    band = _blur(white, r, 1) - _blur(white, 3 * r, 1)
    net = np.exp(-((band / (0.35 * band.std())) ** 2))
    basal = 0.35 + 0.65 * np.clip((c.y - 0.3) / 0.4, 0, 1)
    return (0.03 + 0.05 * s) * net * lungs * basal


def _pleural_band(c: _Canvas, a: Anatomy, rng: np.random.Generator, s: float) -> np.ndarray:
    """A thick, slightly wavy line along the lateral chest wall inside the lung outline."""
    thick = (0.07 + 0.13 * s) * (
        0.75 + 0.25 * np.sin(c.y * rng.uniform(20, 35) + rng.uniform(0, 6.3))
    )
    radius = _lung_radius(c, a)
    band = _ramp((radius - (1 - thick)) * a.lung_rx, 2 * c.px)
    lateral = _ramp(c.u - a.lung_cx + 0.03, 0.04) * _ramp(_dome(c, a) - c.y, 2 * c.px)
    return band * lateral * _ramp(c.y - 0.2, 0.05)


def _angle_fill(c: _Canvas, a: Anatomy, s: float) -> np.ndarray:
    """Soft tissue filling the lateral costophrenic angle so that it is no longer sharp."""
    rise = 0.03 + 0.05 * s
    width = 0.08 + 0.05 * s
    lateral = a.lung_cx + a.lung_rx
    v = np.clip((c.u - (lateral - width)) / width, 0, 1)
    surface = _dome(c, a) - rise * v * v
    return _ramp(c.y - surface, 3 * c.px) * _ramp(c.u - (lateral - width), 2 * c.px)


def _effusion(c: _Canvas, a: Anatomy, s: float) -> np.ndarray:
    """Fluid at the lung base with a meniscus climbing the lateral wall."""
    level = np.where(c.side < 0, a.dome_peak[0], a.dome_peak[1]) - (0.03 + 0.12 * s)
    lateral = a.lung_cx + a.lung_rx
    v = np.clip((c.u - a.lung_medial) / (lateral - a.lung_medial), 0, 1)
    surface = level + 0.04 * (1 - v) - 0.07 * v**6  # climbs the lateral wall
    fluid = _ramp(c.y - surface, 6 * c.px)
    return fluid * np.clip(0.8 + (c.y - surface) * 4, 0, 1)


def _calcified_knob(c: _Canvas, a: Anatomy, rng: np.random.Generator, s: float) -> np.ndarray:
    """A bright crescent of calcium along the top and outer rim of the aortic knob."""
    kx, ky, kr = a.knob
    rim = kr * 0.85
    dist = np.hypot(c.x - kx, c.y - ky)
    angle = np.arctan2(c.y - ky, c.x - kx)
    ring = _ramp(0.0035 + 0.002 * s - np.abs(dist - rim), 1.5 * c.px)
    arc = _ramp(angle + 2.7, 0.3) * _ramp(0.5 - angle, 0.3)
    beads = 0.6 + 0.4 * np.cos(angle * rng.uniform(5, 9) + rng.uniform(0, 6.3))
    return ring * arc * beads


def _bronchial_walls(rng: np.random.Generator, s: float) -> np.ndarray:
    """Tram lines and end-on thick-walled rings around the hila (peribronchial thickening)."""
    rows = []
    for side in (-1.0, 1.0):
        hx, hy = side * 0.1, 0.45
        for _ in range(6 + int(8 * s)):
            angle = rng.uniform(-1.2, 1.4)
            angle = angle if side > 0 else np.pi - angle
            start, length = rng.uniform(0.02, 0.07), rng.uniform(0.035, 0.07)
            dx, dy = np.cos(angle), np.sin(angle)
            ox, oy = hx + start * dx, hy + start * dy
            for offset in (-0.0065, 0.0065):
                x0, y0 = ox - dy * offset, oy + dx * offset
                rows.append((x0, y0, x0 + length * dx, y0 + length * dy, 1.0))
        for _ in range(4 + int(6 * s)):
            cx, cy = hx + side * rng.uniform(0.02, 0.1), hy + rng.uniform(-0.08, 0.1)
            r = rng.uniform(0.007, 0.012)
            theta = np.linspace(0, 2 * np.pi, 13)
            px, py = cx + r * np.cos(theta), cy + r * np.sin(theta)
            rows += [(px[i], py[i], px[i + 1], py[i + 1], 1.0) for i in range(12)]
    return _scaled(np.array(rows), 0.7 + 0.9 * s)


# --------------------------------------------------------------------------------------------
# Composition: the whole chest on the low-resolution grid
# --------------------------------------------------------------------------------------------


def chest_density(
    labels: set[str],
    strength: Mapping[str, float],
    laterality: Mapping[str, str],
    g: int,
    streams: Mapping[str, np.random.Generator],
) -> tuple[np.ndarray, Anatomy]:
    """Attenuation on the low-resolution grid (0 = air outside the body, ~1 = bone)."""
    a = _sample_anatomy(streams["anatomy"])
    _apply_shape_signs(a, labels, strength)
    c = _Canvas.make(g)
    lungs = _lungs(c, a)
    mediastinum = _mediastinum(c, a)
    air = lungs * (1 - 0.85 * mediastinum)

    def sided(key: str) -> np.ndarray:
        return _side_mask(c, laterality[key])

    if "pleural_thickening" in labels:
        band = _pleural_band(c, a, streams["pleura"], strength["pleural_thickening"])
        air *= 1 - 0.9 * band * sided("pleural_thickening")
    if "costophrenic_angle_blunting" in labels:
        fill = _angle_fill(c, a, strength["costophrenic_angle_blunting"])
        air *= 1 - 0.9 * fill * sided("costophrenic_angle_blunting")
    if "pleural_effusion" in labels:
        fluid = _effusion(c, a, strength["pleural_effusion"])
        air *= 1 - 0.95 * fluid * sided("pleural_effusion")

    density = a.tissue * _body(c, a)
    lucency = (0.8 + 0.3 * np.clip(c.u / 0.3, 0, 1)) * (1 - 0.25 * _ramp(0.22 - c.y, 0.1))
    density -= a.air * air * lucency
    density += 0.06 * np.clip(c.y - _dome(c, a), 0, 0.05) / 0.05
    posterior, anterior = _ribs(c, a)
    visible = 0.45 + 0.55 * air  # bone shows best against air
    density += (0.075 * posterior + 0.03 * anterior) * visible
    density += 0.12 * _clavicles(c) + 0.05 * _spine(c)
    trachea = _segments_field(c, [(-0.004, 0.0, 0.0, 0.37)], 0.011)
    bronchi = _segments_field(c, [(0.0, 0.37, -0.09, 0.44), (0.0, 0.37, 0.085, 0.44)], 0.006)
    density -= 0.06 * np.maximum(trachea, bronchi)
    density += 0.07 * sum(_blob(c, s * 0.1, 0.45, 0.035) for s in (-1.0, 1.0))
    if a.gastric_bubble:
        peak = a.dome_peak[1] + a.dome_height * ((0.16 - a.lung_cx) / 0.2) ** 2
        bubble = _ellipse(c, 0.16, peak + 0.05, 0.045, 0.028) * _ramp(peak + 0.055 - c.y, c.px)
        density -= 0.1 * bubble

    lines = _vessels(streams["vessels"], 0.014, 0.12)
    midpoint_u = np.abs(lines[:, 0] + lines[:, 2]) / 2
    lines = _scaled(
        lines, a.vessel_gain * (1 - a.vessel_pruning * np.clip((midpoint_u - 0.18) / 0.15, 0, 1))
    )
    drawn = [lines]
    if "increased_lung_marking" in labels:
        drawn.append(_extra_markings(streams["ilm"], strength["increased_lung_marking"]))
    if "bronchitis" in labels:
        drawn.append(_bronchial_walls(streams["bronchitis"], strength["bronchitis"]))
        haze = sum(_blob(c, side * 0.11, 0.46, 0.06) for side in (-1.0, 1.0))
        density += 0.025 * strength["bronchitis"] * haze
    density += 0.11 * _rasterise(c, np.concatenate(drawn)) * lungs * (1 - 0.7 * mediastinum)
    if "pulmonary_interstitial_hyperplasia" in labels:
        s = strength["pulmonary_interstitial_hyperplasia"]
        density += _reticulation(c, streams["interstitial"], lungs, s)
    if "aortosclerosis" in labels:
        s = strength["aortosclerosis"]
        density += (0.12 + 0.2 * s) * _calcified_knob(c, a, streams["aorta"], s)
    if "pleural_thickening" in labels:
        density += 0.03 * band * lungs * sided("pleural_thickening")

    mottle = streams["mottle"].standard_normal((24, 24), dtype=np.float32)
    density += 0.012 * _resize(mottle, g)
    return density, a


def _resize(a: np.ndarray, size: int) -> np.ndarray:
    """Smooth (bicubic) resize of a small float image to size×size."""
    if a.shape == (size, size):
        return a
    image = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32), mode="F")
    return np.asarray(image.resize((size, size), Image.Resampling.BICUBIC))
