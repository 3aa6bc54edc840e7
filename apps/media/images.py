"""Image processing: metadata stripping, perceptual hashing, placeholders and variant encoding.

Variants are encoded from the full-resolution original with one Lanczos downscale (no lossy
intermediate) and saved as WebP and AVIF with no metadata at all. Thumbs use fixed settings.
Previews and posters get a quality per picture (``Fit``): the lowest whose luma SSIM against the
downscale reaches 0.971, found in a few encodes, so smooth pictures cost fewer bytes and detailed
ones keep their detail (``tests/bench/media.py`` measures both against a plain JPEG q75). WebP
searches both ways; AVIF keeps its fixed quality unless a picture falls short. Measured and left
out: an AVIF search both ways (probing at speed 9, then encoding at 7: about a quarter fewer
bytes, but another half second per variant set), a sharpening pass (Lanczos is already crisp;
sharpening only moved the result away from the reference), AVIF 4:4:4 (the same luma SSIM for
about 6 % more bytes) and WebP method 6 (no fewer bytes at a given SSIM, about 20 % slower).
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image

# Chunks kept when a PNG is served: what is needed to draw the pixels right, animation, and C2PA
# content credentials (``caBX``). Everything else (tEXt, zTXt, iTXt with XMP, eXIf, tIME, ...)
# is dropped. Pixel data (IDAT) is copied byte for byte: stripping never re-encodes.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_KEEP = {
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT",
    b"acTL", b"fcTL", b"fdAT", b"caBX",
}  # fmt: skip


@dataclass(frozen=True)
class Fit:
    """Quality chosen per picture: the lowest quality from ``lowest`` to ``highest`` whose luma
    SSIM against the picture it encodes reaches ``ssim``, found in at most ``probes`` encodes.

    The search starts at ``start`` and moves by the slope measured so far (``slope``, SSIM per
    quality step, before there are two points), then interpolates once the target is bracketed.
    When no quality reaches the target, the highest tried is used. The result is one of the
    encodes measured, and everything depends on the pixels alone, so the same picture always
    gets the same bytes.
    """

    ssim: float
    lowest: int
    highest: int
    start: int
    probes: int = 3
    slope: float = 0.001

    def search(self, measure) -> int:
        """The quality to use; ``measure(quality)`` encodes and returns the SSIM."""
        scores: dict[int, float] = {}
        q = self.start
        for _ in range(self.probes):
            scores[q] = measure(q)
            passing = [k for k, s in scores.items() if s >= self.ssim]
            failing = [k for k, s in scores.items() if s < self.ssim]
            hi = min(passing) if passing else None
            lo = max(failing) if failing else None
            if hi is not None and lo is not None:
                if hi - lo <= 1:
                    break
                share = (self.ssim - scores[lo]) / max(scores[hi] - scores[lo], 1e-9)
                q = min(max(lo + math.ceil(share * (hi - lo)), lo + 1), hi - 1)
            elif hi is not None:
                if hi <= self.lowest:
                    break
                q = max(self.lowest, hi - self._steps(scores, scores[hi] - self.ssim))
            else:
                if lo >= self.highest:
                    break
                q = min(self.highest, lo + self._steps(scores, self.ssim - scores[lo]))
        passing = [k for k, s in scores.items() if s >= self.ssim]
        return min(passing) if passing else max(scores)

    def _steps(self, scores: dict[int, float], gap: float) -> int:
        """Quality steps expected to cover an SSIM gap: from the last two points when they
        differ, else from ``slope``."""
        slope = self.slope
        if len(scores) >= 2:
            (q0, s0), (q1, s1) = list(scores.items())[-2:]
            if q1 != q0 and (s1 - s0) / (q1 - q0) > 0:
                slope = (s1 - s0) / (q1 - q0)
        return max(1, math.ceil(gap / slope))


@dataclass(frozen=True)
class Encoding:
    """How one variant file is written: the format and its encoder settings (``quality`` in
    ``options`` is used as it is unless ``fit`` chooses it per picture)."""

    format: str  # "WEBP" or "AVIF"
    mime: str
    ext: str
    options: tuple[tuple[str, object], ...]
    fit: Fit | None = None

    def save(self, im: Image.Image) -> bytes:
        if self.fit is None:
            return self.encode(im)
        if min(im.size) < SsimReference.WINDOW:  # too small to measure: the search's start
            return self.encode(im, quality=self.fit.start)
        return self._save_fitted(im, self.fit)

    def encode(self, im: Image.Image, **overrides: object) -> bytes:
        out = io.BytesIO()
        im.save(out, self.format, **(dict(self.options) | overrides))
        return out.getvalue()

    def _save_fitted(self, im: Image.Image, fit: Fit) -> bytes:
        reference = SsimReference(luma(im))
        made: dict[int, bytes] = {}

        def measure(quality: int) -> float:
            made[quality] = self.encode(im, quality=quality)
            with Image.open(io.BytesIO(made[quality])) as decoded:
                return reference.ssim(luma(decoded))

        return made[fit.search(measure)]


def luma(im: Image.Image) -> np.ndarray:
    """Luma as SSIM is measured on (ITU-R 601, as Pillow's ``L``; transparency ignored)."""
    rgb = im if im.mode == "RGB" else im.convert("RGB")
    return np.asarray(rgb.convert("L"), dtype=np.float32)


def _box7(a: np.ndarray) -> np.ndarray:
    """Means over every whole 7x7 window (float32, seven shifted adds per axis)."""
    rows = a[:, : a.shape[1] - 6].copy()
    for k in range(1, 7):
        rows += a[:, k : a.shape[1] - 6 + k]
    out = rows[: rows.shape[0] - 6].copy()
    for k in range(1, 7):
        out += rows[k : rows.shape[0] - 6 + k]
    out *= np.float32(1 / 49)
    return out


class SsimReference:
    """Mean SSIM against one luma image, defined as scikit-image's ``structural_similarity``
    computes it by default (7x7 uniform windows, sample covariances, K1 0.01, K2 0.03, range
    255, the 3-pixel border left out) and equal to it within 1e-5. Written here with numpy so
    the reference's statistics are computed once for all the encodes a search compares, which
    halves the cost of each comparison (and keeps scikit-image and SciPy out of the workers)."""

    WINDOW = 7
    C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    COV = 49 / 48  # sample rather than population (co)variances

    def __init__(self, reference: np.ndarray):
        if min(reference.shape) < self.WINDOW:
            raise ValueError("SSIM needs at least 7x7 pixels")
        self.x = reference.astype(np.float32)
        self.ux = _box7(self.x)
        self.vx = _box7(self.x * self.x) - self.ux * self.ux

    def ssim(self, other: np.ndarray) -> float:
        y = other.astype(np.float32)
        uy = _box7(y)
        vy = _box7(y * y) - uy * uy
        vxy = _box7(self.x * y) - self.ux * uy
        num = (2 * self.ux * uy + self.C1) * (2 * self.COV * vxy + self.C2)
        den = (self.ux * self.ux + uy * uy + self.C1) * (self.COV * (self.vx + vy) + self.C2)
        return float((num / den).mean(dtype=np.float64))


WEBP = Encoding("WEBP", "image/webp", "webp", (("quality", 80), ("method", 5)))
# AVIF: speed 7 is close to the default 6 in size and quality and noticeably faster.
AVIF = Encoding(
    "AVIF", "image/avif", "avif", (("quality", 60), ("speed", 7), ("subsampling", "4:2:0"))
)
# Previews and posters: the quality that reaches the SSIM target on this picture. WebP searches
# both ways from its old fixed quality (80 often spent more bytes than needed, and too few on fine
# texture); the slope before two points is the typical one measured below q76 (``slope``). AVIF's
# fixed quality 60 reaches the target on most pictures at about half a JPEG's bytes, and each
# extra AVIF encode costs as much as all the rest of a variant set, so it is only checked, and
# raised for the pictures that fall short.
FIT_SSIM = 0.971
WEBP_FITTED = Encoding(
    "WEBP",
    "image/webp",
    "webp",
    WEBP.options,
    Fit(FIT_SSIM, 50, 85, start=76, probes=4, slope=0.0003),
)
AVIF_FITTED = Encoding(
    "AVIF", "image/avif", "avif", AVIF.options, Fit(FIT_SSIM, 60, 66, start=60, probes=2)
)


def png_strip(data: bytes) -> bytes:
    """The PNG without metadata chunks; the same bytes when there were none."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    out = [PNG_SIGNATURE]
    pos, dropped = len(PNG_SIGNATURE), False
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise ValueError("truncated PNG chunk")
        if kind in PNG_KEEP:
            out.append(data[pos:end])
        else:
            dropped = True
        pos = end
        if kind == b"IEND":
            break
    if pos != len(data):
        dropped = True  # trailing bytes after IEND are not part of the image
    return b"".join(out) if dropped else data


def png_chunks(data: bytes) -> list[bytes]:
    """The chunk types of a PNG in order (for checks and tests)."""
    kinds, pos = [], len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kinds.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return kinds


def clean_copy(im: Image.Image) -> Image.Image:
    """An RGB(A) copy with no attached metadata, so nothing can leak into an encoded file."""
    mode = "RGBA" if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info else "RGB"
    copy = im.convert(mode)
    copy.info = {}
    return copy


def resize_longest(im: Image.Image, longest: int) -> Image.Image:
    """Downscale so the longest side is ``longest`` (never upscale)."""
    w, h = im.size
    scale = longest / max(w, h)
    if scale >= 1:
        out = im.copy()
    else:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        out = im.resize(size, Image.Resampling.LANCZOS)
    out.info = {}
    return out


def dominant_colour(im: Image.Image) -> str:
    r, g, b = im.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))[:3]
    return f"#{r:02x}{g:02x}{b:02x}"


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)
    m = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * np.sqrt(2 / n)
    m[0] /= np.sqrt(2)
    return m


_DCT32 = _dct_matrix(32)


def perceptual_hash(im: Image.Image) -> str:
    """A 64-bit DCT perceptual hash as 16 hex digits: near-identical pictures differ in few bits.

    The 8x8 lowest frequencies of a 32x32 greyscale DCT, each bit set when above their median.
    """
    grey = np.asarray(im.convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    low = (_DCT32 @ grey @ _DCT32.T)[:8, :8].flatten()
    bits = low > np.median(low[1:])
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def encoding_tag(*parts: object) -> str:
    """A short fingerprint of the settings a variant was made with; it goes into the file name,
    so changed settings give new files (and new URLs that caches have never seen)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:8]


def png_bytes_of(im: Image.Image) -> bytes:
    """A lossless PNG of the pixels alone (for originals rebuilt from untrusted uploads)."""
    out = io.BytesIO()
    clean_copy(im).save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue()
