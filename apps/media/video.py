"""Video encoding, decoding and probing with PyAV (FFmpeg).

Every clip Vivid makes is H.264 (yuv420p) in MP4 with the index at the front (``+faststart``), so
browsers start playing before the whole file has arrived. Frames move as ``uint8`` RGB NumPy arrays
of shape (height, width, 3).
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

FPS = 24
# Constant-quality encoding: lower is better and bigger. 18 is visually lossless for most scenes.
# Finals use x264's "veryfast" preset (about 3x faster than "medium": a 20 s 1080p clip encodes in
# well under a minute on two cores) and make up for it with a lower CRF.
CRF = {"draft": 23, "final": 17}
PRESET = {"draft": "veryfast", "final": "veryfast"}
# x264's output depends on its thread count, so it is fixed rather than one per core: the same
# frames then give byte-identical files on any machine (with the same libx264). Two threads are
# as fast as more on the two-core workers this was tuned on.
ENCODER_THREADS = 2


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    duration_s: float
    fps: float
    frames: int
    codec: str
    pix_fmt: str


def encode(
    frames: Iterable[np.ndarray],
    *,
    width: int,
    height: int,
    fps: int = FPS,
    quality: str = "final",
    on_frame: Callable[[int], None] | None = None,
) -> bytes:
    """Encode RGB frames to an H.264 MP4 and return its bytes.

    ``width`` and ``height`` must be even (yuv420p). ``on_frame(i)`` is called after each frame is
    encoded; it may raise to abandon the encode (a canceled job).
    """
    if width % 2 or height % 2:
        raise ValueError(f"H.264 in yuv420p needs even dimensions, got {width}x{height}")
    with tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
        container = av.open(tmp.name, mode="w", options={"movflags": "+faststart"})
        try:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.time_base = Fraction(1, fps)
            stream.options = {
                "crf": str(CRF[quality]),
                "preset": PRESET[quality],
                "threads": str(ENCODER_THREADS),
            }
            stream.thread_type = "AUTO"
            for i, rgb in enumerate(frames):
                if rgb.shape != (height, width, 3):
                    raise ValueError(f"frame {i} is {rgb.shape}, expected {(height, width, 3)}")
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame.pts = i
                for packet in stream.encode(frame):
                    container.mux(packet)
                if on_frame is not None:
                    on_frame(i)
            for packet in stream.encode(None):
                container.mux(packet)
        finally:
            container.close()
        return Path(tmp.name).read_bytes()


def probe(data: bytes) -> VideoInfo:
    """What a video file is, read from its container and first video stream."""
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate or FPS)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = float(container.duration or 0) / av.time_base
        frames = stream.frames or round(duration * rate)
        return VideoInfo(
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            duration_s=round(duration, 3),
            fps=rate,
            frames=frames,
            codec=stream.codec_context.name,
            pix_fmt=stream.codec_context.pix_fmt or "",
        )


def decode(
    data: bytes, *, start_s: float = 0.0, end_s: float | None = None
) -> Iterator[np.ndarray]:
    """RGB frames of a video whose presentation time falls in [start_s, end_s)."""
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if start_s > 0:
            container.seek(int(start_s / stream.time_base), stream=stream, backward=True)
        for frame in container.decode(stream):
            t = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
            if t + 1e-6 < start_s:
                continue
            if end_s is not None and t >= end_s - 1e-6:
                break
            yield frame.to_ndarray(format="rgb24")


def frame_at(data: bytes, t_s: float) -> np.ndarray:
    """The first frame at or after ``t_s`` (the last frame if ``t_s`` is past the end)."""
    last = None
    for rgb in decode(data, start_s=max(t_s, 0.0)):
        return rgb
    for rgb in decode(data):
        last = rgb
    if last is None:
        raise ValueError("the video has no frames")
    return last


def last_frame(data: bytes) -> np.ndarray:
    """The clip's final frame (decoding only its last second)."""
    info = probe(data)
    last = None
    for rgb in decode(data, start_s=max(info.duration_s - 1.0, 0.0)):
        last = rgb
    if last is None:
        raise ValueError("the video has no frames")
    return last


