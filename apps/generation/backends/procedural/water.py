"""Water: mirrored reflections with ripples, the glitter path, wave foam, rivers and shores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from apps.generation.backends.procedural.arrays import as_rgb, box_blur, gather, smoothstep
from apps.generation.backends.procedural.canvas import Canvas
from apps.generation.backends.procedural.land import shade_land, tree_profile
from apps.generation.backends.procedural.looks import TERRAIN
from apps.generation.backends.procedural.vocabulary import SUN_HIDDEN_BY

# Parallax (share of a video camera's motion): the water plane moves like the ground it lies on,
# from the far shore at the horizon to the near shore at the bottom of the frame.
WATER_PARALLAX = (0.6, 1.1)
FOREGROUND_PARALLAX = 1.1

# kind -> (reflectivity far, near, ripple size, vertical smear)
WATER_KINDS: dict[str, tuple[float, float, float, float]] = {
    "lake": (0.96, 0.78, 0.0035, 0.001),
    "sea": (0.92, 0.5, 0.018, 0.01),
    "river": (0.9, 0.7, 0.008, 0.006),
    "street": (0.65, 0.3, 0.0008, 0.05),
}


@dataclass(frozen=True)
class WaterSurface:
    """The water plane below the horizon row: depth per row, ripple noise, fresnel, colour."""

    kind: str
    rows: slice
    d: np.ndarray  # (rows,) distance below the horizon, scene units
    w: np.ndarray  # (rows,) perspective depth: ripple bands shrink towards the horizon
    n1: np.ndarray  # (rows, W) horizontal ripple noise
    n2: np.ndarray  # (rows, W) vertical ripple noise; also shades the surface
    ripple: float
    smear: float
    fresnel: np.ndarray  # (rows,) how much the water reflects
    deep: np.ndarray  # (3,) the water's own colour


def water_surface(c: Canvas, kind: str, *, columns: np.ndarray | None = None) -> WaterSurface:
    """Everything about the water that does not depend on what it reflects. ``columns`` (scene
    units) samples the noise elsewhere than under the canvas (videos scroll a wider strip)."""
    u = c.u if columns is None else columns
    rows = slice(c.hz_row, c.h)
    far_r, near_r, ripple, smear = WATER_KINDS[kind]
    if c.scene.weather in ("rain", "storm") and kind == "street":
        far_r, near_r = 0.8, 0.55
    d = np.maximum(c.v[rows] - c.hz, 0.0)
    w = 1.0 / (d + 0.03)  # perspective depth: ripple bands shrink towards the horizon
    x = (u + 2) * (40.0 if kind == "street" else 3.0)
    ext_x = 170 if kind == "street" else 14
    n1 = c.noise.fbm2d("ripple_x" + kind, x, w * 3, 3 + c.detail, extent=(ext_x, 110))
    if kind == "street":  # wet tarmac smears reflections into vertical streaks
        n2 = c.noise.fbm2d("ripple_y" + kind, (u + 2) * 90, w * 0.6, 3, extent=(370, 25))
    else:
        n2 = c.noise.fbm2d("ripple_y" + kind, (u + 2) * 2.0, w * 9, 3, extent=(10, 310))
    fresnel = near_r + (far_r - near_r) * np.exp(-d / 0.18)
    deep = as_rgb(c.look.water) * 0.8 + as_rgb(c.look.horizon) * 0.1
    if kind == "street":
        deep = as_rgb("#14151c") * as_rgb(c.look.light) * 2.0 + 0.02
    return WaterSurface(kind, rows, d, w, n1, n2, ripple, smear, fresnel, deep)


def paint_water(c: Canvas, kind: str, mask: np.ndarray | None = None) -> None:
    """Mirror everything above the waterline, displaced by perspective-scaled ripples, fresnel-
    blended with the water's colour, plus a glitter path under the sun or moon."""
    y0 = c.hz_row
    if y0 >= c.h:
        return
    s = water_surface(c, kind)
    rows, d, w, n2 = s.rows, s.d, s.w, s.n2
    scale = (d / 0.4 * c.h)[:, None]  # ripples grow towards the viewer
    dx = (s.n1 - 0.5) * 2.0 * s.ripple * scale
    dy = (n2 - 0.5) * 2.0 * s.smear * scale
    src_y = (2 * y0 - 1 - np.arange(y0, c.h))[:, None] + dy
    src_x = np.arange(c.w)[None, :] + dx
    reflection = gather(c.img[:y0], np.clip(src_y, 0, y0 - 1), src_x)
    if kind == "street":  # wet tarmac: reflections smear into vertical streaks
        r = max(1, round(c.h * 0.012))
        reflection = box_blur(box_blur(reflection, r, axes=(0,)), r, axes=(0,))
    fresnel = s.fresnel[:, None, None]
    deep = s.deep
    colour = deep + (reflection - deep) * fresnel
    colour = colour * surface_shade(s)[..., None]
    colour = colour + glitter(c, rows, d, w, kind)
    if rough_sea(c, kind):
        colour = colour + wave_foam(c, rows, d, w)
    if mask is None:
        c.img[rows] = colour
    else:
        region = c.img[rows]
        region += (colour - region) * mask[..., None]


def surface_shade(s: WaterSurface) -> np.ndarray:
    """Brightness variation of the surface itself (swell catching light), stronger nearby."""
    near = np.clip(s.d / 0.12, 0, 1)[:, None]
    return 1.0 + 0.14 * (s.n2 - 0.5) * near


def rough_sea(c: Canvas, kind: str) -> bool:
    return kind == "sea" and ("waves" in c.scene.elements or c.scene.weather == "storm")


