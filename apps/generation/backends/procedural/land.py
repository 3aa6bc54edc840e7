"""Land painters: mountain ranges, rolling ground, trees, cities, shores and islands."""

from __future__ import annotations

import numpy as np

from apps.generation.backends.procedural.arrays import (
    as_rgb,
    box_blur,
    glow_blur,
    hex_rgb,
    smoothstep,
)
from apps.generation.backends.procedural.canvas import Canvas
from apps.generation.backends.procedural.looks import NEON_COLOURS, TERRAIN


def shade_land(
    c: Canvas,
    ridge: np.ndarray,
    rows: slice,
    base: np.ndarray,
    haze: float,
    *,
    bottom: float,
    relief: float = 1.0,
    spurs: float = 0.0,
    falloff: float | None = None,
    texture: str | None = None,
    snow_line: float | None = None,
    height: float = 0.3,
) -> np.ndarray:
    """Colour of a land layer: warm direct light on faces turned to the sun, cool sky light in
    the shadows, and haze that grows with distance (atmospheric perspective).

    ``spurs`` shears the lit/shadow split diagonally down from each peak, so mountain faces
    read as spurs rather than vertical stripes. ``snow_line`` (0..1 of ``height`` above
    ``bottom``) caps peaks; ``falloff`` keeps direct light to the crest of rolling ground.
    """
    v = c.v[rows][:, None]
    below = np.maximum(v - ridge[None, :], 0.0)
    slope = np.gradient(ridge) * c.h
    radius = max(1, round(c.h * 0.018))
    slope = box_blur(box_blur(slope, radius, axes=(0,)), radius, axes=(0,))
    side = np.tanh((c.light_pos[0] - c.u) * 6.0)
    facing = np.clip(0.5 + relief * slope * side * 1.4, 0.0, 1.0)
    shear = np.arange(c.w)[None, :] + below * c.h * spurs * side[None, :]
    lit = facing[np.clip(shear.astype(np.intp), 0, c.w - 1)]
    if spurs:  # spurs are strongest near the crest and blur into the massif below
        lit = 0.5 + (lit - 0.5) * np.exp(-below / 0.1)
    lit = lit * (1.0 - 0.35 * np.clip(below / 0.15, 0, 1))
    if falloff:  # rolling ground: only the crest catches the light, the body stays even
        lit = 0.45 + (lit - 0.45) * np.exp(-below / falloff)
    tex = np.ones_like(lit)
    if texture:
        tex = c.noise.fbm2d(texture, (c.u + 2) * 9, c.v[rows] * 9, 3 + c.detail, extent=(38, 11))
        tex = 0.8 + 0.4 * tex
    look = c.look
    sky = (as_rgb(look.zenith) + as_rgb(look.horizon)) * 0.5
    light = (0.45 * tex)[..., None] * sky + (1.0 * lit * tex)[..., None] * as_rgb(look.light)
    colour = base * light
    if snow_line is not None:
        altitude = (bottom - v) / max(height, 1e-3)
        wobble = c.noise.fbm1d("snowline", (c.u + 2) * 20, 3, extent=85)[None, :] * 0.25
        cap = smoothstep(snow_line, snow_line + 0.06, altitude + wobble - 0.12)
        snow = as_rgb(TERRAIN["snow"]) * light
        colour = colour + (snow - colour) * cap[..., None]
    mist = smoothstep(bottom - 0.1, bottom, v) * (0.12 + c.fog * 0.4)
    amount = np.clip(haze + c.fog * 0.45 * (0.3 + haze) + mist * (1 - haze), 0, 0.97)
    return colour + (c.haze_colour(rows) - colour) * amount[..., None]


def ridge_profile(c: Canvas, name: str, freq: float, octaves: int, ridged: float) -> np.ndarray:
    """A skyline profile in [0, 1]: a blend of rounded and ridged (sharp-peaked) noise."""
    x = (c.u + 2) * freq
    extent = 4 * freq + 2
    smooth = c.noise.fbm1d(name, x, octaves, extent=extent)
    sharp = c.noise.fbm1d(name + "r", x, octaves, extent=extent, ridged=True)
    return np.clip(((1 - ridged) * smooth + ridged * sharp - 0.3) / 0.45, 0, 1)