def even(n: float) -> int:
    """The nearest even integer of at least 2 (yuv420p needs even sides)."""
    return max(2, round(n / 2) * 2)


def fit(width: int, height: int, *, short_side: int | None = None, longest: int | None = None):
    """The size of a downscale to a short side (renditions) or longest side (loops), never up."""
    if short_side is not None:
        scale = short_side / min(width, height)
    else:
        scale = (longest or max(width, height)) / max(width, height)
    scale = min(scale, 1.0)
    return even(width * scale), even(height * scale)


def transcode(
    data: bytes,
    *,
    width: int,
    height: int,
    crf: int = 23,
    preset: str = "veryfast",
    max_s: float | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> bytes:
    """Re-encode a clip's video to H.264 MP4 at ``width``x``height`` with no sound (renditions
    and grid loops). Frames are scaled by FFmpeg's swscale in the decoder's own pixel format,
    with no trip through RGB; ``max_s`` keeps only the first seconds."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
        with av.open(io.BytesIO(data), mode="r") as src:
            in_stream = src.streams.video[0]
            in_stream.thread_type = "AUTO"
            rate = in_stream.average_rate or in_stream.guessed_rate or Fraction(FPS)
            out = av.open(tmp.name, mode="w", options={"movflags": "+faststart"})
            try:
                stream = out.add_stream("libx264", rate=rate)
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                stream.time_base = 1 / Fraction(rate)
                stream.options = {
                    "crf": str(crf),
                    "preset": preset,
                    "threads": str(ENCODER_THREADS),
                }
                for i, frame in enumerate(src.decode(in_stream)):
                    t = float(frame.pts * in_stream.time_base) if frame.pts is not None else 0.0
                    if max_s is not None and t >= max_s - 1e-6:
                        break
                    scaled = frame.reformat(
                        width=width, height=height, format="yuv420p", interpolation="LANCZOS"
                    )
                    # The frame keeps its own timestamp and time base; PyAV rescales it.
                    scaled.pts, scaled.time_base = frame.pts, frame.time_base
                    for packet in stream.encode(scaled):
                        out.mux(packet)
                    if on_frame is not None:
                        on_frame(i)
                for packet in stream.encode(None):
                    out.mux(packet)
            finally:
                out.close()
        return Path(tmp.name).read_bytes()


@dataclass(frozen=True)
class ProbeLimits:
    """What an untrusted clip may be: checked from its container before any frame is decoded."""

    max_side: int = 4096
    max_duration_s: float = 60.0
    max_streams: int = 2
    codecs: tuple[str, ...] = ("h264",)


class ProbeRefused(ValueError):
    """The clip breaks a limit or cannot be read; the message says which, for the uploader."""


# The MP4 demuxer must never follow references to other files or URLs inside a clip (``dref``
# boxes): untrusted input is read from memory and nothing else.
SAFE_DEMUXER_OPTIONS = {"enable_drefs": "0", "use_absolute_path": "0"}


def _open_untrusted(data: bytes):
    """The MP4 demuxer forced, no protocols but the bytes in memory, and metadata that is not
    UTF-8 replaced rather than raised (a title in another encoding is not an error, and the
    metadata is dropped anyway)."""
    try:
        return av.open(
            io.BytesIO(data),
            mode="r",
            format="mp4",
            options=SAFE_DEMUXER_OPTIONS,
            metadata_errors="replace",
        )
    except (av.FFmpegError, UnicodeError, ValueError) as e:
        raise ProbeRefused("The video cannot be read.") from e


def probe_untrusted(data: bytes, limits: ProbeLimits = ProbeLimits()) -> VideoInfo:
    """Probe an uploaded MP4 with the demuxer forced (no format guessing, no protocols but the
    bytes in memory) and enforce ``limits``; then decode its first frame to prove it plays.

    The duration is the longest of the container's, the stream's, and the end of its last
    packet, so a sample lasting an hour behind a short edit list counts as an hour. Run it on
    what is stored too (``uploads`` probes the re-muxed copy again)."""
    container = _open_untrusted(data)
    try:
        with container:
            return _probe_open(container, limits)
    except (av.FFmpegError, UnicodeError, OverflowError, ZeroDivisionError) as e:
        raise ProbeRefused("The video cannot be read.") from e


def _probe_open(container, limits: ProbeLimits) -> VideoInfo:
    if len(container.streams) > limits.max_streams:
        raise ProbeRefused(f"The video has more than {limits.max_streams} streams.")
    if not container.streams.video:
        raise ProbeRefused("The file has no video stream.")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if ctx.name not in limits.codecs:
        raise ProbeRefused("Only H.264 video is accepted.")
    if not ctx.width or not ctx.height:
        raise ProbeRefused("The video has no size.")
    if max(ctx.width, ctx.height) > limits.max_side:
        raise ProbeRefused(f"The video is larger than {limits.max_side} pixels.")
    duration = 0.0
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    if container.duration is not None:
        duration = max(duration, float(container.duration) / av.time_base)
    too_long = ProbeRefused(f"The video is longer than {limits.max_duration_s:g} s.")
    if duration > limits.max_duration_s:
        raise too_long
    # The packets themselves: where the last one ends (index only, nothing decoded).
    packets, end = 0, 0.0
    for packet in container.demux(stream):
        if packet.pts is None or packet.time_base is None:
            continue
        packets += 1
        end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
        if end > limits.max_duration_s:
            raise too_long
    if not packets:
        raise ProbeRefused("The video has no frames.")
    container.seek(0, stream=stream)
    ctx.thread_count = 1  # decoding untrusted input: no extra threads
    try:
        next(iter(container.decode(stream)))
    except (av.FFmpegError, StopIteration) as e:
        raise ProbeRefused("The video cannot be decoded.") from e
    rate = float(stream.average_rate or stream.guessed_rate or FPS)
    duration = max(duration, end)
    return VideoInfo(
        width=ctx.width,
        height=ctx.height,
        duration_s=round(duration, 3),
        fps=rate,
        frames=stream.frames or packets,
        codec=ctx.name,
        pix_fmt=ctx.pix_fmt or "",
    )


def frame_untrusted(data: bytes, t_s: float) -> np.ndarray:
    """The first frame at or after ``t_s`` of an untrusted clip (the last one if none is), read
    with the demuxer forced and one decoder thread."""
    last = None
    container = _open_untrusted(data)
    try:
        with container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            for frame in container.decode(stream):
                last = frame
                t = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
                if t + 1e-6 >= t_s:
                    break
            if last is None:
                raise ProbeRefused("The video has no frames.")
            return last.to_ndarray(format="rgb24")
    except (av.FFmpegError, UnicodeError) as e:
        raise ProbeRefused("The video cannot be decoded.") from e


def remux_clean(data: bytes) -> bytes:
    """The same packets in a fresh MP4 without container or stream metadata (titles, locations,
    encoder tags): nothing is re-encoded. Only the first video and audio streams are kept."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
        with _open_untrusted(data) as src:
            keep = [src.streams.video[0], *src.streams.audio[:1]]
            out = av.open(tmp.name, mode="w", options={"movflags": "+faststart"})
            try:
                mapping = {}
                for s in keep:
                    o = out.add_stream_from_template(s)
                    o.metadata.clear()
                    mapping[s.index] = o
                for packet in src.demux(keep):
                    if packet.dts is None:
                        continue
                    packet.stream = mapping[packet.stream.index]
                    out.mux(packet)
            finally:
                out.close()
        return Path(tmp.name).read_bytes()
