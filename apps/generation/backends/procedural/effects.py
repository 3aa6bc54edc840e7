"""Builders for the water and weather parts of an animation (see ``animate`` and ``motion``).

Each takes the ``Builder`` of the request (geometry, canvas, look, noise, wind) and returns a
``motion`` part ready to be put into frames.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from apps.generation.backends.procedural import motion
from apps.generation.backends.procedural.arrays import box_blur, smoothstep
from apps.generation.backends.procedural.canvas import Canvas
from apps.generation.backends.procedural.water import (
    FOREGROUND_PARALLAX,
    WATER_PARALLAX,
    WaterSurface,
    glitter_band,
    glitter_light,
    river_course,
    rough_sea,
    surface_shade,
    water_surface,
    wave_foam,
)
from apps.generation.backends.procedural.weather import (
    RAIN_SLANT,
    SNOW_FLAKES,
    fog_amount,
    fog_tone,
    rain_heaviness,
    rain_tone,
)

if TYPE_CHECKING:
    from apps.generation.backends.procedural.animate import Builder, WaterMark

# Rain: (streak length in heights, streaks per pixel at 720p, opacity) per sheet, and how fast
# it falls (heights per second). Rain is hard to compress (fine streaks that move every frame),
# so it is kept sparse, faint and fairly slow.
RAIN_SHEETS = ((0.05, 1 / 1400, 0.3), (0.09, 1 / 3200, 0.4))
RAIN_SPEED = 0.55
FOG_PARALLAX, RAIN_PARALLAX = 0.6, 1.2


def water(b: Builder, mark: WaterMark) -> motion.Water:
    """The water plane at work resolution (see ``motion.Water``)."""
    g, w = b.geo, b.canvas
    kind = mark.kind
    s = water_surface(w, kind)
    n = s.d.size
    shade = surface_shade(s)
    gain = s.fresnel[:, None] * shade  # (rows, wc)
    colour = s.deep * ((1.0 - s.fresnel)[:, None] * shade)[..., None]
    if rough_sea(w, kind):
        colour = colour + wave_foam(w, s.rows, s.d, s.w)
    # graded as if the look were affine: water = gain * graded reflection + this
    base = (b.look.colour(colour) - gain[..., None] * b.look.black) * 255.0
    base += 0.5 * (1.0 - gain)[..., None]
    overlap = motion.even(0.1 * g.h)
    period = g.wc - overlap
    gain3 = np.repeat(gain[..., None], 3, axis=2)
    v = w.v[s.rows]
    depth = (v - w.hz) / max(1.0 - w.hz, 1e-3)
    parallax = WATER_PARALLAX[0] + (WATER_PARALLAX[1] - WATER_PARALLAX[0]) * depth
    scale = s.d / 0.4 * g.h
    rng = b.noise.rng(f"video:water:{kind}")
    path = glitter(b, s, period, overlap) if kind != "river" else None
    river = None
    if kind == "river":
        assert mark.ridges is not None
        start, centre, half = river_course(w, mark.ridges)
        wet = np.nonzero(v > start)[0]
        river = motion.River(
            first=int(wet[0]) if wet.size else n,
            centre=centre * g.h + g.w / 2 - 0.5 + g.margin,
            half=half * g.h,
        )
    return motion.Water(
        y0=w.hz_row,
        margin=g.margin,
        width=g.w,
        gain=np.ascontiguousarray(motion.periodic(gain3, period, overlap, g.w)),
        base=np.ascontiguousarray(motion.periodic(base, period, overlap, g.w)),
        period=period,
        origin=float(g.left + g.margin),
        parallax=parallax,
        drift=parallax * b.wind * g.h * 0.3,
        amp_x=np.minimum(s.ripple * scale, g.margin),
        amp_y=s.smear * scale,
        wave=s.w,
        seed_phase=tuple(rng.uniform(0, 2 * math.pi, 3)),
        blur=max(1, round(0.012 * g.h)) if kind == "street" else 0,
        smear_hz=0.0 if kind == "street" else 0.37,
        glitter=path,
        river=river,
    )


def glitter(b: Builder, s: WaterSurface, period: int, overlap: int) -> motion.Glitter | None:
    """The glitter path under the sun or moon (None when there is none)."""
    g, c = b.geo, b.canvas
    strength, light = glitter_light(c, s.kind)
    if strength == 0.0:
        return None
    u_out = ((np.arange(g.w) + 0.5 - g.w / 2) / g.h).astype(np.float32)
    band = glitter_band(c, s.d, columns=u_out) * strength
    on = np.nonzero(band.max(axis=0) > 0.004)[0]
    if not on.size:
        return None
    columns = slice(int(on[0]), int(on[-1]) + 1)
    box = columns.stop - columns.start
    sparks = []
    for k in range(2):
        # sparkles as in the still, sharpened so that two overlapping make a glint
        spark = c.noise.fbm2d(f"glitter{k}", (c.u + 2) * 220, s.w * 40, 2, extent=(300, 400))
        spark = smoothstep(0.5, 0.8, spark) * 1.6
        spark3 = np.repeat(spark[..., None].astype(np.float32), 3, axis=2)
        sparks.append(np.ascontiguousarray(motion.periodic(spark3, period, overlap, box)))
    return motion.Glitter(
        columns=columns,
        band=(band[:, columns, None] * light * 255.0).astype(np.float32),
        sparks=(sparks[0], sparks[1]),
        period=period,
        speed=0.04 * g.h,
        sheen=0.14,
    )


def fog(b: Builder) -> motion.DriftingTile:
    """Banks of fog as in the still, on a strip that repeats sideways and drifts slowly."""
    g = b.geo
    overlap = motion.even(0.15 * g.h)
    period = motion.even(g.wf + overlap)
    strip = period + overlap
    shift = strip / 2 - overlap - g.margin - g.w / 2
    fc = Canvas(
        b.scene,
        b.digest,
        strip,
        g.h,
        b.detail,
        shift=shift,
    )
    amount = fog_amount(fc)
    tone = b.look.colour(fog_tone(fc).reshape(1, 1, 3))[0, 0]
    premul = amount[..., None] * tone
    return b.drifting(premul, amount, period, overlap, FOG_PARALLAX, b.wind * g.h * 0.5, 1)


def rain(b: Builder) -> motion.Rain:
    """Two sheets of streaks on a tile repeating both ways, falling ``RAIN_SPEED`` heights a
    second along the still's slant."""
    g, c = b.geo, b.canvas
    heavy = rain_heaviness(c)
    rng = b.noise.rng("video:rain")
    th, tw = g.h, g.wf
    acc = np.zeros((th, tw), np.float32)
    slant = -RAIN_SLANT
    for length, density, alpha in RAIN_SHEETS:
        # streaks are about a pixel wide at any size: fewer per pixel in bigger frames keeps
        # the share of the picture they cover the same
        count = int(th * tw * density * heavy * 720 / g.h)
        n = max(2, round(length * g.h))
        y0 = rng.integers(0, th, count)
        x0 = rng.uniform(0, tw, count)
        strength = rng.uniform(0.5, 1.0, count) * alpha * heavy
        k = np.arange(n)
        ys = (y0[:, None] + k[None, :]) % th
        xf = x0[:, None] + slant * k[None, :]
        xi = np.floor(xf).astype(np.intp)
        frac = (xf - xi).astype(np.float32)
        fade = np.sin(np.pi * (k + 0.5) / n).astype(np.float32)  # soft streak ends
        wgt = strength[:, None].astype(np.float32) * fade[None, :]
        np.add.at(acc, (ys, xi % tw), wgt * (1 - frac))
        np.add.at(acc, (ys, (xi + 1) % tw), wgt * frac)
    a = np.clip(acc, 0, 0.6)
    tone = b.look.colour(rain_tone(c).reshape(1, 1, 3))[0, 0]
    premul = a[..., None] * tone * 255.0 + 0.5 * a[..., None]
    inv = motion.transparency(np.repeat((1.0 - a)[..., None], 3, axis=2), compact=False)
    return motion.Rain(
        inv_alpha=inv,
        premul=motion.to_u8(premul),
        speed=RAIN_SPEED * g.h,
        slant=slant,
        parallax=RAIN_PARALLAX,
    )