def paint_mountains(c: Canvas, layers: int, base_v: float) -> None:
    """Layered ranges, far ones taller, paler and bluer (atmospheric perspective)."""
    specs = ((0.34, 0.46, 1.1), (0.24, 0.26, 1.7), (0.15, 0.08, 2.6))[-layers:]
    su, sv = c.sun
    dip = np.zeros_like(c.u)
    if "sun" in c.scene.elements and c.hz - sv < 0.25:  # open a valley for a low sun
        dip = 0.7 * np.exp(-(((c.u - su) / 0.22) ** 2))
    snowy = c.scene.weather == "snow"
    desert = "desert" in c.scene.elements
    parallax = (0.3, 0.42, 0.55)[-layers:]
    for k, (height, haze, freq) in enumerate(specs):
        c.layer(parallax[k])
        shape = ridge_profile(c, f"mountain{k}", freq, 6 + c.detail, 0.65)
        ridge = base_v - height * (0.12 + 0.88 * shape) * (1 - dip)
        rows = c.rows(float(ridge.min()), base_v + 0.02)
        base = as_rgb(TERRAIN["sand"]) * 0.8 if desert else as_rgb(TERRAIN["rock"])
        snow_line = None if desert else (0.35 if snowy else 0.7 - 0.08 * k)
        colour = shade_land(
            c,
            ridge,
            rows,
            base,
            haze,
            bottom=base_v,
            texture=f"rock{k}",
            snow_line=snow_line,
            height=height,
            spurs=0.7,
        )
        c.fill(ridge, colour, rows)


def tree_profile(
    c: Canvas, name: str, spacing: float, height: float, density: float, slim: float = 0.3
) -> np.ndarray:
    """Heights of a row of conifers along x: triangles with notched, branchy flanks."""
    rng = c.noise.rng(name)
    table = rng.random((3, 4096)).astype(np.float32)
    cell = np.floor((c.u + 2) / spacing).astype(np.int64)
    best = np.zeros(c.w, np.float32)
    for off in (-1, 0, 1):
        idx = (cell + off) % 4096
        centre = (cell + off + 0.5 + (table[0, idx] - 0.5) * 0.8) * spacing - 2
        h = height * (0.55 + 0.6 * table[1, idx]) * (table[2, idx] < density)
        half = h * slim
        dist = np.abs(c.u - centre) / np.maximum(half, 1e-6)
        notch = 1.0 - 0.12 * ((dist * 4.0) % 1.0)
        best = np.maximum(best, h * np.clip(1.0 - dist, 0, 1) * notch)
    return best


def paint_trees(c: Canvas, ground: np.ndarray, name: str, height: float, haze: float) -> None:
    """A treeline standing on ``ground`` (a ridge), clumped by low-frequency noise."""
    clumps = smoothstep(0.35, 0.6, c.noise.fbm1d(name + "c", (c.u + 2) * 3, 3, extent=14))
    trees = tree_profile(c, name, height * 0.45, height, 0.9) * (0.25 + 0.75 * clumps)
    top = ground - trees
    rows = c.rows(float(top.min()), float(ground.max()) + 0.01)
    base = as_rgb(TERRAIN["forest"])
    if c.scene.weather == "snow":
        base = base * 0.7 + as_rgb(TERRAIN["snow"]) * 0.3
    colour = shade_land(c, top, rows, base, haze, bottom=float(ground.max()), relief=0.4)
    c.fill(top, colour, rows)


def paint_city(c: Canvas) -> None:
    """Three rows of buildings with lit windows; neon signs and their glow when asked."""
    neon = "neon" in c.scene.elements
    # lights live above the street line; their glow spills a little below it
    emissive = np.zeros((min(c.h, c.hz_row + round(c.h * 0.06)), c.w, 3), np.float32)
    specs = (
        (0.05, 0.2, 0.62, 0.018, 0.04),
        (0.07, 0.3, 0.35, 0.025, 0.055),
        (0.08, 0.42, 0.08, 0.035, 0.08),
    )
    for k, (h_lo, h_hi, haze, w_lo, w_hi) in enumerate(specs):
        c.layer((0.35, 0.45, 0.55)[k])
        if c.sink is None:
            city_layer(c, k, (h_lo, h_hi), (w_lo, w_hi), haze, neon, emissive)
            continue
        # a video moves each row on its own, so each carries its own lights, and the signs are
        # handed over separately so they can flicker
        signs = np.zeros_like(emissive)
        city_layer(c, k, (h_lo, h_hi), (w_lo, w_hi), haze, neon, emissive, signs)
        c.sink.neon(0, signs)
        emissive += signs
        c.img[: emissive.shape[0]] += emissive + glow_blur(emissive, c.h * 0.02) * 1.6
        emissive[:] = 0.0
    if neon:
        rows = slice(0, c.hz_row)
        sky_glow = np.exp(-(c.hz - c.v[rows]) / 0.15)[:, None, None] * 0.35
        c.img[rows] += sky_glow * (as_rgb("#ff2bd6") * 0.6 + as_rgb("#6a3dff") * 0.4)
    c.img[: emissive.shape[0]] += emissive + glow_blur(emissive, c.h * 0.02) * 1.6


