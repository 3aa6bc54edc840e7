"""What runs inside the sandbox's child processes: untrusted bytes in, a clean copy out.

Called only through ``apps.media.uploads`` (which runs it in ``apps.media.sandbox``'s children
under CPU and memory limits); never import it to decode an upload in the web process.

Order of work, cheapest first, so most hostile files are refused before any decoder runs:

1. the structure is walked without decoding (PNG chunks, JPEG markers, GIF blocks, the RIFF
   and ISO boxes): a file that goes on after its format's end (a polyglot), lacks its end
   (truncated, or a PNG without IEND followed by another file) or whose JPEG has more than
   ``MAX_JPEG_SCANS`` scans (a "scan bomb": each empty progressive scan makes the decoder walk
   every block again) is refused here;
2. the header's size is checked against the pixel cap and against the memory its decoding needs
   (a progressive JPEG keeps every DCT coefficient; other formats hold the full-size picture);
3. JPEGs are decoded at a reduced scale (``Image.draft``: 1/2, 1/4 or 1/8 in the decoder
   itself) when the purpose needs fewer pixels; every picture is then reduced to ``max_side``
   before anything else touches it, and re-encoded as a PNG of its pixels alone.

Refusals raise ``Refused`` (an API error code and a sentence for the uploader); anything else a
decoder raises is turned into ``invalid`` by the caller.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # a child needs no BLAS threads

import io
import struct
import warnings

from PIL import Image

from apps.media import images

IMAGE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP", "image/gif": "GIF"}
# ISO base media brands that are MP4 video (not HEIF/AVIF pictures or QuickTime).
MP4_BRANDS = {
    b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ", b"dash",
}  # fmt: skip
# Encoders write about 10 scans for a progressive JPEG (libjpeg's default script), a few dozen
# at most for exotic ones; thousands are only ever an attack.
MAX_JPEG_SCANS = 100
# Bytes per pixel Pillow keeps in memory for a decoded picture of each mode.
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "LA": 4, "PA": 4}
# EXIF orientation → the transposition that turns the picture upright.
_ORIENT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class Refused(Exception):
    """The file breaks a rule: ``code`` is the API's error code, ``message`` for the uploader."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code, self.message = code, message


def sniff(head: bytes) -> str | None:
    """The type of a file from its first bytes, among the allowed ones; None otherwise."""
    if head.startswith(images.PNG_SIGNATURE):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in MP4_BRANDS:
        return "video/mp4"
    return None


_POLYGLOT = "The file holds more than one file's data."
_TRUNCATED = "The file is incomplete or damaged."


def _only_padding(rest: bytes) -> bool:
    return not rest.strip(b"\x00")


# --- structure walks (no decoding) -----------------------------------------------------------


def check_png(data: bytes) -> None:
    pos, n = len(images.PNG_SIGNATURE), len(data)
    while pos + 12 <= n:
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        pos += 12 + length
        if kind == b"IEND":
            if pos > n:
                break
            if not _only_padding(data[pos:]):
                raise Refused("unsupported_media_type", _POLYGLOT)
            return
    # No IEND: cut off, or a PNG whose end was replaced by another file.
    raise Refused("invalid", _TRUNCATED)


def check_jpeg(data: bytes) -> dict:
    """Walk the markers up to EOI; count scans and read the frame header. Entropy-coded data is
    skipped with ``bytes.find`` (0xFF00 is a stuffed byte, 0xFFD0-D7 restart markers)."""
    n, pos, scans, frame = len(data), 2, 0, None
    while True:
        if pos >= n:
            raise Refused("invalid", _TRUNCATED)
        if data[pos] != 0xFF:
            raise Refused("invalid", "The picture cannot be read.")
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            raise Refused("invalid", _TRUNCATED)
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            if not _only_padding(data[pos:]):
                raise Refused("unsupported_media_type", _POLYGLOT)
            if frame is None or not scans:
                raise Refused("invalid", "The picture cannot be read.")
            return {"scans": scans, **frame}
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue
        if marker == 0xD8:
            raise Refused("unsupported_media_type", _POLYGLOT)
        if pos + 2 > n:
            raise Refused("invalid", _TRUNCATED)
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > n:
            raise Refused("invalid", _TRUNCATED)
        segment = data[pos + 2 : pos + length]
        pos += length
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if frame is not None or len(segment) < 6:
                raise Refused("invalid", "The picture cannot be read.")
            height, width, ncomp = struct.unpack(">HHB", segment[1:6])
            comps = [
                (segment[7 + 3 * i] >> 4, segment[7 + 3 * i] & 15)
                for i in range(ncomp)
                if 8 + 3 * i < len(segment)
            ]
            frame = {
                "width": width,
                "height": height,
                "progressive": marker in (0xC2, 0xC6, 0xCA, 0xCE),
                "sampling": comps,
            }
        elif marker == 0xDA:
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise Refused("invalid", f"The picture has more than {MAX_JPEG_SCANS} scans.")
            while True:
                pos = data.find(b"\xff", pos)
                if pos == -1 or pos + 1 >= n:
                    raise Refused("invalid", _TRUNCATED)
                nxt = data[pos + 1]
                if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:
                    pos += 2
                    continue
                break


