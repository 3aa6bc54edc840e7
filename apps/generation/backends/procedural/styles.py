"""Grading (at render resolution) and art styles (at output resolution)."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from apps.generation.backends.procedural.arrays import (
    as_rgb,
    box_blur,
    flat_index,
    flat_pixels,
    gather,
    glow_blur,
    luma,
    resize_float,
    smoothstep,
    to_image,
    to_u8,
)
from apps.generation.backends.procedural.canvas import Canvas
from apps.generation.backends.procedural.looks import MOOD_GRADES, PALETTE_GRADES
from apps.generation.backends.procedural.noise import Noise
from apps.generation.backends.procedural.vocabulary import Scene


def _hue_rotate(img: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate hues around the grey axis (Rodrigues' rotation); keeps brightness."""
    a = math.radians(degrees)
    cos, sin = math.cos(a), math.sin(a)
    k = (1 - cos) / 3
    s = sin / math.sqrt(3)
    m = np.array(
        [[cos + k, k - s, k + s], [k + s, cos + k, k - s], [k - s, k + s, cos + k]], np.float32
    )
    return img @ m.T


def _split_tone(img: np.ndarray, shadow: str, highlight: str, strength: float) -> np.ndarray:
    """Map brightness onto a shadow-to-highlight colour ramp, keeping luminance."""
    lum = luma(img)[..., None]
    lo, hi = as_rgb(shadow), as_rgb(highlight)
    tone = lo + (hi - lo) * lum
    tone = tone * (lum / np.maximum(luma(tone)[..., None], 1e-3))
    return img + (tone - img) * strength


def vignette(c: Canvas, img: np.ndarray, strength: float) -> np.ndarray:
    aspect = c.w / c.h
    x = c.u[None, :] / (aspect / 2)
    y = (c.v[:, None] - 0.5) * 2
    r2 = (x * x + y * y) / 2
    return img * (1 - strength * r2)[..., None]


def grade(c: Canvas, img: np.ndarray | None = None, *, vignettes: bool = True) -> np.ndarray:
    """Scene-wide colour: unknown-word hue shift, palette, mood, and the colour styles.

    Grades ``img`` (default: the canvas). Videos leave out the vignettes (``vignettes=False``)
    and darken the corners of each frame instead, because their layers move under the frame.
    """
    s = c.scene
    img = c.img if img is None else img
    if s.hue_shift:
        img = _hue_rotate(img, s.hue_shift)
    if s.palette in PALETTE_GRADES:
        lo, hi, strength = PALETTE_GRADES[s.palette]
        img = _split_tone(img, lo, hi, strength)
    if "vaporwave" in s.styles:
        img = _split_tone(img, "#2a0a5e", "#7ff6ff", 0.35)
        img = _split_tone(img, "#3a0a40", "#ff7ad0", 0.25)
    if "cinematic" in s.styles:
        img = cinematic(c, img, vignettes=vignettes)
    mg = MOOD_GRADES[s.mood]
    lum = luma(img)[..., None]
    img = lum + (img - lum) * mg.saturation
    img = (img - 0.45) * mg.contrast + 0.45
    img = img * mg.brightness
    img = img + (1.0 - img) * mg.lift
    if vignettes:
        img = vignette(c, img, 0.14)
    return np.clip(img, 0.0, 1.0)


def cinematic(c: Canvas, img: np.ndarray, *, vignettes: bool = True) -> np.ndarray:
    """Teal shadows, warm highlights, an S-curve, bloom and a heavier vignette."""
    img = np.clip(img, 0, 1.5)
    bright = np.clip(img - 0.7, 0, None)
    img = img + glow_blur(bright, c.h * 0.03) * 0.8
    img = _split_tone(img, "#06303c", "#ffc58a", 0.28)
    curved = np.clip(img, 0, 1)
    img = img + (curved * curved * (3 - 2 * curved) - img) * 0.35
    return vignette(c, img, 0.22) if vignettes else img


