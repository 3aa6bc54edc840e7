"""Sky painters: gradient and glow, stars, aurora, planets, sun, moon and clouds."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from apps.generation.backends.procedural.arrays import RGB, as_rgb, box_blur, luma, smoothstep
from apps.generation.backends.procedural.canvas import Canvas
from apps.generation.backends.procedural.looks import CLOUD_COVER, OVERCAST


def paint_sky(c: Canvas) -> None:
    """Three-stop vertical gradient plus the glow around the sun (or moon)."""
    look = c.look
    t = np.clip(c.v / c.hz, 0.0, 1.0)[:, None]
    upper = smoothstep(0.0, 0.62, t)
    lower = smoothstep(0.62, 1.0, t)
    z, m, hzc = as_rgb(look.zenith), as_rgb(look.mid), as_rgb(look.horizon)
    col = np.where(t < 0.62, z + (m - z) * upper, m + (hzc - m) * lower)
    c.img[:] = col[:, None, :]  # (H, 3) rows broadcast across the width
    c.img += c.glow[..., None] * as_rgb(look.glow)


STAR_TINT = np.array([0.92, 0.95, 1.0], np.float32)


def star_points(c: Canvas) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every star's position (scene units) and brightness; the same for any canvas size."""
    rng = c.noise.rng("stars")
    count = int(2600 * c.hz)
    su = rng.uniform(-1.5, 1.5, count)
    sv = rng.uniform(0.0, c.hz, count)
    bright = (rng.random(count) ** 5 * 1.3 + 0.08).astype(np.float32)
    return su, sv, bright


def star_visibility(c: Canvas, v: np.ndarray, sky: np.ndarray) -> np.ndarray:
    """How much of a star shows at height ``v`` over sky colour ``sky``: faint near the horizon,
    in bright skies and in fog."""
    sky_dark = 1.0 - np.clip(luma(sky) * 2.2, 0.0, 1.0)
    return smoothstep(c.hz, c.hz - 0.22, v) * sky_dark * c.look.stars * (1.0 - c.fog)


def paint_stars(c: Canvas, *, points: bool = True) -> None:
    """Star field splatted as points (brightest get a cross) and a milky way at night.

    Videos paint only the milky way here (``points=False``) and twinkle the stars per frame."""
    field = np.zeros((c.h, c.w), np.float32)
    if points:
        su, sv, bright = star_points(c)
        xs = np.rint(c.to_px(su)).astype(np.intp)
        ys = np.rint(sv * c.h - 0.5).astype(np.intp)
        keep = (xs >= 1) & (xs < c.w - 1) & (ys >= 1) & (ys < c.h - 1)
        xs, ys, bright = xs[keep], ys[keep], bright[keep]
        np.add.at(field, (ys, xs), bright)
        big = bright > 0.5
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            np.add.at(field, (ys[big] + dy, xs[big] + dx), bright[big] * 0.35)
    if c.scene.time_of_day == "night" and "stars" in c.scene.elements:
        field += milky_way(c)
    vis = field * star_visibility(c, c.v[:, None], c.img)
    c.img += vis[..., None] * STAR_TINT


def milky_way(c: Canvas) -> np.ndarray:
    """A faint diagonal band of glow with dark dust lanes."""
    angle = 0.5 + c.noise.rng("milky").random() * 0.6
    d = c.u[None, :] * math.sin(angle) + (c.v[:, None] - c.hz * 0.45) * math.cos(angle)
    band = np.exp(-((d / 0.11) ** 2))
    cloud = c.noise.fbm2d("milky", (c.u + 2) * 6, c.v * 6, 4, extent=(24, 7))
    dust = c.noise.fbm2d("dust", (c.u + 2) * 9, c.v * 9, 3, extent=(36, 10))
    return band * np.clip(cloud - 0.3, 0, 1) * 0.5 * (1.0 - 0.7 * smoothstep(0.45, 0.7, dust))


def paint_aurora(c: Canvas) -> None:
    """Two curtains: sharp lower edge, rays from 1-D noise, green fading to violet upwards."""
    rows = slice(0, c.hz_row)
    v = c.v[rows][:, None]
    green, violet = as_rgb("#3dff9a"), as_rgb("#b05cff")
    strength = 1.0 if c.night else 0.3
    for k in range(2):
        wave = c.noise.fbm1d(f"aurora{k}", (c.u + 2) * 1.3, 4, extent=6)
        base = c.hz - 0.2 - 0.12 * k + (wave - 0.5) * 0.22
        rays = 0.25 + 0.75 * c.noise.fbm1d(f"rays{k}", (c.u + 2) * 30, 3, extent=130) ** 2
        dv = base[None, :] - v
        inten = np.where(dv > 0, np.exp(-np.maximum(dv, 0) / 0.12), np.exp(-((dv / 0.012) ** 2)))
        inten = inten * rays[None, :] * strength * (0.8 - 0.3 * k)
        tone = smoothstep(0.0, 0.22, dv)[..., None]
        c.img[rows] += inten[..., None] * (green + (violet - green) * tone) * 0.75


