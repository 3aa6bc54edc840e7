"""Building an animation: paint the prompt's scene once, as parts that can move.

The painters of the still renderer do the painting. A ``Recorder`` listens to the canvas while
the landscape is painted and lifts each depth layer off it (premultiplied colour and coverage,
graded like the still); the sky, clouds, fog, water, rain, snow and grid are prepared as the
special parts in ``motion``. Like draft stills, drafts are rendered with at most
``DRAFT_MAX_SIDE`` pixels on the long side and scaled up per frame (in C, by swscale).

Nothing here depends on which frames will be rendered: strips are as wide as the camera's whole
sway needs, and everything that drifts for ever (clouds, fog, water texture) repeats, so frame
``i`` is the same whichever clip it is rendered in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from apps.generation.backends.procedural import effects, motion
from apps.generation.backends.procedural.arrays import to_u8
from apps.generation.backends.procedural.canvas import Canvas
from apps.generation.backends.procedural.noise import Noise
from apps.generation.backends.procedural.render import (
    DRAFT_MAX_SIDE,
    MIN_SIDE,
    paint_landscape,
    seed_digest,
)
from apps.generation.backends.procedural.sky import (
    STAR_TINT,
    cloud_clearing,
    paint_aurora,
    paint_clouds,
    paint_moon,
    paint_planets,
    paint_sky,
    paint_stars,
    paint_sun,
    star_points,
    star_visibility,
)
from apps.generation.backends.procedural.styles import apply_styles, grade
from apps.generation.backends.procedural.vocabulary import Scene, parse_prompt
from apps.generation.backends.procedural.weather import (
    RAIN_DARKENS,
    paint_lightning,
)

# Finals render at full size, except in rain and storms: those are the dearest to encode
# (streaks everywhere), and rain and haze hide the softness of a three-quarter-size render
# scaled up -- the still renderer's own trade for finals.
HEAVY_WEATHER = frozenset({"rain", "storm"})
HEAVY_WEATHER_SCALE = 0.75
# The camera sways sideways on a slow sine: the nearest ground moves CAMERA_SWAY scene units
# either way over CAMERA_PERIOD_S. A clip starts at rest position, already moving (a third of
# the way up the sine's slope), so even a one-second clip drifts; 20 s cover a third of a period.
CAMERA_SWAY = 0.2
CAMERA_PERIOD_S = 60.0
CAMERA_PHASE = -math.pi / 3
_PHASE_SIN = math.sin(CAMERA_PHASE)
CAMERA_RANGE = (-1.0 - _PHASE_SIN, 1.0 - _PHASE_SIN)  # camera() stays within this
MAX_PARALLAX = 1.1
# Sub-pixel positions per layer (and for clouds), by work height: slow layers must still move
# a little every frame, and a pixel is coarser in a small draft.
LAYER_PHASES = {400: 8, 10_000: 4}
CLOUD_PHASES = {400: 4, 10_000: 2}
COMPACT_PIXELS = 600_000
CLOUD_PARALLAX = 0.2
SPATIAL_STYLES = frozenset({"low_poly", "oil_paint", "watercolour", "line_art"})
PIXEL_BLOCKS = 160  # pixel art: blocks along the long side, as in stills


def camera(t: float) -> float:
    """The camera's sideways position at ``t`` seconds, in units of the sway (0 at t = 0)."""
    return math.sin(2 * math.pi * t / CAMERA_PERIOD_S + CAMERA_PHASE) - _PHASE_SIN


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Geometry:
    """Sizes, in work pixels: frames are rendered ``w`` x ``h`` (the output size for finals;
    smaller for drafts, pixel-art blocks for pixel art) and scaled to ``width`` x ``height``.

    The frame buffer is ``wf`` wide: the frame plus ``margin`` columns each side for water to
    reflect. Moving strips are ``wc`` wide: the buffer plus ``left`` and ``right`` columns the
    camera's sway can reveal.
    """

    width: int
    height: int
    w: int
    h: int
    block: int
    margin: int
    left: int
    right: int
    sway: float  # pixels the nearest ground moves per unit of camera()
    reach: int  # how far an aurora's rows sway

    @property
    def wf(self) -> int:
        return self.w + 2 * self.margin

    @property
    def wc(self) -> int:
        return self.left + self.wf + self.right

    @property
    def shift(self) -> float:
        """Canvas shift (work pixels) that puts buffer column 0 at strip column ``left``."""
        return (self.right - self.left) / 2