def _style_low_poly(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Flat-shaded triangles over a jittered grid, each the colour under its centroid."""
    h, w = img.shape[:2]
    cell = max(h, w) / 30
    nx, ny = math.ceil(w / cell) + 1, math.ceil(h / cell) + 1
    gx, gy = np.meshgrid(np.linspace(0, w, nx), np.linspace(0, h, ny))
    jitter = rng.uniform(-0.38, 0.38, (2, ny, nx)) * cell
    jitter[0][:, [0, -1]] = 0
    jitter[1][[0, -1], :] = 0
    px, py = gx + jitter[0], gy + jitter[1]
    flip = rng.random((ny - 1, nx - 1)) < 0.5
    tris = []
    for j in range(ny - 1):
        for i in range(nx - 1):
            a, b, cc, d = (j, i), (j, i + 1), (j + 1, i + 1), (j + 1, i)
            tris += [(a, b, d), (b, cc, d)] if flip[j, i] else [(a, b, cc), (a, cc, d)]
    corners = np.array(tris)  # (T, 3, 2) of (row, col)
    xs, ys = px[corners[..., 0], corners[..., 1]], py[corners[..., 0], corners[..., 1]]
    soft = box_blur(img, max(1, int(cell / 6)))
    colours = gather(soft, ys.mean(1), xs.mean(1))
    colours *= (1 + rng.normal(0, 0.035, len(tris)))[:, None]
    colours = np.clip(colours * 255 + 0.5, 0, 255).astype(np.uint8)
    canvas = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(canvas)
    for tri_x, tri_y, col in zip(xs.tolist(), ys.tolist(), colours.tolist(), strict=True):
        draw.polygon(list(zip(tri_x, tri_y, strict=True)), fill=tuple(col))
    return np.asarray(canvas, np.float32) / 255


def _style_oil(img: np.ndarray, noise: Noise) -> np.ndarray:
    """Brush strokes: smear along a flowing direction field, vary the dabs, emboss bristles."""
    h, w = img.shape[:2]
    u = (np.arange(w) - w / 2) / h
    v = np.arange(h) / h
    flow = noise.fbm2d("oil:angle", (u + 2) * 2.5, v * 2.5, 3, extent=(11, 4))
    angle = (flow - 0.47) * math.pi * 1.3
    length = max(2.0, h * 0.012)
    dx, dy = np.cos(angle) * length, np.sin(angle) * length
    rng = noise.rng("style:oil")
    bristle = rng.random((h, w), dtype=np.float32)
    cell = max(2, round(h / 80))
    dabs = rng.random((h // cell + 1, w // cell + 1), dtype=np.float32)
    dabs = np.ascontiguousarray(np.repeat(np.repeat(dabs, cell, axis=0), cell, axis=1)[:h, :w])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    acc = np.zeros_like(img)
    streak = np.zeros((h, w), np.float32)
    dab = np.zeros((h, w), np.float32)
    taps = np.linspace(-1.0, 1.0, 5)
    pixels, bristles, dab_cells = flat_pixels(img), bristle.ravel(), dabs.ravel()
    for t in taps:
        flat = flat_index((h, w), yy + dy * t, xx + dx * t)
        acc += np.take(pixels, flat, axis=0)
        streak += np.take(bristles, flat)
        dab += np.take(dab_cells, flat)
    img, streak, dab = acc / len(taps), streak / len(taps), dab / len(taps)
    relief = (streak - np.roll(streak, 1, axis=1)) + (streak - np.roll(streak, 1, axis=0))
    lum = luma(img)[..., None]
    img = (lum + (img - lum) * 1.12) * (0.93 + 0.14 * dab)[..., None]
    return img * (1 + 0.3 * relief)[..., None]


def _style_watercolour(img: np.ndarray, noise: Noise) -> np.ndarray:
    """Soft washes: blur, bleed, pigment pooling at edges, blotches, then paper grain.

    Washes have no fine detail, so they are computed at half size (4x cheaper) and only the
    paper texture is made at full resolution.
    """
    h, w = img.shape[:2]
    sh, sw = max(2, h // 2), max(2, w // 2)
    small = resize_float(img, sw, sh, Image.Resampling.BOX)
    u = (np.arange(sw) - sw / 2) / sh
    v = np.arange(sh) / sh
    r = max(1, round(sh * 0.003))
    soft = box_blur(box_blur(small, r), r)
    bleed = noise.fbm2d("wc:bleed", (u + 2) * 12, v * 12, 3, extent=(50, 14))
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    shift = (bleed - 0.5) * sh * 0.012
    soft = gather(soft, yy + shift, xx - shift)
    soft = soft * 0.6 + (np.round(soft * 7) / 7) * 0.4  # pigment settles in a few values
    edge = np.abs(soft - glow_blur(soft, sh * 0.008)).sum(axis=2, keepdims=True)
    pigment = (1 - soft) * (1 + np.clip(edge * 3.0, 0, 0.6))
    blots = noise.fbm2d("wc:blot", (u + 2) * 3, v * 3, 3, extent=(14, 5))
    pigment *= (0.72 + 0.3 * blots)[..., None]
    pigment = resize_float(np.clip(pigment, 0, 1), w, h, Image.Resampling.BILINEAR)
    paper = np.random.default_rng(int.from_bytes(noise.digest[8:16], "little")).random(
        (h, w), dtype=np.float32
    )
    pigment *= (0.9 + 0.2 * box_blur(paper, 1))[..., None]
    return (1 - pigment * 0.88) * np.array([0.99, 0.97, 0.93], np.float32)


def _style_line_art(img: np.ndarray) -> np.ndarray:
    """Ink outlines from brightness edges, hatching in the shadows, a faint colour wash."""
    h, w = img.shape[:2]
    lum = box_blur(luma(img), max(1, round(h / 700)))
    gy, gx = np.gradient(lum)
    grad = np.hypot(gx, gy) * (h / 512)
    ink = smoothstep(0.012, 0.05, grad)
    yy, xx = np.mgrid[0:h, 0:w]
    spacing = max(4, round(h / 110))
    hatch = ((xx + yy) % spacing) < max(1, spacing // 4)
    cross = ((xx - yy) % spacing) < max(1, spacing // 4)
    dark = smoothstep(0.32, 0.12, lum)
    darker = smoothstep(0.22, 0.05, lum)
    shade = np.maximum(hatch * dark * 0.75, cross * darker * 0.8)
    lines = np.clip(np.maximum(ink, shade), 0, 1)[..., None]
    paper = np.array([0.97, 0.95, 0.9], np.float32)
    wash = paper + (img - paper) * 0.22
    return wash * (1 - lines) + np.array([0.1, 0.1, 0.14], np.float32) * lines


def style_pixel(img: np.ndarray) -> np.ndarray:
    """Downsample to chunky pixels, quantise to a small palette, scale back with hard edges."""
    h, w = img.shape[:2]
    block = max(2, round(max(h, w) / 160))
    small = to_image(img).resize((max(1, w // block), max(1, h // block)), Image.Resampling.BOX)
    small = small.quantize(colors=28, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    big = small.convert("RGB").resize((w, h), Image.Resampling.NEAREST)
    return np.asarray(big, np.float32) / 255


def style_grain(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Clumpy luminance grain strongest in the midtones, with slightly lifted, warm blacks."""
    h, w = img.shape[:2]
    n = rng.standard_normal((h, w), dtype=np.float32)
    n = 0.65 * n + 0.9 * box_blur(n, 1)
    lum = luma(img)
    amount = 0.055 * (0.35 + 2.6 * lum * (1 - lum))
    img = img + (n * amount)[..., None]
    return img * 0.95 + np.array([0.035, 0.028, 0.02], np.float32)


POST_STYLES = frozenset(
    {"low_poly", "oil_paint", "watercolour", "line_art", "pixel_art", "film_grain"}
)


def apply_styles(
    rgb: np.ndarray, scene: Scene, noise: Noise, *, only: frozenset[str] = POST_STYLES
) -> np.ndarray:
    """Post-process uint8 RGB with the scene's styles in a fixed, composable order.

    ``only`` limits which styles run (videos apply pixel art and grain per frame instead)."""
    styles = scene.styles & only
    if not styles:
        return rgb
    img = rgb.astype(np.float32) / 255
    if "low_poly" in styles:
        img = _style_low_poly(img, noise.rng("style:lowpoly"))
    if "oil_paint" in styles:
        img = _style_oil(img, noise)
    if "watercolour" in styles:
        img = _style_watercolour(img, noise)
    if "line_art" in styles:
        img = _style_line_art(img)
    if "pixel_art" in styles:
        img = style_pixel(img)
    if "film_grain" in styles:
        img = style_grain(img, noise.rng("style:grain"))
    return to_u8(img)