def paint_planets(c: Canvas) -> None:
    """One or two shaded planets, the first perhaps ringed, lit from the sun's side."""
    rng = c.noise.rng("planets")
    lu, lv = c.sun
    for k in range(1 + int(rng.random() < 0.55)):
        r = rng.uniform(0.07, 0.13) if k == 0 else rng.uniform(0.025, 0.05)
        pu = rng.uniform(-0.22, 0.22) if k == 0 else rng.uniform(-0.4, 0.4)
        pv = rng.uniform(0.12, max(0.13, c.hz - 0.3))
        hue = rng.random()
        base = np.array(hsv(hue, 0.45, 0.95), np.float32)
        band_col = np.array(hsv((hue + 0.08) % 1, 0.6, 0.7), np.float32)
        ringed = k == 0 and rng.random() < 0.65
        tilt = rng.uniform(-0.45, 0.45)
        _draw_planet(c, (pu, pv, r), base, band_col, (lu, lv), ringed, tilt, k)


def hsv(h: float, s: float, v: float) -> RGB:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


def _draw_planet(
    c: Canvas,
    disc: tuple[float, float, float],
    base: np.ndarray,
    band_col: np.ndarray,
    light: tuple[float, float],
    ringed: bool,
    tilt: float,
    k: int,
) -> None:
    pu, pv, r = disc
    reach = r * (2.3 if ringed else 1.3)
    rows = c.rows(pv - reach, pv + reach)
    x0 = int(np.clip(c.to_px(pu - reach), 0, c.w))
    x1 = int(np.clip(c.to_px(pu + reach) + 1, x0, c.w))
    if rows.start >= rows.stop or x0 >= x1:
        return
    x = ((c.u[x0:x1] - pu) / r)[None, :]
    y = ((c.v[rows] - pv) / r)[:, None]
    region = c.img[rows, x0:x1]
    lx, ly = light[0] - pu, light[1] - pv
    norm = math.hypot(lx, ly, 0.6) or 1.0
    lx, ly, lz = lx / norm, ly / norm, 0.6 / norm
    ring_a = ring_col = None
    if ringed:
        cs, sn = math.cos(tilt), math.sin(tilt)
        xr, yr = x * cs + y * sn, -x * sn + y * cs
        e = np.sqrt(xr * xr + (yr / 0.26) ** 2)
        ring_a = smoothstep(1.3, 1.4, e) * smoothstep(2.2, 2.05, e)
        ring_a = ring_a * (0.55 + 0.35 * np.sin(e * 30)) * 0.85
        ring_col = (base * 0.6 + 0.4) * (0.35 + 0.65 * np.clip(0.5 - yr * ly, 0.2, 1))[..., None]
        back = ring_a * (yr < 0)
        region += (ring_col - region) * back[..., None]
    rr = x * x + y * y
    z = np.sqrt(np.clip(1 - rr, 0, 1))
    lit = np.clip(x * lx + y * ly + z * lz, 0, 1) ** 0.8
    bands = c.noise.fbm1d(f"bands{k}", (c.v[rows] - pv) / r * 4 + 8, 3, extent=20)[:, None]
    surface = base + (band_col - base) * smoothstep(0.4, 0.7, bands)[..., None]
    colour = surface * (0.04 + 0.96 * lit)[..., None]
    alpha = np.clip((1 - np.sqrt(rr)) * r * c.h + 0.5, 0, 1)
    rim = np.exp(-np.maximum(np.sqrt(rr) - 1, 0) * 12) * (1 - alpha) * np.clip(lit + 0.3, 0, 1)
    region += rim[..., None] * base * 0.35
    region += (colour - region) * alpha[..., None] * 0.97
    if ring_a is not None and ring_col is not None:
        front = ring_a * (yr >= 0)
        region += (ring_col - region) * front[..., None]


def paint_sun(c: Canvas) -> None:
    """The sun's disc; the vaporwave style cuts it into the classic striped sunset sun."""
    su, sv = c.sun
    vapor = "vaporwave" in c.scene.styles
    low = np.clip((c.hz - sv) / 0.3, 0, 1)
    radius = 0.16 if vapor else float(0.05 - 0.018 * low)
    rows = c.rows(sv - radius, min(sv + radius, c.hz))
    d = np.hypot(c.u[None, :] - su, c.v[rows][:, None] - sv)
    alpha = np.clip((radius - d) * c.h + 0.5, 0, 1)
    if c.scene.weather in OVERCAST:
        alpha *= 1.0 - OVERCAST[c.scene.weather][0] * 0.85
    if vapor:
        t = np.clip((c.v[rows] - (sv - radius)) / (2 * radius), 0, 1)[:, None, None]
        colour = as_rgb("#ffd84a") + (as_rgb("#ff2d7a") - as_rgb("#ffd84a")) * t
        phase = (c.v[rows] - sv) / radius
        gaps = ((phase * 7) % 1.0) < np.clip(phase * 0.9, 0, 0.8)
        alpha = alpha * np.where(phase[:, None] > 0.05, ~gaps[:, None], True)
    else:
        colour = np.broadcast_to(as_rgb(c.look.sun) * 1.15, (*alpha.shape, 3))
    region = c.img[rows]
    region += (colour - region) * alpha[..., None]