def city_layer(
    c: Canvas,
    k: int,
    heights: tuple[float, float],
    widths: tuple[float, float],
    haze: float,
    neon: bool,
    emissive: np.ndarray,
    signs: np.ndarray | None = None,
) -> None:
    """One row of buildings: facades fading into haze, a rim of sky light on the roofs, and a
    window grid per building lit by a lookup on (building, cell), computed only on panes."""
    rng = c.noise.rng(f"city{k}")
    n = 400
    edges = np.concatenate([[-2.0], -2.0 + np.cumsum(rng.uniform(*widths, n))])
    tall = rng.random(n) < 0.12
    top = rng.uniform(*heights, n) * np.where(tall, 1.5, 1.0)
    tint = 0.8 + 0.4 * rng.random(n)
    grid = 0.75 + 0.6 * rng.random(n)  # window size varies by building
    occupancy = rng.random(n) ** 2.2 * 2.4  # some towers dark, a few ablaze
    table = rng.random(8192).astype(np.float32)
    idx = np.clip(np.searchsorted(edges, c.u, side="right") - 1, 0, n - 1)
    ridge = c.hz - top[idx] + 0.002 * k
    rows = c.rows(float(ridge.min()), c.hz + 0.01)
    v = c.v[rows]
    below = v[:, None] - ridge[None, :]
    alpha = np.clip(below * c.h + 0.5, 0, 1)

    horizon = as_rgb(c.look.horizon)
    facade = as_rgb(TERRAIN["building"]) * as_rgb(c.look.light) * 1.6 * tint[idx][:, None]
    facade = facade + horizon * 0.05
    colour = facade + (c.haze_colour(rows) - facade) * (haze + c.fog * 0.3)
    colour += np.clip(1.0 - below * c.h / 2.0, 0, 1)[..., None] * horizon * 0.5

    cw = 0.0055 * (1 + 0.3 * k) * grid[idx]
    ch = 0.008 * (1 + 0.3 * k)
    lx, ly = (c.u - edges[idx]) / cw, v / ch
    col_ok = (lx % 1 > 0.25) & (lx % 1 < 0.75) & ((edges[idx + 1] - c.u) > cw * 0.5)
    row_ok = (ly % 1 > 0.3) & (ly % 1 < 0.75)
    ys, xs = np.nonzero(row_ok[:, None] & col_ok[None, :] & (below > ch))
    key = (idx[xs] * 7919 + np.floor(lx[xs]).astype(np.int64) * 131) + (
        np.floor(ly[ys]).astype(np.int64) * 31
    )
    colour[ys, xs] += 0.08 * (1 - c.look.windows)  # glass catches the sky
    lit = table[key & 8191] < c.look.windows * occupancy[idx[xs]] * (1.0 - 0.4 * haze)
    warm = (table[(key + 17) & 8191] < 0.7)[lit][:, None]
    fade = 1.0 - haze * 0.6
    light = np.where(warm, as_rgb("#ffcf7a"), as_rgb("#bfe0ff")) * 0.85 * fade
    ly_lit, lx_lit = ys[lit], xs[lit]

    c.fill(ridge, colour, rows)
    lights = emissive[rows]
    lights[ly_lit, lx_lit] += light * alpha[ly_lit, lx_lit][:, None]
    if neon:
        neon_signs(c, rng, rows, ridge, edges, idx, lights if signs is None else signs[rows], fade)


def neon_signs(
    c: Canvas,
    rng: np.random.Generator,
    rows: slice,
    ridge: np.ndarray,
    edges: np.ndarray,
    idx: np.ndarray,
    lights: np.ndarray,
    fade: float,
) -> None:
    """Roof-edge strips and vertical signs on some buildings, in a few saturated colours."""
    n = edges.size - 1
    palette = np.array([hex_rgb(h) for h in NEON_COLOURS], np.float32)
    pick = palette[rng.integers(0, len(palette), n)][idx]
    has_strip = (rng.random(n) < 0.35)[idx]
    has_sign = (rng.random(n) < 0.3)[idx]
    v = c.v[rows][:, None]
    below = v - ridge[None, :]
    strip = has_strip[None, :] & (below > 0) & (below < 0.0035)
    sign_x = edges[idx] + (edges[idx + 1] - edges[idx]) * 0.18
    sign_col = has_sign & (np.abs(c.u - sign_x) < 0.0035)
    sign_top = ridge + 0.02
    sign = sign_col[None, :] & (v > sign_top[None, :]) & (v < sign_top[None, :] + 0.07)
    lights += (strip | sign)[..., None] * pick[None, :, :] * 1.1 * fade


