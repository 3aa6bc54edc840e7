"""The pixel work of the clip editor: trim, stitch and upscale, as pure functions.

Nothing here touches models or the database. Every function takes file bytes and returns a
``GeneratedFile``; the video ones stream frames from the decoder straight into the encoder (never a
whole clip in memory) and call ``on_progress(fraction)`` once per output frame. ``on_progress`` may
raise ``GenerationCanceled``, which propagates untouched.

Output clips are what every Vivid clip is: H.264 yuv420p MP4 at 24 fps (``apps.media.video``).
Time is resampled onto the 24 fps grid by timestamp: output frame ``k`` shows the source frame
whose presentation time is nearest to ``k / 24`` s, so 24 fps sources keep every frame and other
rates are converted without drift.

The ``check_*`` and ``validate_*`` helpers are cheap (they read headers, decode at most one frame)
so the service layer can refuse a bad request with a 400 before anything is queued or charged. The
edit functions run the same checks again, so they are safe to call on their own.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from PIL import Image, ImageFilter

from apps.generation.backends.base import BackendError, GeneratedFile, ProgressCallback
from apps.media.video import CRF, FPS, VideoInfo, encode, probe

MIN_STITCH_CLIPS = 2
MAX_STITCH_CLIPS = 8
# Video renditions by their short side; an upscale goes to the next one up.
VIDEO_RENDITIONS = (480, 720, 1080)
MAX_VIDEO_LONG_SIDE = 4096
# Images are upscaled exactly 2x, so only images up to half the cap on their long side qualify.
MAX_IMAGE_LONG_SIDE = 4096
MAX_IMAGE_UPSCALE_SOURCE = MAX_IMAGE_LONG_SIDE // 2
# Containers accepted as clips (FFmpeg demuxer names). Image files open in FFmpeg too (as
# ``png_pipe`` and friends), so this is an allow-list, not a deny-list.
VIDEO_FORMATS = frozenset({"mov", "mp4", "matroska", "webm"})
# Lanczos through swscale: as sharp as Pillow's Lanczos (within ~57 dB PSNR of it) and 3-10x
# faster, because it scales and converts YUV to RGB in one pass.
INTERPOLATION = "LANCZOS"
# Applied after the 2x Lanczos of an image: restores edge contrast without halos on flat areas.
UNSHARP = {"radius": 1.6, "percent": 70, "threshold": 2}
# The share of progress reported while frames go in; the rest arrives when the encoder has flushed
# its look-ahead and the file is complete.
_ENCODE_SHARE = 0.98
_EPS = 1e-6


class EditError(ValueError):
    """An edit request the clip cannot satisfy; ``field`` names the request field at fault and
    ``message`` is a sentence for the creator (the service layer turns it into a 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str  # Pillow's name: "PNG", "JPEG", "WEBP", ...


# --- checks the service layer calls before queuing ---


def check_quality(quality: str) -> None:
    if quality not in CRF:
        raise EditError("quality", f"Quality must be one of: {', '.join(CRF)}.")


def check_video(data: bytes, *, field: str = "asset", label: str = "This file") -> VideoInfo:
    """What a clip is, or ``EditError(field)`` when the bytes are not a playable video clip.

    Reads the container header and decodes one frame (a few milliseconds), so an unsupported
    codec is refused here rather than halfway through a job.
    """
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            names = set((container.format.name or "").split(","))
            if not names & VIDEO_FORMATS or not container.streams.video:
                raise EditError(field, f"{label} is not a video clip.")
            stream = container.streams.video[0]
            if next(container.decode(stream), None) is None:
                raise EditError(field, f"{label} has no video frames.")
        info = probe(data)
    except av.FFmpegError as exc:
        raise EditError(field, f"{label} is not a video clip Vivid can read.") from exc
    if info.width < 2 or info.height < 2 or info.duration_s <= 0:
        raise EditError(field, f"{label} has no video frames.")
    return info


def check_image(data: bytes, *, field: str = "asset") -> ImageInfo:
    """An image's size and format, or ``EditError(field)`` when the bytes are not an image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                return ImageInfo(width=im.width, height=im.height, format=im.format or "")
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise EditError(field, "This image is too large to edit.") from exc
    except (OSError, SyntaxError, ValueError) as exc:  # UnidentifiedImageError is an OSError
        raise EditError(field, "This file is not an image.") from exc


def validate_trim(info: VideoInfo, start_s: float, end_s: float) -> tuple[int, int]:
    """The output frames ``[first, stop)`` on the 24 fps grid for a trim of ``info``'s clip.

    Both ends snap to the nearest 1/24 s, so the result lasts ``end_s - start_s`` within half a
    frame. ``end_s`` may reach the clip's end (its full duration), not beyond.
    """
    for name, value in (("start_s", start_s), ("end_s", end_s)):
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise EditError(name, "Must be a number of seconds.")
    if start_s < 0:
        raise EditError("start_s", "The start cannot be before the beginning of the clip.")
    if start_s >= info.duration_s:
        raise EditError(
            "start_s", f"The start must be before the clip's end ({info.duration_s:g} s)."
        )
    if end_s <= start_s:
        raise EditError("end_s", "The end must be after the start.")
    if end_s > info.duration_s + 0.5 / FPS:
        raise EditError("end_s", f"The end is past the clip's end ({info.duration_s:g} s).")
    total = _grid_frames(info)
    first, stop = round(start_s * FPS), min(round(end_s * FPS), total)
    if stop - first < 1:
        raise EditError("end_s", f"The trimmed clip must be at least one frame (1/{FPS} s) long.")
    return first, stop


def validate_stitch_count(count: int) -> None:
    if not MIN_STITCH_CLIPS <= count <= MAX_STITCH_CLIPS:
        raise EditError(
            "assets", f"Stitch between {MIN_STITCH_CLIPS} and {MAX_STITCH_CLIPS} clips."
        )


def validate_stitch(infos: Sequence[VideoInfo]) -> tuple[int, int]:
    """The stitched clip's size (the first clip's, made even) for clips already checked."""
    validate_stitch_count(len(infos))
    return _even(infos[0].width), _even(infos[0].height)


def validate_upscale_video(info: VideoInfo) -> tuple[int, int]:
    """The size an upscale makes: the next rendition above the short side (480, 720, 1080), the
    long side scaled to match and made even. ``EditError`` when the clip is already 1080p."""
    short, long_ = min(info.width, info.height), max(info.width, info.height)
    target = next((side for side in VIDEO_RENDITIONS if side > short), None)
    if target is None:
        raise EditError(
            "asset", f"This clip is already {short}p; clips upscale up to {VIDEO_RENDITIONS[-1]}p."
        )
    new_long = _even(round(long_ * target / short / 2) * 2)
    if new_long > MAX_VIDEO_LONG_SIDE:
        raise EditError("asset", "This clip's shape is too wide or tall to upscale.")
    return (new_long, target) if info.width >= info.height else (target, new_long)


def validate_upscale_image(info: ImageInfo) -> tuple[int, int]:
    """2x the image; ``EditError`` when its long side is over 2048 (the result would pass 4096)."""
    if max(info.width, info.height) > MAX_IMAGE_UPSCALE_SOURCE:
        raise EditError(
            "asset",
            f"Images up to {MAX_IMAGE_UPSCALE_SOURCE} px on the long side can be upscaled; "
            f"this one is {info.width}x{info.height}.",
        )
    return info.width * 2, info.height * 2


# --- the edits ---


def trim(
    data: bytes,
    *,
    start_s: float,
    end_s: float,
    quality: str = "final",
    on_progress: ProgressCallback,
) -> GeneratedFile:
    """The part of the clip from ``start_s`` to ``end_s``, frame-accurate (re-encoded)."""
    check_quality(quality)
    info = check_video(data)
    first, stop = validate_trim(info, start_s, end_s)
    width, height = _even(info.width), _even(info.height)
    out = _render([(data, first, stop)], width, height, quality, on_progress)
    n = stop - first
    return GeneratedFile(
        data=out,
        mime="video/mp4",
        width=width,
        height=height,
        duration_s=n / FPS,
        extra={
            "edit": "trim",
            "start_s": first / FPS,
            "end_s": stop / FPS,
            "frames": n,
            "source": _describe(info),
        },
    )


def stitch(
    clips: list[bytes], *, quality: str = "final", on_progress: ProgressCallback
) -> GeneratedFile:
    """The clips one after another, at the first clip's size (others fitted inside it with black
    bars, aspect ratio kept) and 24 fps. Audio, if any, is dropped."""
    check_quality(quality)
    validate_stitch_count(len(clips))
    infos = [check_video(c, field="assets", label=f"Clip {i + 1}") for i, c in enumerate(clips)]
    width, height = validate_stitch(infos)
    segments = [(c, 0, _grid_frames(info)) for c, info in zip(clips, infos, strict=True)]
    out = _render(segments, width, height, quality, on_progress)
    n = sum(stop - first for _, first, stop in segments)
    return GeneratedFile(
        data=out,
        mime="video/mp4",
        width=width,
        height=height,
        duration_s=n / FPS,
        extra={"edit": "stitch", "frames": n, "sources": [_describe(i) for i in infos]},
    )


def upscale_video(
    data: bytes, *, quality: str = "final", on_progress: ProgressCallback
) -> GeneratedFile:
    """The clip at the next rendition (480p, 720p or 1080p by its short side), Lanczos-scaled."""
    check_quality(quality)
    info = check_video(data)
    width, height = validate_upscale_video(info)
    n = _grid_frames(info)
    out = _render([(data, 0, n)], width, height, quality, on_progress)
    return GeneratedFile(
        data=out,
        mime="video/mp4",
        width=width,
        height=height,
        duration_s=n / FPS,
        extra={"edit": "upscale", "frames": n, "source": _describe(info)},
    )


def upscale_image(data: bytes, *, on_progress: ProgressCallback | None = None) -> GeneratedFile:
    """The image at 2x (Lanczos, then an unsharp mask), as PNG. Transparency and the colour
    profile are kept; an animated image gives its first frame."""
    info = check_image(data)
    width, height = validate_upscale_image(info)
    progress = on_progress or (lambda fraction: None)
    progress(0.0)
    try:
        with Image.open(io.BytesIO(data)) as im:
            icc = im.info.get("icc_profile")
            im.seek(0)
            has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
            src = im.convert("RGBA" if has_alpha else "RGB")
    except (OSError, SyntaxError, ValueError) as exc:
        raise EditError("asset", "This image could not be read.") from exc
    # Pillow resizes RGBA with premultiplied alpha, so transparent pixels do not bleed colour.
    big = src.resize((width, height), Image.Resampling.LANCZOS)
    progress(0.5)
    sharpen = ImageFilter.UnsharpMask(**UNSHARP)
    if has_alpha:
        *rgb, alpha = big.split()
        big = Image.merge("RGB", rgb).filter(sharpen)
        big.putalpha(alpha)
    else:
        big = big.filter(sharpen)
    out = io.BytesIO()
    big.save(out, "PNG", **({"icc_profile": icc} if icc else {}))
    progress(1.0)
    return GeneratedFile(
        data=out.getvalue(),
        mime="image/png",
        width=width,
        height=height,
        extra={"edit": "upscale", "source": {"width": info.width, "height": info.height}},
    )


# --- streaming machinery ---


def _even(n: int) -> int:
    return max(2, n // 2 * 2)


def _grid_frames(info: VideoInfo) -> int:
    """How many 24 fps frames a clip fills (at least one)."""
    return max(1, round(info.duration_s * FPS))


def _describe(info: VideoInfo) -> dict[str, Any]:
    return {
        "width": info.width,
        "height": info.height,
        "duration_s": info.duration_s,
        "fps": round(info.fps, 3),
    }


def _decoded(data: bytes, *, from_s: float = 0.0) -> Iterator[tuple[float, av.VideoFrame]]:
    """(time from the clip's start, frame) in presentation order, from the keyframe at or before
    ``from_s``. Frames stay in the decoder's pixel format until something needs them."""
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        tb = stream.time_base
        origin = stream.start_time or 0
        rate = float(stream.average_rate or stream.guessed_rate or FPS)
        if from_s > 0 and tb is not None:
            container.seek(origin + int(from_s / tb), stream=stream, backward=True)
        for i, frame in enumerate(container.decode(stream)):
            if frame.pts is not None and tb is not None:
                yield float((frame.pts - origin) * tb), frame
            else:
                yield from_s + i / rate, frame


def _resampled(
    frames: Iterator[tuple[float, av.VideoFrame]], times: Iterable[float]
) -> Iterator[av.VideoFrame]:
    """For each time, the source frame nearest to it (the earlier on a tie); the last frame is
    held if the source ends early. Consumes ``frames`` lazily: two frames in memory at a time."""
    current = next(frames, None)
    if current is None:
        raise BackendError("The clip has no frames to edit.")
    upcoming = next(frames, None)
    for t in times:
        while upcoming is not None and upcoming[0] - t < t - current[0] - _EPS:
            current, upcoming = upcoming, next(frames, None)
        yield current[1]


def _fit(src_w: int, src_h: int, width: int, height: int) -> tuple[int, int]:
    """The largest size with the source's aspect ratio inside ``width`` x ``height``; within a
    pixel of the box counts as the box, so a near match is not given a 1 px black line."""
    scale = min(width / src_w, height / src_h)
    w, h = round(src_w * scale), round(src_h * scale)
    w = width if abs(w - width) <= 1 else max(1, min(w, width))
    h = height if abs(h - height) <= 1 else max(1, min(h, height))
    return w, h


def _rgb_frames(frames: Iterator[av.VideoFrame], width: int, height: int) -> Iterator[np.ndarray]:
    """Each frame as RGB ``height`` x ``width``: scaled to fit (Lanczos) and centred on black."""
    last: tuple[av.VideoFrame, np.ndarray] | None = None
    for frame in frames:
        if last is not None and last[0] is frame:  # a held frame: convert once
            yield last[1]
            continue
        w, h = _fit(frame.width, frame.height, width, height)
        if (w, h) == (frame.width, frame.height):
            rgb = frame.to_ndarray(format="rgb24")
        else:
            rgb = frame.reformat(
                width=w, height=h, format="rgb24", interpolation=INTERPOLATION
            ).to_ndarray()
        if (w, h) != (width, height):
            canvas = np.zeros((height, width, 3), dtype=np.uint8)
            y, x = (height - h) // 2, (width - w) // 2
            canvas[y : y + h, x : x + w] = rgb
            rgb = canvas
        last = (frame, rgb)
        yield rgb


def _segment(data: bytes, first: int, stop: int) -> Iterator[av.VideoFrame]:
    """Output frames ``[first, stop)`` of one clip on the 24 fps grid."""
    # Seek half a second early so the frame nearest the first output time is always decoded.
    decoded = _decoded(data, from_s=max(0.0, first / FPS - 0.5))
    try:
        yield from _resampled(decoded, (k / FPS for k in range(first, stop)))
    finally:
        decoded.close()


def _render(
    segments: Sequence[tuple[bytes, int, int]],
    width: int,
    height: int,
    quality: str,
    on_progress: ProgressCallback,
) -> bytes:
    """Encode the segments back to back at ``width`` x ``height``, one frame in flight at a time."""
    total = sum(stop - first for _, first, stop in segments)

    def frames() -> Iterator[np.ndarray]:
        for data, first, stop in segments:
            yield from _rgb_frames(_segment(data, first, stop), width, height)

    def on_frame(i: int) -> None:
        on_progress(_ENCODE_SHARE * (i + 1) / total)

    on_progress(0.0)
    stream = frames()
    try:
        out = encode(
            stream, width=width, height=height, fps=FPS, quality=quality, on_frame=on_frame
        )
    except av.FFmpegError as exc:
        raise BackendError("A clip could not be decoded or encoded.") from exc
    finally:
        stream.close()
    on_progress(1.0)
    return out
