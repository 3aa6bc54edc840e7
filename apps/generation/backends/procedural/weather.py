"""Weather overlays: fog, rain, snow, lightning, and the vaporwave grid."""

from __future__ import annotations

import numpy as np

from apps.generation.backends.procedural.arrays import as_rgb, box_blur, smoothstep
from apps.generation.backends.procedural.canvas import Canvas

RAIN_SLANT = 0.18  # sideways pixels per pixel of fall
RAIN_DARKENS = 0.95
# flake radius (scene units) -> count over a 3-unit-wide strip of sky
SNOW_FLAKES = ((0.0016, 1400), (0.004, 260))


def fog_amount(c: Canvas) -> np.ndarray:
    """How much fog covers each pixel (H, W): thickest at the horizon, in horizontal wisps."""
    wisps = c.noise.fbm2d("fog", (c.u + 2) * 2, c.v * 9, 3 + c.detail, extent=(9, 10))
    near_hz = np.exp(-np.abs(c.v - c.hz) / 0.12)[:, None]
    return np.clip(c.fog * (0.25 + 0.75 * near_hz) * (0.6 + 0.8 * wisps), 0, 0.92)


def fog_tone(c: Canvas) -> np.ndarray:
    return as_rgb(c.look.haze) * 0.7 + as_rgb(c.look.horizon) * 0.3


def paint_fog(c: Canvas) -> None:
    """Banks of fog thickest at the horizon, drifting in horizontal wisps."""
    amount = fog_amount(c)
    tone = fog_tone(c)
    c.img += (tone - c.img) * amount[..., None]


def paint_rain(c: Canvas) -> None:
    """Two sheets of slanted streaks: noise stretched vertically, then sheared row by row."""
    heavy = rain_heaviness(c)
    tone = rain_tone(c)
    for k, (fx, fy, alpha) in enumerate(((260.0, 4.0, 0.16), (140.0, 2.5, 0.22))):
        n = c.noise.fbm2d(f"rain{k}", (c.u + 2) * fx, c.v * fy, 1, extent=(4 * fx + 4, fy + 2))
        streak = smoothstep(0.8 - 0.05 * heavy, 0.97, n)
        shift = np.rint(c.v * c.h * RAIN_SLANT).astype(np.intp)
        cols = (np.arange(c.w)[None, :] + shift[:, None]) % c.w
        streak = np.take_along_axis(streak, cols, axis=1)
        c.img += (tone - c.img) * (streak * alpha * heavy)[..., None]
    c.img *= RAIN_DARKENS


def rain_heaviness(c: Canvas) -> float:
    return 1.4 if c.scene.weather == "storm" else 1.0


def rain_tone(c: Canvas) -> np.ndarray:
    return as_rgb(c.look.horizon) * 0.5 + 0.45


def paint_snow(c: Canvas) -> None:
    """Soft flakes of two sizes: points splatted then blurred into discs."""
    rng = c.noise.rng("snow")
    for size, count in SNOW_FLAKES:
        xs = np.rint(c.to_px(rng.uniform(-1.5, 1.5, count))).astype(np.intp)
        ys = (rng.random(count) * c.h).astype(np.intp)
        keep = (xs >= 0) & (xs < c.w)
        layer = np.zeros((c.h, c.w), np.float32)
        np.add.at(layer, (ys[keep], xs[keep]), 1.0)
        r = max(1, round(size * c.h))
        layer = box_blur(box_blur(layer, r), r) * (2 * r + 1) ** 2 * 0.45
        c.img += (0.96 - c.img) * np.clip(layer, 0, 0.9)[..., None]


def paint_lightning(c: Canvas) -> None:
    """A forked bolt from the cloud base to the ground, and the flash it throws on the sky."""
    rng = c.noise.rng("lightning")
    top, bottom = 0.08, c.hz + 0.01
    steps = rng.normal(0, 0.012, 90).cumsum()
    start = rng.uniform(-0.25, 0.25)
    rows = c.rows(top, bottom)
    v = c.v[rows]
    path = start + np.interp((v - top) / (bottom - top), np.linspace(0, 1, 90), steps)
    dist = np.abs(c.u[None, :] - path[:, None])
    core = np.exp(-dist * c.h / 1.2)
    halo = np.exp(-dist / 0.03) * 0.25
    c.img[rows] += (core + halo)[..., None] * as_rgb("#e8e4ff")
    flash = np.exp(-np.hypot(c.u[None, :] - start, c.v[:, None] - top) / 0.35) * 0.25
    c.img += flash[..., None] * as_rgb("#c8c8ff")


def paint_vaporwave_grid(c: Canvas) -> None:
    """The perspective neon grid over the ground plane, magenta fading to cyan."""
    rows = slice(c.hz_row, c.h)
    d = np.maximum(c.v[rows] - c.hz, 1e-3)[:, None]
    depth = 0.25 / d
    across = c.u[None, :] / d * 0.5
    line_h = np.abs(((depth + 0.5) % 1.0) - 0.5) / (0.25 / d**2 / c.h + 1e-6)
    line_v = np.abs(((across * 8 + 0.5) % 1.0) - 0.5) / (4.0 / d / c.h)
    lines = np.clip(1.5 - np.minimum(line_h, line_v), 0, 1) * np.clip(d / 0.05, 0, 1)
    colour = (
        as_rgb("#ff3bd4")
        + (as_rgb("#33e8ff") - as_rgb("#ff3bd4")) * np.clip(d / 0.4, 0, 1)[..., None]
    )
    c.img[rows] += lines[..., None] * colour * 0.9