def glitter_light(c: Canvas, kind: str) -> tuple[float, np.ndarray]:
    """How strong the glitter path is (0: none) and its colour."""
    lv = c.light_pos[1]
    strength = 0.0
    if "sun" in c.scene.elements and lv < c.hz:
        strength = 0.6 + 0.6 * float(np.clip(1 - (c.hz - lv) / 0.3, 0, 1))
    elif "moon" in c.scene.elements and c.night:
        strength = 0.55
    if c.scene.weather in SUN_HIDDEN_BY:
        strength *= 0.3
    if kind == "street":
        strength = 0.0
    light = as_rgb(c.look.sun) if "sun" in c.scene.elements and not c.night else as_rgb("#dfe6ff")
    return strength, light


def glitter_band(c: Canvas, d: np.ndarray, columns: np.ndarray | None = None) -> np.ndarray:
    """Where the glitter path lies: a band below the light, widening towards the viewer."""
    u = c.u if columns is None else columns
    width = (0.012 + 0.28 * d)[:, None]
    return np.exp(-(((u - c.light_pos[0])[None, :] / width) ** 2))


def glitter(c: Canvas, rows: slice, d: np.ndarray, w: np.ndarray, kind: str) -> np.ndarray:
    """Sparkles in a widening band below the light: the sun's path on water."""
    strength, light = glitter_light(c, kind)
    if strength == 0.0:
        return np.zeros((1, 1, 3), np.float32)
    band = glitter_band(c, d)
    spark = c.noise.fbm2d("glitter", (c.u + 2) * 220, w * 40, 2, extent=(300, 400))
    spark = smoothstep(0.62, 0.8, spark)
    soft = 0.35 if kind != "street" else 0.1
    return (band * (spark + soft * 0.4) * strength)[..., None] * light


def wave_foam(c: Canvas, rows: slice, d: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Breaking crests: bright lines in perspective, thicker near the viewer, and shore foam."""
    n = c.noise.fbm2d("waves", (c.u + 2) * 2.5, w * 2.2, 3 + c.detail, extent=(11, 80))
    crest = smoothstep(0.6, 0.72, n) * np.clip(d / 0.25, 0, 1)[:, None]
    shore = smoothstep(0.86, 0.95, c.v[rows])[:, None] * smoothstep(
        0.4, 0.6, c.noise.fbm2d("foam", (c.u + 2) * 8, c.v[rows] * 30, 3, extent=(34, 31))
    )
    foam = np.clip(crest * 0.55 + shore, 0, 1)
    return foam[..., None] * (as_rgb("#f2f6f8") * as_rgb(c.look.light) * 0.9)


def river_course(c: Canvas, ridges: list[np.ndarray]) -> tuple[float, np.ndarray, np.ndarray]:
    """Where the river runs, per row below the horizon: (start, centre, half width), scene units.
    It winds from behind the far hills towards the viewer, widening with nearness."""
    start = float(np.median(ridges[0])) if ridges else c.hz
    v = c.v[c.hz_row :]
    t = np.clip((v - start) / (1.0 - start), 0, 1)
    meander = c.noise.fbm1d("river", t * 3.0 + 1.0, 3, extent=8)
    centre = c.scene.sun_x * 0.5 + (meander - 0.5) * 0.9 * (0.2 + t)
    half = 0.003 + 0.16 * t**1.7
    return start, centre, half


def paint_river(c: Canvas, ridges: list[np.ndarray]) -> None:
    """A river winding from behind the far hills towards the viewer, widening with nearness."""
    start, centre, half = river_course(c, ridges)
    v = c.v[c.hz_row :]
    mask = np.clip((half[:, None] - np.abs(c.u[None, :] - centre[:, None])) * c.h, 0, 1)
    mask *= (v > start)[:, None]
    paint_water(c, "river", mask)


def paint_foreground(c: Canvas) -> None:
    """A near shore for lakes (dark, with trees) or a sandy beach for seas by the desert."""
    el = c.scene.elements
    if el & {"lake", "desert"}:
        c.layer(FOREGROUND_PARALLAX)
    if "lake" in el:
        shape = c.noise.fbm1d("nearshore", (c.u + 2) * 2.5, 4 + c.detail, extent=12)
        ridge = 0.945 + (0.5 - shape) * 0.05
        if "forest" in el:
            clumps = smoothstep(0.55, 0.7, c.noise.fbm1d("neartrees", (c.u + 2) * 1.2, 2, extent=6))
            trees = tree_profile(c, "neartrees", 0.05, 0.3, 0.95) * clumps
            ridge = ridge - trees
        reeds = smoothstep(0.5, 0.62, c.noise.fbm1d("reedclumps", (c.u + 2) * 4, 2, extent=18))
        ridge = ridge - tree_profile(c, "reeds", 0.003, 0.03, 0.55, slim=0.04) * reeds
        rows = c.rows(float(ridge.min()), 1.0)
        colour = shade_land(c, ridge, rows, as_rgb(TERRAIN["shore"]), 0.0, bottom=1.5, relief=0.3)
        c.fill(ridge, colour, rows)
    elif "desert" in el:
        shape = c.noise.fbm1d("beach", (c.u + 2) * 1.5, 4 + c.detail, extent=8)
        ridge = 0.88 + (0.5 - shape) * 0.05
        rows = c.rows(float(ridge.min()), 1.0)
        colour = shade_land(c, ridge, rows, as_rgb(TERRAIN["beach"]), 0.0, bottom=1.5)
        c.fill(ridge, colour, rows)