def check_gif(data: bytes) -> None:
    n = len(data)
    if n < 13:
        raise Refused("invalid", _TRUNCATED)
    pos = 13
    if data[10] & 0x80:
        pos += 3 * (2 << (data[10] & 7))

    def sub_blocks(p: int) -> int:
        while True:
            if p >= n:
                raise Refused("invalid", _TRUNCATED)
            size = data[p]
            p += 1
            if size == 0:
                return p
            p += size

    while pos < n:
        block = data[pos]
        pos += 1
        if block == 0x3B:  # trailer
            if not _only_padding(data[pos:]):
                raise Refused("unsupported_media_type", _POLYGLOT)
            return
        if block == 0x21:  # extension: label, then sub-blocks
            pos = sub_blocks(pos + 1)
        elif block == 0x2C:  # image: descriptor, local table, LZW code size, sub-blocks
            if pos + 9 > n:
                raise Refused("invalid", _TRUNCATED)
            flags = data[pos + 8]
            pos += 9
            if flags & 0x80:
                pos += 3 * (2 << (flags & 7))
            pos = sub_blocks(pos + 1)
        else:
            raise Refused("invalid", "The picture cannot be read.")
    raise Refused("invalid", _TRUNCATED)


def check_webp(data: bytes) -> None:
    (size,) = struct.unpack("<I", data[4:8])
    end = 8 + size + (size % 2)
    if 8 + size > len(data):
        raise Refused("invalid", _TRUNCATED)
    if not _only_padding(data[end:]) and 8 + size != len(data):
        raise Refused("unsupported_media_type", _POLYGLOT)


def check_mp4(data: bytes) -> None:
    pos, n = 0, len(data)
    while pos + 8 <= n:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1 and pos + 16 <= n:
            (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
        elif size == 0:
            size = n - pos
        if size < 8 or not kind.isascii():
            raise Refused("unsupported_media_type", _POLYGLOT)
        if pos + size > n:
            raise Refused("invalid", _TRUNCATED)
        pos += size
    if pos != n:
        raise Refused("unsupported_media_type", _POLYGLOT)


# --- pictures --------------------------------------------------------------------------------


def _upright(im: Image.Image) -> Image.Image:
    """Turned the way the camera was held. The EXIF orientation is read defensively: a tag of
    the wrong type, or EXIF that does not parse, counts as no orientation."""
    try:
        orientation = im.getexif().get(0x0112)
    except Exception:
        return im
    if isinstance(orientation, int) and orientation in _ORIENT:
        return im.transpose(_ORIENT[orientation])
    return im


def _jpeg_decode_bytes(frame: dict, scale: int) -> int:
    """Memory libjpeg needs: the full coefficient buffer for progressive files (2 bytes per
    coefficient, 64 per block, whatever the output scale), plus the output picture."""
    width, height = frame["width"], frame["height"]
    out = -(-width // scale) * -(-height // scale) * 4
    if not frame["progressive"]:
        return out
    hmax = max((h for h, _ in frame["sampling"]), default=1) or 1
    vmax = max((v for _, v in frame["sampling"]), default=1) or 1
    blocks = sum(
        -(-width * h // (8 * hmax)) * -(-height * v // (8 * vmax)) for h, v in frame["sampling"]
    )
    return blocks * 128 + out


def clean_image(
    data: bytes, *, mime: str, max_pixels: int, max_side: int, max_decode_bytes: int
) -> dict:
    """A lossless PNG of the picture's pixels (first frame), upright, at most ``max_side``."""
    frame = None
    if mime == "image/png":
        check_png(data)
    elif mime == "image/jpeg":
        frame = check_jpeg(data)
    elif mime == "image/gif":
        check_gif(data)
    elif mime == "image/webp":
        check_webp(data)
    too_many = Refused("payload_too_large", "The picture has too many pixels.")
    Image.MAX_IMAGE_PIXELS = max_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(io.BytesIO(data), formats=[IMAGE_FORMATS[mime]])
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
            raise too_many from e
        with im:
            width, height = im.size
            if not width or not height:
                raise Refused("invalid", "The picture cannot be read.")
            if width * height > max_pixels:
                raise too_many
            if frame is not None:
                scale = 1
                while scale < 8 and max(width, height) // (scale * 2) >= max_side:
                    scale *= 2
                if _jpeg_decode_bytes(frame, scale) > max_decode_bytes:
                    raise too_many
                if scale > 1:
                    im.draft(None, (-(-width // scale), -(-height // scale)))
            elif width * height * _MODE_BYTES.get(im.mode, 4) > max_decode_bytes:
                raise too_many
            im.load()
            upright = _upright(im)
            if max(upright.size) > max_side:
                upright.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3)
            still = images.clean_copy(upright)
    with still:
        clean = images.png_bytes_of(still)
        return {
            "data": clean,
            "mime": "image/png",
            "width": still.width,
            "height": still.height,
            "phash": images.perceptual_hash(still),
            "placeholder": images.dominant_colour(still),
        }


# --- clips -----------------------------------------------------------------------------------


def clean_video(data: bytes, *, max_side: int, max_duration_s: float) -> dict:
    """The clip re-muxed without metadata, checked before and after (the limits hold for what is
    stored: a last sample an hour long behind a short edit list is refused)."""
    from apps.media import video

    check_mp4(data)
    limits = video.ProbeLimits(max_side=max_side, max_duration_s=max_duration_s)
    try:
        video.probe_untrusted(data, limits)
        clean = video.remux_clean(data)
        info = video.probe_untrusted(clean, limits)
        # The frame media.services takes for a clip's facts, so hashes compare.
        still = video.frame_untrusted(clean, min(1.0, info.duration_s / 2))
    except video.ProbeRefused as e:
        raise Refused("invalid", str(e)) from e
    with Image.fromarray(still) as im:
        phash, placeholder = images.perceptual_hash(im), images.dominant_colour(im)
    return {
        "data": clean,
        "mime": "video/mp4",
        "width": info.width,
        "height": info.height,
        "duration_s": info.duration_s,
        "fps": info.fps,
        "phash": phash,
        "placeholder": placeholder,
    }
