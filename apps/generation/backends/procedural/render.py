"""Still rendering: compose the painters back to front, grade, resize, style, encode."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from apps.generation.backends.procedural.canvas import Canvas
from apps.generation.backends.procedural.land import (
    paint_city,
    paint_far_shore,
    paint_ground,
    paint_islands,
    paint_mountains,
)
from apps.generation.backends.procedural.sky import (
    paint_aurora,
    paint_clouds,
    paint_moon,
    paint_planets,
    paint_sky,
    paint_stars,
    paint_sun,
)
from apps.generation.backends.procedural.styles import apply_styles, grade, to_u8
from apps.generation.backends.procedural.vocabulary import parse_prompt
from apps.generation.backends.procedural.water import paint_foreground, paint_river, paint_water
from apps.generation.backends.procedural.weather import (
    paint_fog,
    paint_lightning,
    paint_rain,
    paint_snow,
    paint_vaporwave_grid,
)


def compose(c: Canvas, report: Callable[[float], None]) -> None:
    """Paint back to front; ``report`` receives this stage's progress in 0..1."""
    el = c.scene.elements
    paint_sky(c)
    if "stars" in el or c.look.stars > 0.3:
        paint_stars(c)
    if "aurora" in el:
        paint_aurora(c)
    if "planets" in el:
        paint_planets(c)
    if "moon" in el:
        paint_moon(c)
    if "sun" in el and c.sun[1] < c.hz:
        paint_sun(c)
    report(0.2)
    paint_clouds(c)
    if c.scene.weather == "storm":
        paint_lightning(c)
    report(0.35)
    paint_landscape(c, report)
    if c.fog > 0.1:
        paint_fog(c)
    if "vaporwave" in c.scene.styles:
        paint_vaporwave_grid(c)
    if c.scene.weather in ("rain", "storm"):
        paint_rain(c)
    if c.scene.weather == "snow":
        paint_snow(c)
    report(0.75)


def paint_landscape(
    c: Canvas,
    report: Callable[[float], None],
    *,
    water: Callable[[Canvas, str], None] = paint_water,
    river: Callable[[Canvas, list[np.ndarray]], None] = paint_river,
) -> None:
    """Land and water back to front. Videos pass their own ``water`` and ``river``, which
    animate per frame what a still paints once."""
    el = c.scene.elements
    open_water = bool(el & {"sea", "lake"})
    city_street = "city" in el and not open_water and not el & {"hills", "desert", "forest"}
    has_ground = not open_water and not city_street
    if "mountains" in el:
        paint_mountains(c, 3 if open_water else 2, c.hz + (0.0 if open_water else 0.03))
    if "city" in el:
        paint_city(c)
    report(0.5)
    if open_water:
        if el & {"hills", "forest"}:
            paint_far_shore(c)
        if "islands" in el:
            paint_islands(c)
        water(c, "sea" if "sea" in el else "lake")
        paint_foreground(c)
    elif city_street:
        water(c, "street")
    if has_ground:
        kind = "desert" if "desert" in el else "hills" if el & {"hills", "forest"} else "plain"
        ridges = paint_ground(c, kind)
        if "river" in el:
            river(c, ridges)
    report(0.65)


# --------------------------------------------------------------------------------------------
# Public rendering entry points
# --------------------------------------------------------------------------------------------

QUALITIES = ("draft", "final")
DRAFT_MAX_SIDE = 640  # drafts with a longer side render at this size and scale up
FINAL_SCALE = 0.75  # finals render at 3/4 size, then Lanczos-upscale and sharpen
MIN_SIDE, MAX_SIDE = 32, 2048


def seed_digest(prompt: str, negative_prompt: str, seed: int) -> bytes:
    """Everything random derives from this. Size and quality are deliberately left out, so a
    draft previews its final and aspect ratios crop one scene."""
    text = f"vivid-procedural/1\x00{prompt.strip()}\x00{negative_prompt.strip()}\x00{int(seed)}"
    return hashlib.sha256(text.encode()).digest()


