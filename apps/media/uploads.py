"""The one entry point for untrusted files (avatars now; provenance checks and others later).

What a file is comes from its bytes, never from its name or the client's Content-Type. Only
PNG, JPEG, WebP, GIF and MP4 pass, within a size cap, a pixel cap (Pillow's decompression-bomb
warning counts as a refusal) and a processing time limit. A file with bytes after its image's
end (a polyglot: a picture that is also an archive, a page or a script) is refused.

Nothing an uploader sent is stored as it came: images are decoded and kept as a lossless PNG of
their pixels (no EXIF, XMP, GPS or text can survive), and clips are probed with strict limits and
re-muxed without metadata. Refusals raise ``ApplicationError`` (413, 415 or 400) before anything
is written, so they leave no file or row behind.
"""

from __future__ import annotations

import concurrent.futures
import functools
import io
import struct
import time
import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps

from apps.core.exceptions import ApplicationError
from apps.media import images

ALLOWED = ("image/png", "image/jpeg", "image/webp", "image/gif", "video/mp4")
IMAGE_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP", "image/gif": "GIF"}
# ISO base media brands that are MP4 video (not HEIF/AVIF pictures or QuickTime).
MP4_BRANDS = {
    b"isom",
    b"iso2",
    b"iso4",
    b"iso5",
    b"iso6",
    b"mp41",
    b"mp42",
    b"avc1",
    b"M4V ",
    b"dash",
}


@dataclass(frozen=True)
class CleanFile:
    """An untrusted file made safe: the bytes to store and what they are."""

    data: bytes
    mime: str  # image/png for every picture, video/mp4 for clips
    width: int
    height: int
    duration_s: float | None = None
    fps: float | None = None
    source_mime: str = ""  # what the upload was


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


def _refuse(code: str, message: str) -> ApplicationError:
    return ApplicationError(code, message, fields={"file": [message]})


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise _refuse("invalid", "The file took too long to process.")


def upload_clean(
    data: bytes,
    *,
    allowed: tuple[str, ...] = ALLOWED,
    max_bytes: int | None = None,
    max_pixels: int | None = None,
    time_limit_s: float | None = None,
) -> CleanFile:
    """Check an uploaded file and return a clean copy to store, or raise ApplicationError."""
    max_bytes = max_bytes or settings.MEDIA_UPLOAD_MAX_BYTES
    max_pixels = max_pixels or settings.MEDIA_UPLOAD_MAX_PIXELS
    deadline = _Deadline(time_limit_s or settings.MEDIA_UPLOAD_TIME_LIMIT_S)
    if len(data) > max_bytes:
        raise _refuse("payload_too_large", f"The file is larger than {max_bytes // 1024} KiB.")
    if not data:
        raise _refuse("invalid", "The file is empty.")
    mime = sniff(data[:64])
    if mime is None or mime not in allowed:
        names = ", ".join(m.split("/")[1].upper() for m in allowed)
        raise _refuse("unsupported_media_type", f"Upload one of: {names}.")
    if mime == "video/mp4":
        work = functools.partial(_clean_video, data, deadline)
    else:
        work = functools.partial(_clean_image, data, mime, max_pixels, deadline)
    # The work runs on a small pool so the request gives up at the deadline even when a decoder
    # call runs long (the caps bound how long that call can take; its result is then dropped,
    # and nothing was stored). A busy pool makes later uploads wait, within their own limit.
    future = _POOL.submit(work)
    try:
        return future.result(timeout=max(0.0, deadline.end - time.monotonic()))
    except concurrent.futures.TimeoutError as e:
        future.cancel()
        raise _refuse("invalid", "The file took too long to process.") from e


_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="upload-clean")


def _clean_image(data: bytes, mime: str, max_pixels: int, deadline: _Deadline) -> CleanFile:
    if _trailing_bytes(data, mime):
        raise _refuse("unsupported_media_type", "The file holds more than one picture's data.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[IMAGE_FORMATS[mime]]) as im:
                if im.width * im.height > max_pixels:
                    raise _refuse("payload_too_large", "The picture has too many pixels.")
                deadline.check()
                im.seek(0)  # the first frame of an animation
                im.load()
                deadline.check()
                upright = ImageOps.exif_transpose(im)  # the way the camera held it
                clean = images.png_bytes_of(upright)
                width, height = upright.size
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
            raise _refuse("payload_too_large", "The picture has too many pixels.") from e
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
            raise _refuse("invalid", "The picture cannot be read.") from e
    deadline.check()
    return CleanFile(clean, "image/png", width, height, source_mime=mime)


def _clean_video(data: bytes, deadline: _Deadline) -> CleanFile:
    from apps.media import video

    if _trailing_bytes(data, "video/mp4"):
        raise _refuse("unsupported_media_type", "The file holds more than one file's data.")
    try:
        info = video.probe_untrusted(data)
        deadline.check()
        clean = video.remux_clean(data)
    except video.ProbeRefused as e:
        raise _refuse("invalid", str(e)) from e
    deadline.check()
    return CleanFile(
        clean,
        "video/mp4",
        info.width,
        info.height,
        duration_s=info.duration_s,
        fps=info.fps,
        source_mime="video/mp4",
    )


def _trailing_bytes(data: bytes, mime: str) -> bool:
    """True when the bytes go on past where the format says the file ends."""
    if mime == "image/png":
        pos = len(images.PNG_SIGNATURE)
        while pos + 8 <= len(data):
            (length,) = struct.unpack(">I", data[pos : pos + 4])
            kind = data[pos + 4 : pos + 8]
            pos += 12 + length
            if kind == b"IEND":
                return pos != len(data)
        return False  # no end found: broken, and decoding will say so
    if mime == "image/webp":
        (size,) = struct.unpack("<I", data[4:8])
        return size + 8 + (size % 2) != len(data) and size + 8 != len(data)
    if mime == "image/gif":
        return not data.rstrip(b"\x00").endswith(b"\x3b")
    if mime == "image/jpeg":
        end = data.rfind(b"\xff\xd9")
        return end == -1 or len(data[end + 2 :].strip(b"\x00")) > 0
    if mime == "video/mp4":
        pos = 0
        while pos + 8 <= len(data):
            size, kind = struct.unpack(">I4s", data[pos : pos + 8])
            if size == 1 and pos + 16 <= len(data):
                (size,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            elif size == 0:
                size = len(data) - pos
            if size < 8 or not kind.isascii():
                return True
            pos += size
        return pos != len(data)
    return False