def snow(b: Builder) -> motion.Snow:
    """Flakes of the still's two sizes (near ones bigger and faster), each with its own fall,
    sway and drift; drawn per frame as small soft discs."""
    g = b.geo
    rng = b.noise.rng("video:snow")
    cols: dict[str, list[np.ndarray]] = {}
    sprites = {}
    for size, count in SNOW_FLAKES:
        r = max(1, round(size * g.h))
        n = max(1, round(count / 3 * g.wf / g.h))
        near = size > 0.002
        tri = (2 * r + 1 - np.abs(np.arange(-2 * r, 2 * r + 1))) / (2 * r + 1)
        weight = np.clip(np.outer(tri, tri) * 0.45, 0, 0.9).astype(np.float32)
        dy, dx = np.nonzero(weight > 0.01)
        sprites[2 * r] = (dy - 2 * r, dx - 2 * r, weight[dy, dx])
        fall = (0.12 if near else 0.06) * g.h
        values = {
            "x0": rng.uniform(0, g.wf + 8 * r, n),
            "y0": rng.uniform(0, g.h + 8 * r, n),
            "vx": np.full(n, b.wind * g.h * (3.0 if near else 2.0)),
            "vy": fall * rng.uniform(0.7, 1.3, n),
            "sway": rng.uniform(0.2, 1.0, n) * (0.012 if near else 0.006) * g.h,
            "freq": rng.uniform(0.15, 0.5, n),
            "phase": rng.uniform(0, 2 * math.pi, n),
            "parallax": np.full(n, 1.0 if near else 0.5),
            "radius": np.full(n, 2 * r),
        }
        for key, val in values.items():
            cols.setdefault(key, []).append(val)
    merged = {key: np.concatenate(val) for key, val in cols.items()}
    return motion.Snow(sprites=sprites, **merged)