def _by_height(table: dict[int, int], h: int) -> int:
    return next(v for limit, v in sorted(table.items()) if h <= limit)


def geometry(scene: Scene, width: int, height: int, quality: str, direction: int) -> Geometry:
    if "pixel_art" in scene.styles:
        block = max(2, round(max(width, height) / PIXEL_BLOCKS))
        w, h = -(-width // block), -(-height // block)
    else:
        block, w, h = 1, width, height
        if quality == "draft":
            scale = min(1.0, DRAFT_MAX_SIDE / max(width, height))
        else:
            scale = HEAVY_WEATHER_SCALE if scene.weather in HEAVY_WEATHER else 1.0
        if scale < 1.0:
            w, h = (
                max(MIN_SIDE, motion.even(width * scale)),
                max(MIN_SIDE, motion.even(height * scale)),
            )
    sway = direction * CAMERA_SWAY * h
    lo, hi = sorted((sway * CAMERA_RANGE[0], sway * CAMERA_RANGE[1]))
    margin = motion.even(0.02 * h + 2)
    reach = motion.even(0.025 * h + 2)
    left = motion.even(max(MAX_PARALLAX * max(0.0, -lo) + 2, reach))
    right = motion.even(max(MAX_PARALLAX * max(0.0, hi) + 3, reach))
    return Geometry(width, height, w, h, block, margin, left, right, sway, reach)


# --------------------------------------------------------------------------------------------
# Looks: the still's grading and styles, applied to layers
# --------------------------------------------------------------------------------------------


class Looker:
    """Grades (and styles) painted images like a still, without the vignette (frames add it).

    Pixel art and film grain are applied per frame instead; their colour shifts stay here."""

    def __init__(self, c: Canvas) -> None:
        self.c = c
        self.scene = c.scene
        self.spatial = c.scene.styles & SPATIAL_STYLES
        # a pointwise look can grade just the rows a layer touches
        self.pointwise = not self.spatial and "cinematic" not in c.scene.styles
        self.black = self.colour(np.zeros((1, 1, 3), np.float32))[0, 0]

    def colour(self, img: np.ndarray) -> np.ndarray:
        out = grade(self.c, img, vignettes=False)
        if "film_grain" in self.scene.styles:  # the grain style's tone; the grain moves per frame
            out = out * 0.95 + np.array([0.035, 0.028, 0.02], np.float32)
        return out

    def __call__(self, img: np.ndarray) -> np.ndarray:
        if not self.spatial:
            return self.colour(img)
        graded = grade(self.c, img, vignettes=False)
        styled = apply_styles(to_u8(graded), self.scene, self.c.noise, only=self.spatial)
        out = styled.astype(np.float32) / 255
        if "film_grain" in self.scene.styles:
            out = out * 0.95 + np.array([0.035, 0.028, 0.02], np.float32)
        return out


# --------------------------------------------------------------------------------------------
# Recording layers while the landscape is painted
# --------------------------------------------------------------------------------------------


@dataclass
class Capture:
    """One depth layer lifted off the canvas: premultiplied graded colour and coverage."""

    parallax: float
    top: int
    premul: np.ndarray  # float (rows, W, 3), 0..1
    alpha: np.ndarray  # float (rows, W)
    neon: list[tuple[int, np.ndarray]]  # neon sign light: (first row, rows)


@dataclass
class WaterMark:
    kind: str
    ridges: list[np.ndarray] | None = None


class Recorder:
    """The canvas's ``LayerSink`` for videos: cuts the painting into layers.

    A layer's colour is what it changed, graded: ``look(after) - look(before) * (1 - alpha)``,
    exact where it is opaque or purely additive (lights), a close blend at its edges. Each
    layer and each stretch of water is handed to ``make`` as soon as it is complete, which
    turns it into a moving part (so the float captures do not pile up).
    """

    def __init__(
        self,
        c: Canvas,
        look: Looker,
        before_look: np.ndarray,
        make: Callable[[Capture | WaterMark], motion.Part],
    ) -> None:
        self.c, self.look, self.make = c, look, make
        self.parts: list[motion.Part] = []
        self._parallax: float | None = None
        self._before: np.ndarray | None = None
        self._before_look = before_look  # full-canvas look, for looks that are not pointwise
        self._neon: list[tuple[int, np.ndarray]] = []

    def layer(self, parallax: float) -> None:
        self.close()
        self._parallax = parallax
        self._before = self.c.img.copy()
        self.c.cover = np.zeros((self.c.h, self.c.w), np.float32)
        self._neon = []

    def neon(self, top: int, lights: np.ndarray) -> None:
        self._neon.append((top, lights.copy()))

    def water(self, c: Canvas, kind: str) -> None:
        self.close()
        self.parts.append(self.make(WaterMark(kind)))

    def river(self, c: Canvas, ridges: list[np.ndarray]) -> None:
        self.close()
        self.parts.append(self.make(WaterMark("river", ridges)))

    def close(self) -> None:
        if self._parallax is None or self._before is None or self.c.cover is None:
            return
        after, before, alpha = self.c.img, self._before, self.c.cover
        changed = (alpha > 0).any(axis=1) | (after != before).any(axis=(1, 2))
        rows = np.nonzero(changed)[0]
        if self.look.pointwise:
            if rows.size:
                top, bottom = int(rows[0]), int(rows[-1]) + 1
                la = self.look(after[top:bottom])
                lb = self.look(before[top:bottom])
                a = alpha[top:bottom]
                self._keep(top, la - lb * (1.0 - a)[..., None], a)
        else:  # styles reach beyond what was painted: keep the rows they changed
            la = self.look(after)
            premul = la - self._before_look * (1.0 - alpha)[..., None]
            active = (alpha > 0).any(axis=1) | (np.abs(premul).max(axis=(1, 2)) > 0.5 / 255)
            rows = np.nonzero(active)[0]
            if rows.size:
                top, bottom = int(rows[0]), int(rows[-1]) + 1
                self._keep(top, premul[top:bottom], alpha[top:bottom])
            self._before_look = la
        self.c.cover = None
        self._parallax = None

    def _keep(self, top: int, premul: np.ndarray, alpha: np.ndarray) -> None:
        assert self._parallax is not None
        capture = Capture(self._parallax, top, premul, alpha.copy(), self._neon)
        self.parts.append(self.make(capture))


def capture_additive(c: Canvas, look: Looker, paint: Callable[[Canvas], None]) -> np.ndarray:
    """What ``paint`` adds to the canvas (graded), leaving the canvas as it was."""
    before = c.img.copy()
    paint(c)
    light = look(c.img) - look(before)
    c.img = before
    return light


# --------------------------------------------------------------------------------------------
# The builder
# --------------------------------------------------------------------------------------------


@dataclass
class Animation:
    """Everything needed to render any frame of one request's video."""

    geo: Geometry
    parts: list[motion.Part]
    finish: motion.Finish
    fps: int

    def frame(self, i: int, buffer: np.ndarray | None = None) -> np.ndarray:
        """Frame ``i`` as uint8 RGB (height, width, 3); depends only on ``i``. ``buffer`` (the
        work buffer, reused between calls of one thread) saves an allocation."""
        g = self.geo
        f = buffer if buffer is not None else np.empty((g.h, g.wf, 3), np.float32)
        self.render(i, f)
        return self.finish(f)

    def render(self, i: int, f: np.ndarray) -> None:
        t = i / self.fps
        m = motion.Motion(i=i, t=t, cam=self.geo.sway * camera(t))
        for part in self.parts:
            part.apply(f, m)


class Builder:
    """Paints one request's scene and turns it into ``motion`` parts (see the module doc)."""

    def __init__(
        self,
        prompt: str,
        negative_prompt: str,
        seed: int,
        width: int,
        height: int,
        quality: str,
        fps: int,
    ) -> None:
        self.scene = parse_prompt(prompt, negative_prompt)
        self.digest = seed_digest(prompt, negative_prompt, seed)
        self.noise = Noise(self.digest)
        rng = self.noise.rng("video")
        self.direction = 1 if rng.random() < 0.5 else -1
        # wind (scene units per second, signed): clouds and fog drift, rain and snow slant
        self.wind = float(rng.uniform(0.006, 0.014) * (1 if rng.random() < 0.5 else -1))
        if self.scene.weather == "storm":
            self.wind *= 2.5
        self.fps = fps
        self.quality = quality
        self.detail = 2 if quality == "final" else 0
        self.geo = g = geometry(self.scene, width, height, quality, self.direction)
        # one canvas as wide as the strips; the sky and the layers are painted on it
        self.canvas = Canvas(self.scene, self.digest, g.wc, g.h, self.detail, shift=g.shift)
        self.look = Looker(self.canvas)
        # pixel art moves by whole blocks
        self.phases = 1 if g.block > 1 else _by_height(LAYER_PHASES, g.h)
        self.cloud_phases = 1 if g.block > 1 else _by_height(CLOUD_PHASES, g.h)
        # big frames keep the transparency of moving layers in bytes (memory); small ones
        # in floats (speed)
        self.compact = g.h * g.wc > COMPACT_PIXELS

    # -- helpers ---------------------------------------------------------------------------

    def frame_columns(self, a: np.ndarray, extra: int = 0) -> np.ndarray:
        """The buffer's columns (plus ``extra`` each side) of a strip at the camera's home."""
        g = self.geo
        return a[:, g.left - extra : g.left + g.wf + extra]

    # -- the build ----------------------------------------------------------------------------

    def build(self) -> Animation:
        c, el, g = self.canvas, self.scene.elements, self.geo
        paint_sky(c)
        stars = "stars" in el or c.look.stars > 0.3
        if stars:
            paint_stars(c, points=False)  # the milky way; stars twinkle per frame
        aurora = capture_additive(c, self.look, paint_aurora) if "aurora" in el else None
        if "planets" in el:
            paint_planets(c)
        if "moon" in el:
            paint_moon(c)
        if "sun" in el and c.sun[1] < c.hz:
            paint_sun(c)
        sky_raw = c.img.copy()
        sky_look = self.look(sky_raw)
        flash = None
        if self.scene.weather == "storm":
            flash = capture_additive(c, self.look, paint_lightning)

        recorder = Recorder(c, self.look, sky_look, self.landscape)
        c.sink = recorder
        paint_landscape(c, lambda _f: None, water=recorder.water, river=recorder.river)
        recorder.close()
        c.sink = None

        base = self.frame_columns(sky_look) * 255.0 + 0.5
        sky = motion.Sky(np.ascontiguousarray(base, np.float32))
        if aurora is not None:
            sky.aurora = self.aurora(aurora)
        sky.clouds = self.clouds()
        if sky.clouds is not None:
            sky.clearing = self.clearing(sky.clouds.premul[0].shape[0])
        parts: list[motion.Part] = [sky]
        if stars:
            parts.append(self.stars(sky, sky_raw, sky.clouds))
        if flash is not None:
            parts.append(self.flash(flash))
        parts.extend(recorder.parts)
        if c.fog > 0.1:
            parts.append(effects.fog(self))
        if "vaporwave" in self.scene.styles:
            parts.append(effects.grid(self))
        if self.scene.weather in ("rain", "storm"):
            parts.append(effects.rain(self))
        if self.scene.weather == "snow":
            parts.append(effects.snow(self))
        if "film_grain" in self.scene.styles:
            parts.append(effects.grain(self))
        sky.hidden = motion.hidden_from(parts[1:], g.h)
        animation = Animation(g, parts, self.finish(), self.fps)
        if g.block > 1:
            self.palette(animation)
        return animation

    # -- sky ----------------------------------------------------------------------------------

    def stars(
        self, sky: motion.Sky, sky_raw: np.ndarray, clouds: motion.DriftingTile | None
    ) -> motion.Twinkle:
        """Stars at work resolution, painted into the static sky, twinkling per frame."""
        g, c = self.geo, self.canvas
        su, sv, bright = star_points(c)
        xs = np.rint(c.to_px(su)).astype(np.intp) - g.left  # buffer columns
        ys = np.rint(sv * g.h - 0.5).astype(np.intp)
        keep = (xs >= 1) & (xs < g.wf - 1) & (ys >= 1) & (ys < g.h - 1)
        xs, ys, bright = xs[keep], ys[keep], bright[keep]
        # how visible each is depends on the (unstyled) sky colour behind it
        vis = star_visibility(c, sv[keep], sky_raw[ys, xs + g.left]) * bright * 255.0
        tint = STAR_TINT
        if g.block > 1:  # a star is one big block in pixel art: dimmer, and no sparkle cross
            vis *= 0.6
        np.add.at(sky.base, (ys, xs), vis[:, None] * tint)
        big = (bright > 0.5) & (g.block == 1)
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            np.add.at(sky.base, (ys[big] + dy, xs[big] + dx), vis[big, None] * 0.35 * tint)
        rng = self.noise.rng("video:twinkle")
        n = xs.size
        return motion.Twinkle(
            ys=ys,
            xs=xs,
            amplitude=(vis * 0.55).astype(np.float32),
            freq=rng.uniform(0.4, 1.6, n),
            phase=rng.uniform(0, 2 * math.pi, n),
            tint=tint,
            clouds=clouds,
        )

    def aurora(self, light: np.ndarray) -> motion.Aurora:
        g = self.geo
        reach = g.reach
        full = self.frame_columns(light, extra=reach) * 255.0
        rows = np.nonzero(np.abs(full).max(axis=(1, 2)) > 0.3)[0]
        top, bottom = (int(rows[0]), int(rows[-1]) + 1) if rows.size else (0, 0)
        return motion.Aurora(
            top=top,
            light=np.ascontiguousarray(full[top:bottom], np.float32),
            reach=reach,
            phase=float(self.noise.rng("video:aurora").uniform(0, 2 * math.pi)),
            wavelength=0.35 * g.h,
        )

    def clouds(self) -> motion.DriftingTile | None:
        """A strip of cloud that repeats sideways, painted on its own canvas."""
        g, scene = self.geo, self.scene
        overlap = motion.even(0.15 * g.h)
        period = motion.even(g.wf + overlap)
        strip = period + overlap
        # strip column ``overlap`` shows what buffer column 0 shows at the camera's home
        shift = strip / 2 - overlap - g.margin - g.w / 2
        cc = Canvas(scene, self.digest, strip, g.h, self.detail, shift=shift)
        paint_sky(cc)
        before = cc.img.copy()
        cc.cover = np.zeros((cc.h, cc.w), np.float32)
        paint_clouds(cc, thin_near_light=False)
        alpha = cc.cover
        if not alpha.any():
            return None
        rows = slice(0, cc.hz_row)
        if self.look.pointwise:
            premul, lb = self.look(cc.img[rows]), self.look(before[rows])
        else:  # styles work on whole pictures
            premul, lb = self.look(cc.img)[rows], self.look(before)[rows]
        alpha = alpha[rows]
        del cc, before
        lb *= (1.0 - alpha)[..., None]
        premul -= lb
        del lb
        return self.drifting(
            premul, alpha, period, overlap, CLOUD_PARALLAX, self.wind * g.h, self.cloud_phases
        )

    def clearing(self, rows: int) -> tuple[slice, slice, np.ndarray] | None:
        """Where clouds thin out around the sun, in buffer rows and columns."""
        g, w = self.geo, self.canvas
        columns = w.u[g.left : g.left + g.wf]
        left = cloud_clearing(w, columns, w.v[:rows])
        if left is None:
            return None
        ys, xs = np.nonzero(left < 0.995)
        if not ys.size:
            return None
        box = (slice(int(ys.min()), int(ys.max()) + 1), slice(int(xs.min()), int(xs.max()) + 1))
        part = np.repeat(left[box][..., None], 3, axis=2).astype(np.float32)
        return box[0], box[1], part

    def drifting(
        self,
        premul: np.ndarray,
        alpha: np.ndarray,
        period: int,
        overlap: int,
        parallax: float,
        speed: float,
        phases: int,
    ) -> motion.DriftingTile:
        g = self.geo
        premul *= 255.0
        premul += 0.5 * alpha[..., None]
        p = motion.periodic(premul, period, overlap, g.wf + 1)
        del premul
        inv = motion.periodic(1.0 - alpha, period, overlap, g.wf + 1)
        return motion.DriftingTile(
            top=0,
            origin=float(overlap),
            period=period,
            parallax=parallax,
            speed=speed,
            inv_alpha=[
                # one phase (fog) is cheap to keep in floats, and saves a pass per frame
                motion.transparency(np.repeat(a[..., None], 3, axis=2), self.compact and phases > 1)
                for a in motion.subpixel_phases(inv, phases)
            ],
            premul=[motion.to_u8(a) for a in motion.subpixel_phases(p, phases)],
        )

    def flash(self, light: np.ndarray) -> motion.Flash:
        full = self.frame_columns(light) * 255.0
        rng = self.noise.rng("video:lightning")
        return motion.Flash(
            top=0,
            light=np.ascontiguousarray(full, np.float32),
            table=motion.slot_table(rng),
            chance=0.45,
            slot=self.fps * 3 // 2,
        )

    # -- landscape ----------------------------------------------------------------------------

    def layer(self, cap: Capture) -> motion.MovingLayer:
        g = self.geo
        premul, alpha, top = cap.premul, cap.alpha, cap.top
        bottom = top + premul.shape[0]
        solid_rows = alpha.min(axis=1) >= 0.999
        split = bottom
        while split > top and solid_rows[split - 1 - top]:
            split -= 1
        p255 = premul * 255.0 + 0.5 * alpha[..., None]
        inv = np.repeat((1.0 - alpha)[..., None], 3, axis=2)
        q = self.phases
        cut = split - top
        premuls, solids = [], []
        for a in motion.subpixel_phases(p255, q):
            premuls.append(motion.to_u8(a[:cut]))
            solids.append(motion.to_u8(a[cut:]))
        return motion.MovingLayer(
            parallax=cap.parallax,
            origin=float(g.left),
            top=top,
            split=split,
            inv_alpha=[
                motion.transparency(a, self.compact) for a in motion.subpixel_phases(inv[:cut], q)
            ],
            premul=premuls,
            solid=solids,
            neon=self.neon(cap.neon) if cap.neon else None,
        )

    def landscape(self, item: Capture | WaterMark) -> motion.Part:
        return self.layer(item) if isinstance(item, Capture) else effects.water(self, item)

    def neon(self, signs: list[tuple[int, np.ndarray]]) -> motion.Neon | None:
        g = self.geo
        found = []
        for top, lights in signs:
            ys, xs = np.nonzero(lights.sum(axis=2) > 12.0 / 255.0)
            found.append((ys + top, xs, lights[ys, xs] * 255.0))
        ys = np.concatenate([f[0] for f in found])
        xs = np.concatenate([f[1] for f in found])
        light = np.concatenate([f[2] for f in found]).astype(np.float32)
        if not ys.size:
            return None
        groups = 16
        width = max(2, round(0.03 * g.h))
        rng = self.noise.rng("video:neon")
        shuffle = rng.permutation(4096)
        return motion.Neon(
            ys=ys,
            xs=xs,
            light=light,
            group=shuffle[(xs // width) % 4096] % groups,
            table=rng.random((groups, 4096)),
        )

    # -- finishing --------------------------------------------------------------------------------

    def finish(self) -> motion.Finish:
        g, scene = self.geo, self.scene
        x = (((np.arange(g.w) + 0.5 - g.w / 2) / g.h) / (g.w / g.h / 2)).astype(np.float32)
        y = ((np.arange(g.h) + 0.5) / g.h * 2 - 1).astype(np.float32)
        r2 = (x[None, :] ** 2 + y[:, None] ** 2) / 2
        v = 1 - 0.14 * r2
        if "cinematic" in scene.styles:
            v = v * (1 - 0.22 * r2)
        if scene.weather in ("rain", "storm"):
            v = v * RAIN_DARKENS
        vignette = np.repeat(v[..., None], 3, axis=2).astype(np.float32)
        return motion.Finish(
            margin=g.margin,
            vignette=vignette,
            block=g.block,
            size=(g.width, g.height),
            # drafts favour speed; finals scale up exactly
            upscale="FAST_BILINEAR" if self.quality == "draft" else "BILINEAR",
        )

    def palette(self, animation: Animation) -> None:
        """Pixel art keeps one palette for the whole clip (chosen on the first frame), so
        colours do not flicker from frame to frame."""
        g = self.geo
        buffer = np.empty((g.h, g.wf, 3), np.float32)
        animation.render(0, buffer)
        first = animation.finish.small(buffer)
        animation.finish.palette = Image.fromarray(first).quantize(
            colors=28, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )


def build(
    prompt: str,
    negative_prompt: str,
    seed: int,
    width: int,
    height: int,
    quality: str,
    fps: int,
) -> Animation:
    return Builder(prompt, negative_prompt, seed, width, height, quality, fps).build()
