"""The moving parts of a video frame, and how each is put in place for frame ``i``.

Everything expensive (painting, noise, grading, styles) happens once, in ``animate``; what
is left per frame is cheap array work: slicing windows out of pre-painted strips, a few
multiply-adds over the rows a part covers, and sparse updates of a few thousand pixels. Every
part reads only the frame index (``Motion``), never the previous frame, so any frame can be
rendered on its own and a clip can be continued from any frame without a jump.

The frame buffer is float32 (H, W + 2 * margin, 3) in 0..255 units carrying a +0.5 rounding
bias, so the final conversion to bytes can truncate. The margin columns exist so water can
reflect what lies just beyond the frame's edges.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np
from PIL import Image

INV255 = np.float32(1.0 / 255.0)
TAU = 2.0 * math.pi


@dataclass(frozen=True)
class Motion:
    """Where frame ``i`` is in time and where the camera is (pixels the nearest ground moved)."""

    i: int
    t: float
    cam: float


class Part:
    """Something drawn into every frame."""

    def apply(self, f: np.ndarray, m: Motion) -> None:
        raise NotImplementedError

    def rows_used(self, h: int) -> tuple[np.ndarray, np.ndarray]:
        """Which rows of the buffer this part reads, and which it overwrites without reading
        (so whatever was there before need not be drawn). By default: reads every row."""
        return np.ones(h, bool), np.zeros(h, bool)


def hidden_from(parts: list[Part], h: int) -> int:
    """The first row from which every row is overwritten by some part before any part reads
    it: the background need not be drawn there."""
    decided = np.zeros(h, bool)
    hidden = np.zeros(h, bool)
    for part in parts:
        reads, writes = part.rows_used(h)
        fresh = ~decided
        hidden |= fresh & writes & ~reads
        decided |= reads | writes
    needed = np.nonzero(~hidden)[0]
    return int(needed[-1]) + 1 if needed.size else 0


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def even(n: float) -> int:
    """The even number at or above ``n`` (H.264 in yuv420p wants even sizes)."""
    return 2 * math.ceil(n / 2)


def to_u8(a: np.ndarray) -> np.ndarray:
    """Round float 0..255 values to bytes."""
    out = np.add(a, 0.5, dtype=np.float32)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


def transparency(inv_alpha: np.ndarray, compact: bool) -> np.ndarray:
    """Transparency 0..1 as stored: float32 (multiplied straight into the frame), or bytes
    (a quarter of the memory for big frames, one more multiply per use)."""
    if compact:
        return to_u8(inv_alpha * 255.0)
    return np.ascontiguousarray(inv_alpha, np.float32)


def subpixel_phases(a: np.ndarray, q: int) -> Iterator[np.ndarray]:
    """``q`` copies of ``a`` (float, columns on axis 1) shifted left by 0, 1/q, ... pixels, so a
    window into copy ``k`` at column ``n`` shows ``a`` at ``n + k / q`` (linear interpolation).
    One at a time, so the caller can store each compactly before the next is made."""
    for k in range(q):
        frac = np.float32(k / q)
        if not frac:
            yield a[:, :-1]
            continue
        out = a[:, :-1] * (1 - frac)
        out += a[:, 1:] * frac
        yield out


def place(pos: float, q: int) -> tuple[int, int]:
    """Split a position into a whole column and a sub-pixel phase (nearest 1/q)."""
    n, k = divmod(round(pos * q), q)
    return n, k


def periodic(a: np.ndarray, period: int, overlap: int, extend: int) -> np.ndarray:
    """Make ``a`` (columns on axis 1, at least ``period + overlap`` of them) repeat every
    ``period`` columns, crossfading its two ends over ``overlap`` columns, then append
    ``extend`` columns of the repeat, so any window of up to ``extend`` columns starting below
    ``period`` is one slice."""
    tile = a[:, :period].astype(np.float32, copy=True)
    if overlap:
        ramp = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        ramp = ramp.reshape((1, overlap) + (1,) * (a.ndim - 2))
        tile[:, :overlap] = a[:, period : period + overlap] * (1 - ramp) + a[:, :overlap] * ramp
    copies = 1 + -(-extend // period)
    return np.concatenate([tile] * copies, axis=1)[:, : period + extend]


def wrap_pieces(start: int, length: int, period: int) -> Iterator[tuple[slice, slice]]:
    """(destination, source) slices covering ``length`` items of a tile of ``period`` items,
    starting at ``start`` (any integer) and wrapping around."""
    s = start % period
    done = 0
    while done < length:
        n = min(length - done, period - s)
        yield slice(done, done + n), slice(s, s + n)
        done += n
        s = 0


def blend(dst: np.ndarray, inv_alpha: np.ndarray, premul: np.ndarray) -> None:
    """``dst = dst * inv_alpha + premul`` in place: the transparency (see ``transparency``)
    and the premultiplied colour (uint8) of what is laid over ``dst``."""
    np.multiply(dst, inv_alpha, out=dst)
    if inv_alpha.dtype == np.uint8:
        np.multiply(dst, INV255, out=dst)
    np.add(dst, premul, out=dst)


def slot_table(rng: np.random.Generator, size: int = 4096) -> np.ndarray:
    """Random numbers per time slot; indexed by slot modulo the table, so schedules repeat only
    after ``size`` slots (minutes of video)."""
    return rng.random(size)


# --------------------------------------------------------------------------------------------
# The sky: static, with twinkling stars, a waving aurora, drifting clouds and lightning
# --------------------------------------------------------------------------------------------


@dataclass
class Sky(Part):
    """The sky gradient, glow, milky way, planets, moon and sun: at infinity, so it never moves.
    Behind drifting clouds and perhaps an aurora."""

    base: np.ndarray  # float32 (H, Wf, 3)
    clouds: DriftingTile | None = None
    aurora: Aurora | None = None
    hidden: int = 0  # rows from here down are always painted over before anything reads them
    # the clouds thin out around the sun: (rows, columns) of the buffer and how much cloud is
    # left there (float32, 3 channels)
    clearing: tuple[slice, slice, np.ndarray] | None = None

    def apply(self, f: np.ndarray, m: Motion) -> None:
        clouds = self.clouds
        hidden = self.hidden or f.shape[0]
        if clouds is None or self.aurora is not None:
            if clouds is not None:  # the clouds read the rows they cover
                hidden = max(hidden, clouds.premul[0].shape[0])
            np.copyto(f[:hidden], self.base[:hidden])
            if self.aurora is not None:
                self.aurora.apply(f, m)
            if clouds is not None:
                clouds.apply(f, m)
        else:
            # sky and clouds in one pass over the cloud rows: base * transparency + cloud
            n, k = clouds.position(m)
            rows = clouds.premul[k].shape[0]
            w = f.shape[1]
            inv = clouds.inv_alpha[k][:, n : n + w]
            np.multiply(self.base[:rows], inv, out=f[:rows])
            if inv.dtype == np.uint8:
                np.multiply(f[:rows], INV255, out=f[:rows])
            np.add(f[:rows], clouds.premul[k][:, n : n + w], out=f[:rows])
            if hidden > rows:
                np.copyto(f[rows:hidden], self.base[rows:hidden])
        if self.clearing is not None and clouds is not None:
            ys, xs, left = self.clearing
            region, sky = f[ys, xs], self.base[ys, xs]
            region -= sky
            region *= left
            region += sky


@dataclass
class DriftingTile(Part):
    """A layer that repeats sideways and drifts with the wind as well as the camera: clouds and
    fog. Stored premultiplied: ``inv_alpha`` and ``premul`` per sub-pixel phase."""

    top: int
    origin: float  # tile column shown at frame column 0 when t = 0 and the camera is home
    period: int
    parallax: float
    speed: float  # pixels per second of wind drift
    inv_alpha: list[np.ndarray]  # (rows, period + Wf, 3) per phase, see ``transparency``
    premul: list[np.ndarray]  # uint8

    def position(self, m: Motion) -> tuple[int, int]:
        pos = self.origin + self.parallax * m.cam + self.speed * m.t
        n, k = place(pos % self.period, len(self.inv_alpha))
        return n % self.period, k

    def apply(self, f: np.ndarray, m: Motion) -> None:
        n, k = self.position(m)
        rows = slice(self.top, self.top + self.premul[k].shape[0])
        w = f.shape[1]
        blend(f[rows], self.inv_alpha[k][:, n : n + w], self.premul[k][:, n : n + w])

    def transmission(self, ys: np.ndarray, xs: np.ndarray, m: Motion) -> np.ndarray:
        """How much light gets through at frame pixels (ys, xs) (for stars behind clouds)."""
        n, k = self.position(m)
        rows = ys - self.top
        inside = (rows >= 0) & (rows < self.premul[k].shape[0])
        out = np.ones(ys.shape, np.float32)
        inv = self.inv_alpha[k]
        out[inside] = inv[rows[inside], xs[inside] + n, 0]
        if inv.dtype == np.uint8:
            out *= INV255
        return out


@dataclass
class Twinkle(Part):
    """Stars painted into the sky brighten and dim, each at its own pace; clouds hide them."""

    ys: np.ndarray
    xs: np.ndarray
    amplitude: np.ndarray  # (N,) 0..255 units
    freq: np.ndarray  # Hz
    phase: np.ndarray
    tint: np.ndarray  # (3,)
    clouds: DriftingTile | None

    def rows_used(self, h: int) -> tuple[np.ndarray, np.ndarray]:
        reads = np.zeros(h, bool)
        reads[self.ys] = True
        return reads, np.zeros(h, bool)

    def apply(self, f: np.ndarray, m: Motion) -> None:
        s = np.sin(self.freq * (TAU * m.t) + self.phase).astype(np.float32) * self.amplitude
        if self.clouds is not None:
            s *= self.clouds.transmission(self.ys, self.xs, m)
        f[self.ys, self.xs] += s[:, None] * self.tint


@dataclass
class Aurora(Part):
    """Curtains of light whose rows sway sideways in a wave running up the curtain, and pulse."""

    top: int
    light: np.ndarray  # float32 (rows, Wf + 2 * reach, 3), additive
    reach: int  # the most a row sways, pixels
    phase: float
    wavelength: float  # rows per cycle of the wave running up the curtain

    def apply(self, f: np.ndarray, m: Motion) -> None:
        n, w = self.light.shape[0], f.shape[1]
        up = np.arange(n, dtype=np.float64) / self.wavelength
        sway = 0.65 * np.sin(TAU * (up + 0.05 * m.t) + self.phase)
        sway += 0.35 * np.sin(TAU * (2.7 * up - 0.13 * m.t) + 2.0 * self.phase)
        offsets = self.reach + np.rint(sway * self.reach).astype(np.intp)
        gain = 0.8 + 0.2 * np.sin(TAU * (0.4 * up + 0.09 * m.t) + self.phase)
        gain = gain.astype(np.float32)
        tmp = np.empty((w, 3), np.float32)  # per call: frames may render on several threads
        for r in range(n):
            o = offsets[r]
            np.multiply(self.light[r, o : o + w], gain[r], out=tmp)
            np.add(f[self.top + r], tmp, out=f[self.top + r])


@dataclass
class Flash(Part):
    """Lightning: the bolt and the light it throws, now and then, flickering for a few frames."""

    top: int
    light: np.ndarray  # float32 (rows, Wf, 3), additive
    table: np.ndarray  # per slot: < chance means a flash in that slot
    chance: float
    slot: int  # frames
    PROFILE = (1.0, 0.35, 0.9, 0.3, 0.12)

    def level(self, i: int) -> float:
        slot, at = divmod(i, self.slot)
        r = self.table[slot % self.table.size]
        if r >= self.chance:
            return 0.0
        start = int(r / self.chance * (self.slot - len(self.PROFILE)))
        k = at - start
        return self.PROFILE[k] if 0 <= k < len(self.PROFILE) else 0.0

    def apply(self, f: np.ndarray, m: Motion) -> None:
        level = self.level(m.i)
        if level:
            rows = f[self.top : self.top + self.light.shape[0]]
            rows += self.light * np.float32(level)


# --------------------------------------------------------------------------------------------
# Landscape layers
# --------------------------------------------------------------------------------------------


@dataclass
class Neon:
    """Sign pixels of a city layer that flicker: a group at a time goes dark for a moment."""

    ys: np.ndarray
    xs: np.ndarray  # layer columns
    light: np.ndarray  # (N, 3) what the sign adds, 0..255 units
    group: np.ndarray  # (N,) flicker group per pixel
    table: np.ndarray  # (groups, slots)
    slot: int = 12  # frames

    def dim(self, f: np.ndarray, i: int, n: int) -> None:
        slot, at = divmod(i, self.slot)
        r = self.table[:, slot % self.table.shape[1]]
        # now and then (a slot in 16) a sign drops out for a moment; rarer, it stutters
        start = (r * 97.0 % 1.0 * (self.slot - 4)).astype(int)
        out = (r < 0.06) & (at >= start) & (at < start + 4)
        out |= (r >= 0.06) & (r < 0.1) & (at % 3 == 0)
        if not out.any():
            return
        pick = out[self.group]
        xs = self.xs[pick] - n
        inside = (xs >= 0) & (xs < f.shape[1])
        ys, xs = self.ys[pick][inside], xs[inside]
        f[ys, xs] = np.maximum(f[ys, xs] - self.light[pick][inside] * np.float32(0.85), 0.0)


@dataclass
class MovingLayer(Part):
    """A band of landscape (a mountain range, a row of buildings, a hill) painted once, wider
    than the frame, and slid sideways by its parallax. Rows that are opaque all the way across
    are stored as plain colour and copied; the rest are blended (premultiplied alpha)."""

    parallax: float
    origin: float
    top: int
    split: int  # rows [top, split) are blended, [split, bottom) copied
    inv_alpha: list[np.ndarray]  # (split - top, Wc - 1, 3) per phase, see ``transparency``
    premul: list[np.ndarray]  # uint8
    solid: list[np.ndarray]  # uint8 (bottom - split, Wc - 1, 3) per phase
    neon: Neon | None = None

    def rows_used(self, h: int) -> tuple[np.ndarray, np.ndarray]:
        reads, writes = np.zeros(h, bool), np.zeros(h, bool)
        reads[self.top : self.split] = True
        writes[self.split : self.split + self.solid[0].shape[0]] = True
        return reads, writes

    def apply(self, f: np.ndarray, m: Motion) -> None:
        n, k = place(self.origin + self.parallax * m.cam, len(self.premul))
        w = f.shape[1]
        if self.split > self.top:
            blend(
                f[self.top : self.split],
                self.inv_alpha[k][:, n : n + w],
                self.premul[k][:, n : n + w],
            )
        solid = self.solid[k]
        if solid.shape[0]:
            f[self.split : self.split + solid.shape[0]] = solid[:, n : n + w]
        if self.neon is not None:
            self.neon.dim(f, m.i, n)


# --------------------------------------------------------------------------------------------
# Water
# --------------------------------------------------------------------------------------------


@dataclass
class Glitter:
    """The sun's (or moon's) path on the water: a band fixed under the light, where two fields
    of sparkles slide past each other in opposite directions; light glints where they meet, so
    the path twinkles."""

    columns: slice  # output columns of the band's bounding box
    band: np.ndarray  # float32 (rows, box, 3) colour * strength, 0..255 units
    sparks: tuple[np.ndarray, np.ndarray]  # float32 (rows, period + box, 3) each
    period: int
    speed: float  # pixels per second each field slides
    sheen: float  # the soft glow under the sparkles


@dataclass
class River:
    """Where the river runs per water row, in frame columns when the camera is home."""

    first: int  # first water row the river reaches
    centre: np.ndarray  # (rows,) frame column
    half: np.ndarray  # (rows,) half width, pixels


@dataclass
class Water(Part):
    """Open water, a river or a wet street, redrawn every frame row by row.

    Each row mirrors a row of the frame above the waterline (so reflections move with what they
    reflect), displaced by ripples travelling towards the viewer, times the surface's own
    shading (``gain``: fresnel and swell), plus the water's colour (``base``). The surface
    texture slides with the ground plane's parallax and a slow drift; the glitter path stays
    under the light.
    """

    y0: int  # first water row (the horizon)
    margin: int  # frame columns beyond the output on each side
    width: int  # output width
    gain: np.ndarray  # float32 (rows, period + width, 3)
    base: np.ndarray  # float32 (rows, period + width, 3), 0..255 units
    period: int
    origin: float
    parallax: np.ndarray  # (rows,)
    drift: np.ndarray  # (rows,) pixels per second
    amp_x: np.ndarray  # (rows,) ripple displacement, pixels
    amp_y: np.ndarray
    wave: np.ndarray  # (rows,) perspective depth of each row (ripple phase)
    seed_phase: tuple[float, float, float]
    smear_hz: float = 0.37  # how fast the vertical smear changes (0 for a wet street: it is no
    # rippling surface, and a still smear is much cheaper to encode)
    blur: int = 0  # wet streets: average rows this far apart (vertical smear)
    glitter: Glitter | None = None
    river: River | None = None

    def rows_used(self, h: int) -> tuple[np.ndarray, np.ndarray]:
        reads, writes = np.zeros(h, bool), np.zeros(h, bool)
        reads[: self.y0] = True
        if self.river is None:
            writes[self.y0 :] = True
        else:
            reads[self.y0 + self.river.first :] = True
        return reads, writes

    def apply(self, f: np.ndarray, m: Motion) -> None:
        n = self.gain.shape[0]
        t = m.t
        p1, p2, p3 = self.seed_phase
        swell = 0.6 * np.sin(TAU * (3.0 * self.wave - 0.23 * t) + p1)
        chop = 0.4 * np.sin(TAU * (11.0 * self.wave - 0.61 * t) + p2)
        dx = np.clip(np.rint(self.amp_x * (swell + chop)), -self.margin, self.margin)
        dy = np.rint(self.amp_y * np.sin(TAU * (7.0 * self.wave - self.smear_hz * t) + p3))
        rows = np.arange(n)
        src = np.clip(self.y0 - 1 - rows + dy.astype(np.intp), 0, self.y0 - 1)
        offs = np.rint(self.origin + self.parallax * m.cam + self.drift * t).astype(np.intp)
        offs %= self.period
        dx = dx.astype(np.intp)
        if self.river is not None:
            self._river(f, m, src, dx, offs)
            return
        mg, w, y0 = self.margin, self.width, self.y0
        f[y0:, :mg] = 0.0  # nothing reads the margins below the waterline; keep them tidy
        f[y0:, mg + w :] = 0.0
        gain, base, multiply, add = self.gain, self.base, np.multiply, np.add
        starts = (mg + dx).tolist()
        if self.blur:
            for j, (o, s, a) in enumerate(zip(offs.tolist(), src.tolist(), starts, strict=True)):
                dst = f[y0 + j, mg : mg + w]
                self._smeared(f, s, a, dst)
                multiply(dst, gain[j, o : o + w], out=dst)
                add(dst, base[j, o : o + w], out=dst)
        else:
            for j, (o, s, a) in enumerate(zip(offs.tolist(), src.tolist(), starts, strict=True)):
                dst = f[y0 + j, mg : mg + w]
                multiply(f[s, a : a + w], gain[j, o : o + w], out=dst)
                add(dst, base[j, o : o + w], out=dst)
        if self.glitter is not None:
            self._glitter(f, m.t)

    def _smeared(self, f: np.ndarray, s: int, a: int, dst: np.ndarray) -> None:
        """Three rows of the mirror image averaged: wet tarmac streaks reflections vertically."""
        w, b = self.width, self.blur
        hi = self.y0 - 1
        np.add(f[max(s - b, 0), a : a + w], f[s, a : a + w], out=dst)
        np.add(dst, f[min(s + b, hi), a : a + w], out=dst)
        np.multiply(dst, np.float32(1 / 3), out=dst)

    def _glitter(self, f: np.ndarray, t: float) -> None:
        g = self.glitter
        assert g is not None
        n, box = g.band.shape[:2]
        shift = round(g.speed * t)
        a, b = shift % g.period, -shift % g.period
        glints = np.multiply(g.sparks[0][:, a : a + box], g.sparks[1][:, b : b + box])
        glints += np.float32(g.sheen)
        glints *= g.band
        cols = slice(self.margin + g.columns.start, self.margin + g.columns.stop)
        dst = f[self.y0 : self.y0 + n, cols]
        dst += glints

    def _river(
        self, f: np.ndarray, m: Motion, src: np.ndarray, dx: np.ndarray, offs: np.ndarray
    ) -> None:
        """Water only inside the river's banks, which slide with the ground plane; the bank
        pixels are blended by how much of them the river covers."""
        r = self.river
        assert r is not None
        n, wf = self.gain.shape[0], f.shape[1]
        rows = np.arange(r.first, n)
        centre = r.centre[rows] - self.parallax[rows] * m.cam
        left, right = centre - r.half[rows], centre + r.half[rows]
        a = np.maximum(np.floor(left), 0).astype(np.intp)
        b = np.minimum(np.ceil(right), wf).astype(np.intp)
        keep = b > a
        rows, left, right, a, b = rows[keep], left[keep], right[keep], a[keep], b[keep]
        if not rows.size:
            return
        width = b - a
        s = np.clip(a + dx[rows], 0, wf - width)
        o = (offs[rows] - self.margin + a) % self.period
        # the banks: remember what is under them, to blend back after the water is drawn
        ys = np.concatenate([rows, rows]) + self.y0
        xs = np.concatenate([a, b - 1])
        cover = np.concatenate([np.minimum(1.0, a + 1 - left), np.minimum(1.0, right - (b - 1))])
        under = f[ys, xs]
        gain, base, multiply, add = self.gain, self.base, np.multiply, np.add
        for j, aj, bj, sj, oj, wj in zip(
            rows.tolist(),
            a.tolist(),
            b.tolist(),
            s.tolist(),
            o.tolist(),
            width.tolist(),
            strict=True,
        ):
            dst = f[self.y0 + j, aj:bj]
            multiply(f[src[j], sj : sj + wj], gain[j, oj : oj + wj], out=dst)
            add(dst, base[j, oj : oj + wj], out=dst)
        water = f[ys, xs]
        f[ys, xs] = under + (water - under) * cover.astype(np.float32)[:, None]


# --------------------------------------------------------------------------------------------
# Weather and overlays
# --------------------------------------------------------------------------------------------


@dataclass
class Rain(Part):
    """Streaks on a tile that repeats both ways, falling fast and slanting with the wind."""

    inv_alpha: np.ndarray  # (H, Wt, 3), see ``transparency``
    premul: np.ndarray  # uint8
    speed: float  # pixels per second, downwards
    slant: float  # sideways pixels per pixel of fall
    parallax: float

    def apply(self, f: np.ndarray, m: Motion) -> None:
        th, tw = self.premul.shape[:2]
        fall = self.speed * m.t
        oy = -round(fall)
        ox = -round(fall * self.slant) + round(self.parallax * m.cam)
        for dy, sy in wrap_pieces(oy, f.shape[0], th):
            for dx, sx in wrap_pieces(ox, f.shape[1], tw):
                blend(f[dy, dx], self.inv_alpha[sy, sx], self.premul[sy, sx])


@dataclass
class Snow(Part):
    """Flakes falling and swaying, each a soft disc splatted at its place for this frame."""

    x0: np.ndarray
    y0: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    sway: np.ndarray
    freq: np.ndarray
    phase: np.ndarray
    parallax: np.ndarray
    radius: np.ndarray  # (N,) sprite reach, pixels (flakes of one size share it)
    sprites: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]  # reach -> dy, dx, weight
    white: float = 245.3

    def apply(self, f: np.ndarray, m: Motion) -> None:
        h, w = f.shape[:2]
        t = m.t
        for reach, (sdy, sdx, weight) in self.sprites.items():
            pick = self.radius == reach
            span_y, span_x = h + 4 * reach, w + 4 * reach
            y = (self.y0[pick] + self.vy[pick] * t) % span_y - 2 * reach
            x = self.x0[pick] + self.vx[pick] * t - self.parallax[pick] * m.cam
            x = x + self.sway[pick] * np.sin(self.freq[pick] * (TAU * t) + self.phase[pick])
            x = x % span_x - 2 * reach
            yy = (np.rint(y).astype(np.intp)[:, None] + sdy[None, :]).ravel()
            xx = (np.rint(x).astype(np.intp)[:, None] + sdx[None, :]).ravel()
            ww = np.broadcast_to(weight, (y.size, weight.size)).ravel()
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            yy, xx, ww = yy[inside], xx[inside], ww[inside]
            px = f[yy, xx]
            px += (self.white - px) * ww[:, None]
            f[yy, xx] = px


@dataclass
class Grid(Part):
    """The vaporwave grid: lines across the ground plane pivot about the vanishing point as the
    camera moves, lines along it roll towards the viewer."""

    y0: int
    margin: int
    width: int
    across: np.ndarray  # float32 (rows, Wc, 3) additive, lines running into the distance
    origin: float
    shift: np.ndarray  # (rows,) parallax per row
    depth: np.ndarray  # (rows,) ground depth of each row
    line_width: np.ndarray  # (rows,) in depth units
    fade: np.ndarray  # (rows,) including how much the lines across leave uncovered
    colour: np.ndarray  # (rows, 3) 0..255 units
    speed: float = 0.5  # depth units per second

    def apply(self, f: np.ndarray, m: Motion) -> None:
        w = f.shape[1]
        offs = np.rint(self.origin + self.shift * m.cam).astype(np.intp)
        for j in range(self.across.shape[0]):
            o = offs[j]
            row = f[self.y0 + j]
            np.add(row, self.across[j, o : o + w], out=row)
        phase = (self.depth + self.speed * m.t + 0.5) % 1.0 - 0.5
        lines = np.clip(1.5 - np.abs(phase) / self.line_width, 0, 1) * self.fade
        mg = self.margin
        for j in np.nonzero(lines > 0.004)[0]:
            row = f[self.y0 + j, mg : mg + self.width]
            row += self.colour[j] * np.float32(lines[j])


@dataclass
class Grain(Part):
    """Film grain that changes every frame: a window of a noise tile at a per-frame offset."""

    margin: int
    noise: np.ndarray  # float32 (H + pad, W + pad, 3)
    offsets: np.ndarray  # (slots, 2)

    def apply(self, f: np.ndarray, m: Motion) -> None:
        h = f.shape[0]
        w = f.shape[1] - 2 * self.margin
        oy, ox = self.offsets[m.i % len(self.offsets)]
        region = f[:, self.margin : self.margin + w]
        np.add(region, self.noise[oy : oy + h, ox : ox + w], out=region)


# --------------------------------------------------------------------------------------------
# From the buffer to the frame
# --------------------------------------------------------------------------------------------


@dataclass
class Finish:
    """Darken the corners (the vignette belongs to the frame, not the moving layers), round to
    bytes, and scale to the output size: smoothly (in C, by swscale) for drafts, by whole
    pixels for pixel art (snapped to the clip's palette)."""

    margin: int
    vignette: np.ndarray  # float32 (h, w, 3)
    size: tuple[int, int]  # output (width, height)
    block: int = 1
    # swscale's filter for scaling up: "FAST_BILINEAR" is about twice as fast as "BILINEAR"
    # (the picture sits a fraction of a pixel off, the same in every frame)
    upscale: str = "BILINEAR"
    palette: Image.Image | None = None

    def small(self, f: np.ndarray) -> np.ndarray:
        """The frame at work size, as bytes."""
        h, w = self.vignette.shape[:2]
        region = f[:, self.margin : self.margin + w]
        np.multiply(region, self.vignette, out=region)
        out = np.empty((h, w, 3), np.uint8)
        np.clip(region, 0, 255, out=out, casting="unsafe")
        return out

    def __call__(self, f: np.ndarray) -> np.ndarray:
        out = self.small(f)
        width, height = self.size
        if self.block > 1:
            if self.palette is not None:
                image = Image.fromarray(out).quantize(
                    palette=self.palette, dither=Image.Dither.NONE
                )
                out = np.asarray(image.convert("RGB"))
            big = np.repeat(np.repeat(out, self.block, axis=0), self.block, axis=1)
            return np.ascontiguousarray(big[:height, :width])
        if out.shape[:2] != (height, width):
            frame = av.VideoFrame.from_ndarray(out, format="rgb24")
            frame = frame.reformat(width=width, height=height, interpolation=self.upscale)
            return frame.to_ndarray()
        return out