def grid(b: Builder) -> motion.Grid:
    """The vaporwave grid, split into the lines running into the distance (a strip) and the
    lines across (drawn per frame, rolling towards the viewer)."""
    g, w = b.geo, b.canvas
    rows = slice(w.hz_row, w.h)
    d = np.maximum(w.v[rows] - w.hz, 1e-3)
    across = w.u[None, :] / d[:, None] * 0.5
    line_v = np.abs(((across * 8 + 0.5) % 1.0) - 0.5) / (4.0 / d[:, None] / w.h)
    fade = np.clip(d / 0.05, 0, 1)
    magenta, cyan = np.array([1.0, 0.231, 0.831]), np.array([0.2, 0.91, 1.0])
    colour = (magenta + (cyan - magenta) * np.clip(d / 0.4, 0, 1)[:, None]) * 0.9 * 255.0
    lines = np.clip(1.5 - line_v, 0, 1) * fade[:, None]
    # where the lines into the distance crowd together, rows have no room for more
    room = 1.0 - lines.mean(axis=1)
    return motion.Grid(
        y0=w.hz_row,
        margin=g.margin,
        width=g.w,
        across=(lines[..., None] * colour[:, None, :]).astype(np.float32),
        origin=float(g.left),
        shift=FOREGROUND_PARALLAX * d / max(1.0 - w.hz, 1e-3),
        depth=0.25 / d,
        line_width=0.25 / d**2 / w.h + 1e-6,
        fade=fade * room,
        colour=colour.astype(np.float32),
    )


def grain(b: Builder) -> motion.Grain:
    """The film-grain style's clumpy noise, on a tile shown at a new offset every frame."""
    g = b.geo
    rng = b.noise.rng("video:grain")
    pad = 32
    n = rng.standard_normal((g.h + pad, g.w + pad), dtype=np.float32)
    n = 0.65 * n + 0.9 * box_blur(n, 1)
    noise = np.repeat((n * (0.045 * 255.0))[..., None], 3, axis=2).astype(np.float32)
    return motion.Grain(margin=g.margin, noise=noise, offsets=rng.integers(0, pad + 1, (4096, 2)))