def variation_digest(prompt: str, negative_prompt: str, seed: int) -> bytes:
    """The digest a variation seed perturbs a scene with (independent of ``seed_digest``)."""
    text = "\x00".join(
        ("vivid-procedural/1/variation", prompt.strip(), negative_prompt.strip(), str(int(seed)))
    )
    return hashlib.sha256(text.encode()).digest()


# A variation of full strength scales each colour channel by up to this much either way.
VARIATION_TINT = 0.12


def vary_colours(img: np.ndarray, variations: tuple[tuple[bytes, float], ...]) -> np.ndarray:
    """Nudge the graded colours per variation: a small per-channel gain, by strength."""
    for digest, strength in variations:
        if strength <= 0:
            continue
        sub = hashlib.sha256(digest + b"/tint").digest()
        rng = np.random.default_rng(int.from_bytes(sub[:16], "little"))
        gains = 1.0 + VARIATION_TINT * strength * (rng.random(3) * 2.0 - 1.0)
        img = img * gains.astype(np.float32)
    return img


def render_scene(
    prompt: str,
    negative_prompt: str = "",
    seed: int = 0,
    width: int = 1024,
    height: int = 1024,
    quality: str = "final",
    *,
    progress: Callable[[float], None] | None = None,
    variations: tuple[tuple[int, float], ...] = (),
) -> np.ndarray:
    """Render the prompt's scene as a (height, width, 3) uint8 array.

    Pure and deterministic: the same arguments always give the same pixels. ``progress``, if
    given, receives increasing fractions below 1.0 and may raise to stop the render.
    ``variations`` ((variation seed, strength 0..1) pairs, applied in order) make a picture near
    the seed's one: the same layout with other details and slightly other colours.
    """
    if quality not in QUALITIES:
        raise ValueError(f"quality must be one of {QUALITIES}, not {quality!r}")
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise ValueError(f"size {width}x{height} is outside {MIN_SIDE}..{MAX_SIDE}")
    report = progress or (lambda _f: None)
    scene = parse_prompt(prompt, negative_prompt)
    noise_digest = seed_digest(prompt, negative_prompt, seed)
    if quality == "final":
        scale, detail = FINAL_SCALE, 2
    else:
        scale, detail = min(1.0, DRAFT_MAX_SIDE / max(width, height)), 0
    rw, rh = max(MIN_SIDE, round(width * scale)), max(MIN_SIDE, round(height * scale))
    varied = tuple(
        (variation_digest(prompt, negative_prompt, v), float(s)) for v, s in variations if s > 0
    )
    canvas = Canvas(scene, noise_digest, rw, rh, detail, variations=varied)
    report(0.05)
    compose(canvas, report)
    graded = grade(canvas)
    if varied:
        graded = vary_colours(graded, varied)
    rgb = to_u8(graded)
    report(0.82)
    if (rw, rh) != (width, height):
        rgb = resize_output(rgb, width, height, sharpen=quality == "final")
    report(0.9)
    return apply_styles(rgb, scene, canvas.noise)


def resize_output(rgb: np.ndarray, width: int, height: int, *, sharpen: bool) -> np.ndarray:
    """Scale the render to the requested size. Finals render smaller (most of the cost is
    per pixel) and recover crispness with Lanczos and an unsharp mask; drafts just stretch."""
    image = Image.fromarray(rgb)
    if sharpen:
        image = image.resize((width, height), Image.Resampling.LANCZOS)
        image = image.filter(ImageFilter.UnsharpMask(radius=1.6, percent=70, threshold=2))
    else:
        image = image.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image)


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes; Pillow writes no timestamps, so equal pixels give equal bytes.

    Level 3 encodes about twice as fast as the default 6 for files ~15% larger: at 1024px
    the default costs as much as painting the picture."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=3)
    return buf.getvalue()