def paint_moon(c: Canvas) -> None:
    """A cratered moon with a cool halo; pale and translucent in daylight."""
    mu, mv = c.moon
    radius = 0.032
    opacity = 1.0 if c.night else 0.55
    rows = c.rows(mv - radius * 6, mv + radius * 6)
    d = np.hypot(c.u[None, :] - mu, c.v[rows][:, None] - mv)
    halo = (0.3 * np.exp(-d / 0.04) + 0.1 * np.exp(-d / 0.2)) * opacity
    region = c.img[rows]
    region += halo[..., None] * as_rgb("#8fa6e0")
    craters = c.noise.fbm2d("craters", (c.u + 2) * 60, c.v[rows] * 60, 3, extent=(250, 65))
    shade = 0.72 + 0.28 * smoothstep(0.35, 0.6, craters)
    alpha = np.clip((radius - d) * c.h + 0.5, 0, 1) * opacity
    colour = as_rgb("#f6f2e2") * shade[..., None]
    region += (colour - region) * alpha[..., None]


def cloud_clearing(c: Canvas, u: np.ndarray, v: np.ndarray) -> np.ndarray | None:
    """How much cloud is left (v rows x u columns) where the sun (or moon) shows through thin
    cloud, so a prompt that asks for it sees it; None when the sky has no such clearing."""
    if c.scene.weather not in ("fair", "clear") or not c.scene.elements & {"sun", "moon"}:
        return None
    lu, lv = c.light_pos
    near_sun = np.hypot(u[None, :] - lu, v[:, None] - lv)
    return 1.0 - 0.85 * np.exp(-near_sun / 0.12)


def paint_clouds(c: Canvas, *, thin_near_light: bool = True) -> None:
    """Value-noise clouds flattened towards the horizon, lit from the light source's side.

    Videos pass ``thin_near_light=False`` and clear the drifting clouds around the light per
    frame instead (see ``cloud_clearing``)."""
    cover = CLOUD_COVER[c.scene.weather] + (0.12 if c.scene.mood == "gloomy" else 0.0)
    if cover <= 0:
        return
    rows = slice(0, c.hz_row)
    v = c.v[rows]
    y = -np.log(np.maximum(c.hz - v, 0) + 0.05)  # perspective: rows crowd near the horizon
    n = c.noise.fbm2d("clouds", (c.u + 2) * 1.8, y * 2.4, 5 + c.detail, extent=(7.5, 8.0))
    z = (n - 0.47) / 0.11  # fbm2d's mean and spread, measured
    mid = NormalDist().inv_cdf(1.0 - min(cover, 0.98))  # about ``cover`` of the sky clouded
    density = smoothstep(mid - 0.45, mid + 0.75, z)
    lu, lv = c.light_pos
    clearing = cloud_clearing(c, c.u, v) if thin_near_light else None
    if clearing is not None:
        density = density * clearing
    soft = box_blur(density, max(1, round(c.h * 0.006)))
    gy, gx = np.gradient(soft)
    dx = (lu - c.u)[None, :]
    dy = (lv - v)[:, None]
    dist = np.sqrt(dx * dx + dy * dy) + 1e-3
    toward = (gx * dx + gy * dy) / dist * (c.h / 8.0)
    lit = np.clip(0.62 - toward - 0.3 * density * density, 0, 1)
    colour = (
        as_rgb(c.look.cloud_shadow)
        + (as_rgb(c.look.cloud_lit) - as_rgb(c.look.cloud_shadow)) * lit[..., None]
    )
    if c.scene.weather in ("rain", "storm", "snow"):  # overcast: heavy, uneven cloud base
        dark = 0.35 if c.scene.weather == "storm" else 0.55
        colour = colour * (dark + 0.9 * smoothstep(0.3, 0.65, n))[..., None]
    colour = colour + as_rgb(c.look.glow) * (c.glow[rows] * 0.8 * (1.1 - density))[..., None]
    far = smoothstep(c.hz - 0.22, c.hz, v)[:, None, None] * 0.55
    colour = colour + (as_rgb(c.look.horizon) - colour) * far
    alpha = (density * 0.97)[..., None]
    c.img[rows] += (colour - c.img[rows]) * alpha
    if c.cover is not None:
        cover = c.cover[rows]
        cover += (1.0 - cover) * alpha[..., 0]
