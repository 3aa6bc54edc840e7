"""Image processing: metadata stripping, perceptual hashing, placeholders and variant encoding.

Variants are encoded from the full-resolution original with one Lanczos downscale (no lossy
intermediate) and saved as WebP and AVIF with no metadata at all. Quality settings were chosen with
``tests/bench/media.py``: luma SSIM against a high-quality downscale of about 0.97 or more, at about
half the bytes of a plain JPEG q75 of the same size. A sharpening pass was measured and dropped:
Lanczos is already crisp, and sharpening only moved the result away from the reference.
"""

from __future__ import annotations

import hashlib
import io
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
class Encoding:
    """How one variant file is written: the format and its encoder settings."""

    format: str  # "WEBP" or "AVIF"
    mime: str
    ext: str
    options: tuple[tuple[str, object], ...]

    def save(self, im: Image.Image) -> bytes:
        out = io.BytesIO()
        im.save(out, self.format, **dict(self.options))
        return out.getvalue()


WEBP = Encoding("WEBP", "image/webp", "webp", (("quality", 80), ("method", 5)))
# AVIF: speed 7 is close to the default 6 in size and quality and noticeably faster.
AVIF = Encoding(
    "AVIF", "image/avif", "avif", (("quality", 60), ("speed", 7), ("subsampling", "4:2:0"))
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
