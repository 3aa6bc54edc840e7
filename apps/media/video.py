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
