"""The canvas: scene coordinates, the working image and the light, shared by the painters."""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from apps.generation.backends.procedural.arrays import as_rgb
from apps.generation.backends.procedural.looks import FOG_DENSITY, TIME_LOOKS, weathered
from apps.generation.backends.procedural.noise import Noise
from apps.generation.backends.procedural.vocabulary import Scene


class LayerSink(Protocol):
    """Listens while a canvas is painted for a video: where depth layers start, and side data."""

    def layer(self, parallax: float) -> None:
        """Everything painted from now on belongs to a layer moving by ``parallax``."""

    def neon(self, top: int, lights: np.ndarray) -> None:
        """Neon signs (additive light, rows from ``top``) of the layer being painted."""


class Canvas:
    """Scene-unit coordinates (height 1.0, x centred on 0) and the float image being painted.

    Stills paint straight into ``img``. A video sets ``sink``: painters then announce each depth
    layer (``layer()``), and ``fill`` also accumulates coverage in ``cover``, so every layer can
    be lifted off the canvas with its alpha and moved on its own.
    """

    sink: LayerSink | None = None
    cover: np.ndarray | None = None  # (H, W) coverage of the current layer, videos only

    def __init__(
        self,
        scene: Scene,
        digest: bytes,
        width: int,
        height: int,
        detail: int,
        *,
        shift: float = 0.0,
        variations: tuple[tuple[bytes, float], ...] = (),
    ) -> None:
        """``shift`` (pixels) moves the canvas sideways over the scene: column ``x`` shows what
        column ``x + shift`` of an unshifted canvas would (videos paint strips wider than the
        frame, not always centred on it). ``variations`` perturb the noise (``Noise``)."""
        self.scene = scene
        self.look = weathered(TIME_LOOKS[scene.time_of_day], scene.weather)
        self.noise = Noise(digest, variations)
        self.w, self.h = width, height
        self.shift = shift
        self.detail = detail  # extra noise octaves for final quality
        self.u = ((np.arange(width) + 0.5 - width / 2 + shift) / height).astype(np.float32)
        self.v = ((np.arange(height) + 0.5) / height).astype(np.float32)
        self.hz = scene.horizon
        self.hz_row = round(self.hz * height)
        self.img = np.zeros((height, width, 3), np.float32)
        elev = self.look.sun_elev
        if "sun" in scene.elements and elev <= 0:
            elev = 0.02  # a sun asked for at dusk or night sits on the horizon
        self.sun = (scene.sun_x, self.hz - elev)
        day = TIME_LOOKS[scene.time_of_day].sun_elev > 0.05
        self.moon = (
            (-scene.sun_x * 1.6 - 0.08, self.hz - 0.4) if day else (scene.sun_x, self.hz - 0.43)
        )
        self.night = scene.time_of_day in ("night", "dusk")
        self.fog = FOG_DENSITY[scene.weather]
        self.glow = self._glow_field()

    @property
    def light_pos(self) -> tuple[float, float]:
        """Where light comes from: the moon at night when there is one, else the sun."""
        if self.scene.time_of_day == "night" and "moon" in self.scene.elements:
            return self.moon
        return self.sun

    def _glow_field(self) -> np.ndarray:
        """Brightness of the sky's glow around the light source; lights sky, haze and clouds."""
        lu, lv = self.light_pos
        strength = self.look.glow_strength
        if self.scene.time_of_day == "night" and "moon" not in self.scene.elements:
            strength *= 0.3
        dx = (self.u - lu)[None, :] / 1.5
        dy = (self.v - lv)[:, None]
        d = np.sqrt(dx * dx + dy * dy)
        return strength * (0.55 * np.exp(-d / 0.06) + 0.45 * np.exp(-d / 0.28))

    def to_px(self, u: np.ndarray | float) -> np.ndarray | float:
        return u * self.h + self.w / 2 - 0.5 - self.shift

    def rows(self, top: float, bottom: float) -> slice:
        y0 = int(np.clip(math.floor(top * self.h) - 1, 0, self.h))
        y1 = int(np.clip(math.ceil(bottom * self.h) + 1, y0, self.h))
        return slice(y0, y1)

    def haze_colour(self, rows: slice) -> np.ndarray:
        """Haze brightened near the sun, as sunlight scatters in the air."""
        glow = self.glow[rows][..., None]
        return as_rgb(self.look.haze) + as_rgb(self.look.glow) * glow * 0.6

    @property
    def layered(self) -> bool:
        """Whether this canvas is painted for a video (layer by layer)."""
        return self.sink is not None

    def layer(self, parallax: float) -> None:
        """Start a depth layer. ``parallax`` is the share of the camera's motion the layer moves
        by in a video: 0 is infinitely far (the sky), 1 the ground at the bottom of the frame."""
        if self.sink is not None:
            self.sink.layer(parallax)

    def fill(self, ridge: np.ndarray, colour: np.ndarray, rows: slice) -> None:
        """Paint ``colour`` (rows, W, 3) below the per-column ``ridge``, anti-aliased."""
        below = self.v[rows][:, None] - ridge[None, :]
        alpha = np.clip(below * self.h + 0.5, 0.0, 1.0)[..., None]
        region = self.img[rows]
        region += (colour - region) * alpha
        if self.cover is not None:
            cover = self.cover[rows]
            cover += (1.0 - cover) * alpha[..., 0]
