"""Animated scenes: frames of the prompt's landscape, and H.264 clips of them.

``render_frames`` yields frames one at a time; frame ``i`` depends only on the request and
``i`` (never on the frames before it), so a clip rendered from ``start_frame=N`` continues one
that ended at frame ``N`` without a jump -- the platform's "extend" edit relies on this.
``encode_clip`` renders on a second thread while the main thread encodes (NumPy and x264 both
release the GIL), holding only a few frames in memory at a time.

How frames stay cheap is described in ``animate`` (painting once) and ``motion`` (moving).
"""

from __future__ import annotations

import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from apps.generation.backends.procedural.animate import build, camera
from apps.generation.backends.procedural.render import MAX_SIDE, MIN_SIDE, QUALITIES
from apps.media import video as media_video

FPS = media_video.FPS
MAX_DURATION_S = 20  # what a creator may ask for
# The longest clip ``generate`` renders: the "extend" edit re-renders a clip longer (frame i is
# the same in any clip), up to the platform's edit limit.
MAX_RENDER_S = 60
QUEUE_FRAMES = 4  # frames rendered ahead of the encoder
# Frames are independent, so several render at once (NumPy releases the GIL in its loops).
RENDER_THREADS = min(2, os.cpu_count() or 1)

__all__ = [
    "FPS",
    "MAX_DURATION_S",
    "MAX_RENDER_S",
    "camera",
    "encode_clip",
    "frames_for",
    "render_frames",
]


def frames_for(duration_s: float, fps: int = FPS) -> int:
    """Frames in a clip of ``duration_s`` seconds (at least one)."""
    return max(1, round(duration_s * fps))


def render_frames(
    prompt: str,
    negative_prompt: str = "",
    seed: int = 0,
    width: int = 1280,
    height: int = 720,
    quality: str = "draft",
    *,
    fps: int = FPS,
    start_frame: int = 0,
    frame_count: int,
    progress: Callable[[float], None] | None = None,
) -> Iterator[np.ndarray]:
    """Frames ``start_frame`` .. ``start_frame + frame_count - 1`` of the prompt's animated
    scene, each a (height, width, 3) uint8 array (a new one each time).

    Deterministic: a frame depends only on the arguments and its index, so frames
    ``N .. N + k`` of a long render equal a render with ``start_frame=N``. The scene is painted
    when iteration starts; frames render on ``RENDER_THREADS`` threads, a few ahead of the
    caller. ``progress``, if given, receives the share of frames done after each frame and may
    raise to stop. Bad arguments raise ``ValueError`` at once.
    """
    if quality not in QUALITIES:
        raise ValueError(f"quality must be one of {QUALITIES}, not {quality!r}")
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise ValueError(f"size {width}x{height} is outside {MIN_SIDE}..{MAX_SIDE}")
    if frame_count < 0 or start_frame < 0 or fps <= 0:
        raise ValueError("frame_count and start_frame must be >= 0, fps > 0")
    return _frames(
        (prompt, negative_prompt, seed, width, height, quality, fps),
        start_frame,
        frame_count,
        progress,
    )


def _frames(
    request: tuple[str, str, int, int, int, str, int],
    start_frame: int,
    frame_count: int,
    progress: Callable[[float], None] | None,
) -> Iterator[np.ndarray]:
    if frame_count == 0:
        return
    animation = build(*request)
    shape = (animation.geo.h, animation.geo.wf, 3)
    local = threading.local()

    def render(i: int) -> np.ndarray:
        buffer = getattr(local, "buffer", None)
        if buffer is None:
            buffer = local.buffer = np.empty(shape, np.float32)
        return animation.frame(i, buffer)

    threads = min(RENDER_THREADS, max(frame_count, 1))
    if threads <= 1:
        for k in range(frame_count):
            yield render(start_frame + k)
            if progress is not None:
                progress((k + 1) / frame_count)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="procedural-frame") as pool:
        ahead: deque = deque()
        submitted = 0
        try:
            for k in range(frame_count):
                while submitted < frame_count and len(ahead) < threads * 2:
                    ahead.append(pool.submit(render, start_frame + submitted))
                    submitted += 1
                yield ahead.popleft().result()
                if progress is not None:
                    progress((k + 1) / frame_count)
        finally:
            for future in ahead:
                future.cancel()


_DONE = object()


def encode_clip(
    frames: Iterator[np.ndarray],
    *,
    width: int,
    height: int,
    quality: str,
    fps: int = FPS,
    on_frame: Callable[[int], None] | None = None,
) -> bytes:
    """Encode ``frames`` to MP4 while they are rendered: a thread pulls frames from the
    iterator into a small queue and the calling thread encodes them. ``on_frame(i)`` runs in
    the calling thread after frame ``i`` is encoded; whatever it raises (a cancel) stops both
    threads and propagates. An error while rendering propagates too."""
    handoff: queue.Queue[object] = queue.Queue(maxsize=QUEUE_FRAMES)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for frame in frames:
                if not put(frame):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the encoding thread, which re-raises it
            put(exc)
        finally:
            close = getattr(frames, "close", None)
            if close is not None:  # a generator left early: run its cleanup now
                close()

    def consume() -> Iterator[np.ndarray]:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]

    worker = threading.Thread(target=produce, name="procedural-video-render", daemon=True)
    worker.start()
    try:
        return media_video.encode(
            consume(), width=width, height=height, fps=fps, quality=quality, on_frame=on_frame
        )
    finally:
        stop.set()
        while worker.is_alive():
            try:
                handoff.get(timeout=0.05)
            except queue.Empty:
                pass
        worker.join()
