"""Small colour and array helpers shared by the painters, the grading and the video compositor."""

from __future__ import annotations

import numpy as np
from PIL import Image

RGB = tuple[float, float, float]


def hex_rgb(code: str) -> RGB:
    code = code.lstrip("#")
    return (int(code[0:2], 16) / 255, int(code[2:4], 16) / 255, int(code[4:6], 16) / 255)


LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)


def as_rgb(rgb: RGB | str) -> np.ndarray:
    return np.array(hex_rgb(rgb) if isinstance(rgb, str) else rgb, np.float32)


def mix_rgb(a: RGB, b: RGB, t: float) -> RGB:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t)


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def luma(img: np.ndarray) -> np.ndarray:
    return img @ LUMA_WEIGHTS


def box_blur(a: np.ndarray, r: int, axes: tuple[int, ...] = (0, 1)) -> np.ndarray:
    """Mean filter of radius ``r`` along ``axes``, edges clamped.

    Small radii sum shifted views (cheap, cache-friendly); large ones use a running sum, whose
    cost does not grow with the radius.
    """
    if r < 1:
        return a
    for axis in axes:
        n = a.shape[axis]
        pad = [(0, 0)] * a.ndim
        pad[axis] = (r + 1, r)
        padded = np.pad(a, pad, mode="edge")

        def window(start: int, src: np.ndarray, axis: int = axis, n: int = n) -> np.ndarray:
            index = [slice(None)] * src.ndim
            index[axis] = slice(start, start + n)
            return src[tuple(index)]

        if r <= 4:
            acc = window(1, padded).astype(np.float32, copy=True)
            for k in range(2, 2 * r + 2):
                acc += window(k, padded)
        else:
            cs = np.cumsum(padded, axis=axis, dtype=np.float32)
            acc = window(2 * r + 1, cs) - window(0, cs)
        a = acc / (2 * r + 1)
    return a


def glow_blur(img: np.ndarray, radius: float) -> np.ndarray:
    """A wide soft blur for glows: shrink, box-blur, grow back bilinearly."""
    h, w = img.shape[:2]
    factor = max(1, int(radius / 2))
    sw, sh = max(2, w // factor), max(2, h // factor)
    chans = img if img.ndim == 3 else img[..., None]
    out = np.empty(chans.shape, np.float32)
    for ch in range(chans.shape[2]):
        small = Image.fromarray(np.ascontiguousarray(chans[..., ch], np.float32))
        small = small.resize((sw, sh), Image.Resampling.BOX)
        arr = box_blur(np.asarray(small, np.float32), 2)
        big = Image.fromarray(np.ascontiguousarray(arr)).resize((w, h), Image.Resampling.BILINEAR)
        out[..., ch] = np.asarray(big, np.float32)
    return out if img.ndim == 3 else out[..., 0]


def gather(img: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Sample ``img`` at rounded, clamped pixel coordinates (displacement effects).

    Flat indices with ``np.take`` are several times faster than two-array fancy indexing.
    """
    return np.take(flat_pixels(img), flat_index(img.shape[:2], ys, xs), axis=0)


def flat_index(shape: tuple[int, ...], ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    h, w = shape[0], shape[1]
    # clamp first, then +0.5 and truncate: rounding without a separate rint pass
    yi = (np.clip(ys, 0, h - 1) + 0.5).astype(np.intp)
    xi = (np.clip(xs, 0, w - 1) + 0.5).astype(np.intp)
    return yi * w + xi


def flat_pixels(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return img.reshape(h * w, -1) if img.ndim == 3 else img.reshape(h * w)


def to_u8(img: np.ndarray) -> np.ndarray:
    return (np.clip(img, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def to_image(img: np.ndarray) -> Image.Image:
    return Image.fromarray(to_u8(img) if img.dtype != np.uint8 else img)


def resize_float(
    img: np.ndarray, width: int, height: int, resample: Image.Resampling
) -> np.ndarray:
    """Resize a float RGB image in [0, 1] through 8-bit Pillow (ample for soft effects)."""
    resized = to_image(img).resize((width, height), resample)
    return np.asarray(resized, np.float32) / 255