def paint_ground(c: Canvas, kind: str) -> list[np.ndarray]:
    """Rolling layers from the horizon to the bottom (hills, dunes or a plain); returns ridges
    so trees and rivers can follow them."""
    sand = kind == "desert"
    base = as_rgb(TERRAIN["sand"] if sand else TERRAIN["grass"])
    if c.scene.weather == "snow":
        base = base * 0.3 + as_rgb(TERRAIN["snow"]) * 0.7
    specs = ((-0.01, 0.05, 0.3, 1.6), (0.07, 0.07, 0.14, 1.2), (0.19, 0.09, 0.03, 0.9))
    amp_scale = 0.35 if kind == "plain" else 1.0
    ridges = []
    for k, (offset, amp, haze, freq) in enumerate(specs):
        c.layer((0.68, 0.82, 0.95)[k])
        shape = ridge_profile(c, f"ground{k}", freq, 4 + c.detail, 0.8 if sand else 0.1)
        ridge = c.hz + offset + amp * amp_scale * (0.6 - shape)
        ridges.append(ridge)
        if "forest" in c.scene.elements:
            paint_trees(c, ridge + 0.004, f"trees{k}", 0.03 + 0.035 * k, haze)
        rows = c.rows(float(ridge.min()), 1.0)
        shade_base = base * (1.0 - 0.12 * k)
        colour = shade_land(
            c,
            ridge,
            rows,
            shade_base,
            haze,
            bottom=1.5,
            relief=2.5 if sand else 1.2,
            falloff=0.05,
            texture=f"grass{k}",
        )
        if sand:
            colour = colour * dune_ripples(c, rows, ridge)[..., None]
        c.fill(ridge, colour, rows)
    return ridges


def dune_ripples(c: Canvas, rows: slice, ridge: np.ndarray) -> np.ndarray:
    """Wind ripples in sand: faint stripes that follow the dune crest."""
    depth = c.v[rows][:, None] - ridge[None, :]
    wob = c.noise.fbm1d("ripple_wob", (c.u + 2) * 8, 2, extent=34)[None, :] * 0.02
    return 0.985 + 0.015 * np.sin((depth + wob) * 300.0)


def paint_far_shore(c: Canvas) -> np.ndarray:
    """Low hills on the far side of the water, with trees when the prompt has a forest."""
    c.layer(0.6)
    shape = ridge_profile(c, "shore", 2.2, 4 + c.detail, 0.2)
    ridge = c.hz - 0.012 - 0.045 * shape
    if "forest" in c.scene.elements:
        paint_trees(c, ridge + 0.003, "shoretrees", 0.035, 0.35)
    rows = c.rows(float(ridge.min()), c.hz + 0.01)
    colour = shade_land(c, ridge, rows, as_rgb(TERRAIN["grass"]) * 0.7, 0.35, bottom=c.hz + 0.01)
    c.fill(ridge, colour, rows)
    return ridge


def paint_islands(c: Canvas) -> None:
    """A few islands on the waterline, nearer ones larger and less hazy."""
    c.layer(0.62)
    rng = c.noise.rng("islands")
    for k in range(int(rng.integers(2, 5))):
        centre = rng.uniform(-0.2, 0.2) if k == 0 else rng.uniform(-0.9, 0.9)
        width = rng.uniform(0.08, 0.2) * (1.4 if k == 0 else 1.0)
        height = width * rng.uniform(0.25, 0.45)
        t = np.clip(1 - ((c.u - centre) / width) ** 2, 0, 1) ** 0.6
        bumps = c.noise.fbm1d(f"island{k}", (c.u + 2) * 25, 3, extent=110)
        shape = t * height * (0.8 + 0.4 * bumps)
        ridge = np.where(shape > 0, c.hz - shape, c.hz + 0.01)
        if not np.any(shape > 0):
            continue
        if "forest" in c.scene.elements or "islands" in c.scene.elements:
            trees = tree_profile(c, f"palms{k}", 0.012, 0.018, 0.7) * (t > 0.2)
            ridge = np.minimum(ridge, ridge - trees)
        haze = 0.45 if k else 0.2
        rows = c.rows(float(ridge.min()), c.hz + 0.005)
        colour = shade_land(c, ridge, rows, as_rgb(TERRAIN["island"]), haze, bottom=c.hz)
        c.fill(ridge, colour, rows)
