"""The procedural backend: still images (PNG) and animated scenes (H.264 MP4)."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

from apps.generation.backends.base import (
    BackendError,
    GeneratedFile,
    GenerationBackend,
    GenerationCanceled,
    GenerationRequest,
    ProgressCallback,
)
from apps.generation.backends.procedural.render import (
    MAX_SIDE,
    MIN_SIDE,
    QUALITIES,
    encode_png,
    render_scene,
)
from apps.generation.backends.procedural.video import (
    FPS,
    MAX_DURATION_S,
    MAX_RENDER_S,
    encode_clip,
    frames_for,
    render_frames,
)
from apps.generation.backends.procedural.vocabulary import parse_prompt

logger = logging.getLogger(__name__)


def image_dimensions(ratio: tuple[int, int], long_side: int) -> tuple[int, int]:
    """Same rule as the generation service: long side by quality, short side a multiple of 8."""
    w, h = ratio
    if w >= h:
        return long_side, int(long_side * h / w) // 8 * 8
    return int(long_side * w / h) // 8 * 8, long_side


def video_dimensions(ratio: tuple[int, int], short_side: int) -> tuple[int, int]:
    """Same rule as the generation service: short side by quality (720p, 1080p), both even."""
    w, h = ratio
    if w >= h:
        return int(short_side * w / h) // 2 * 2, short_side
    return short_side, int(short_side * h / w) // 2 * 2


_RATIOS = ((1, 1), (16, 9), (9, 16), (4, 5))
# A draft grid holds up to 16 variations; finals come up to 4 at a time.
MAX_DRAFT_COUNT, MAX_FINAL_COUNT = 16, 4

MIN_DURATION_S = 1


class ProceduralBackend(GenerationBackend):
    """Paints landscapes from prompts with NumPy: no downloads, no weights, deterministic.

    Images are PNGs; videos (1 to 20 s, 24 fps) animate the same scene as H.264 MP4s, and are
    byte-identical for the same request (see ``video``). Frame i depends only on the request and
    i, so rendering a request again with a longer duration extends its clip seamlessly
    (``can_extend``; ``generate`` renders up to ``MAX_RENDER_S`` for that)."""

    name = "Procedural"
    model = "vivid-procedural"
    version = "1"
    kinds = ("image", "video")
    max_duration_s = MAX_DURATION_S
    can_extend = True
    can_vary = True
    sizes = tuple(image_dimensions(r, side) for side in (1024, 512) for r in _RATIOS)
    video_sizes = tuple(video_dimensions(r, side) for side in (1080, 720) for r in _RATIOS)

    def refusal(self, kind: str, width: int, height: int, duration_s: float | None) -> str | None:
        refusal = super().refusal(kind, width, height, duration_s)
        if refusal is None and kind == "video" and (duration_s or 0) < MIN_DURATION_S:
            return f"The {self.alias} backend makes videos of 1 to {self.max_duration_s} s."
        return refusal

    def generate(
        self, request: GenerationRequest, progress: ProgressCallback
    ) -> list[GeneratedFile]:
        """Render ``count`` variations (seed, seed+1, ...) of one scene as PNGs, or one video."""
        if request.kind == "video":
            return [self._video(request, progress)]
        self._check(request)
        files: list[GeneratedFile] = []
        progress(0.0)
        for i in range(request.count):

            def step(fraction: float, i: int = i) -> None:
                progress((i + fraction * 0.97) / request.count)

            files.append(self._still(request, i, step))
            progress((i + 1) / request.count)
        return files

    def generate_each(
        self, request: GenerationRequest, progress: ProgressCallback, *, start: int = 0
    ):
        """Yield results ``start``.. in order as each is ready, rendering ``threads`` at once
        (NumPy and zlib release the GIL for most of a render): the first drafts of a grid are
        shown while the rest render. ``progress`` is called from the caller's thread only."""
        if request.kind == "video" or request.count - start <= 1:
            yield from self.generate(request, progress)[start:]
            return
        self._check(request)
        threads = max(1, int(self.options.get("threads") or min(2, os.cpu_count() or 1)))
        indices = range(start, request.count)
        progress(start / request.count)
        with ThreadPoolExecutor(threads, thread_name_prefix="procedural") as pool:
            futures = [pool.submit(self._still, request, i, None) for i in indices]
            try:
                for i, future in zip(indices, futures, strict=True):
                    yield future.result()
                    progress((i + 1) / request.count)
            finally:  # canceled or failed: renders not started yet never start
                for future in futures:
                    future.cancel()

    def _still(
        self, request: GenerationRequest, index: int, step: ProgressCallback | None
    ) -> GeneratedFile:
        """Result ``index`` of an image request (its picture: ``GenerationRequest.picture``)."""
        seed, variations = request.picture(index)
        try:
            rgb = render_scene(
                request.prompt,
                request.negative_prompt,
                seed,
                request.width,
                request.height,
                request.quality,
                progress=step,
                variations=variations,
            )
            data = encode_png(rgb)
        except (GenerationCanceled, BackendError):
            raise
        except Exception as exc:  # a bug here should fail the job, not the worker
            logger.exception("procedural render failed")
            raise BackendError("The procedural painter failed on this prompt.") from exc
        scene = parse_prompt(request.prompt, request.negative_prompt).summary()
        extra = {"seed": seed, "scene": scene}
        if variations:
            extra["variations"] = [list(v) for v in variations]
        return GeneratedFile(
            data=data, mime="image/png", width=request.width, height=request.height, extra=extra
        )

    def _video(self, request: GenerationRequest, progress: ProgressCallback) -> GeneratedFile:
        """Render and encode one clip, frames streaming from a render thread into the encoder;
        ``progress`` is called after every encoded frame (and may cancel)."""
        size = (request.width, request.height)
        if size not in self.video_sizes:
            raise BackendError(f"The {self.alias} backend cannot make {size[0]}x{size[1]} videos.")
        duration = request.duration_s
        if duration is None or not MIN_DURATION_S <= duration <= MAX_RENDER_S:
            # new requests are held to 1..20 s by ``refusal``; extended clips run longer
            raise BackendError(f"The {self.alias} backend renders clips of 1 to {MAX_RENDER_S} s.")
        if request.quality not in QUALITIES:
            raise BackendError("Quality must be draft or final.")
        frames = frames_for(duration, FPS)
        summary = parse_prompt(request.prompt, request.negative_prompt).summary()
        progress(0.0)

        def encoded(i: int) -> None:
            progress(min(0.99, (i + 1) / frames))

        try:
            data = encode_clip(
                render_frames(
                    request.prompt,
                    request.negative_prompt,
                    request.seed,
                    request.width,
                    request.height,
                    request.quality,
                    fps=FPS,
                    frame_count=frames,
                ),
                width=request.width,
                height=request.height,
                quality=request.quality,
                fps=FPS,
                on_frame=encoded,
            )
        except (GenerationCanceled, BackendError):
            raise
        except Exception as exc:  # a bug here should fail the job, not the worker
            logger.exception("procedural video failed")
            raise BackendError("The procedural painter failed on this prompt.") from exc
        progress(1.0)
        return GeneratedFile(
            data=data,
            mime="video/mp4",
            width=request.width,
            height=request.height,
            duration_s=frames / FPS,
            extra={"seed": request.seed, "scene": summary, "fps": FPS, "frames": frames},
        )

    def _check(self, request: GenerationRequest) -> None:
        if request.kind not in self.kinds:
            raise BackendError(f"The procedural backend cannot make {request.kind}s.")
        most = MAX_DRAFT_COUNT if request.quality == "draft" else MAX_FINAL_COUNT
        if not 1 <= request.count <= most:
            raise BackendError(f"Ask for between 1 and {most} {request.quality} images.")
        if request.quality not in QUALITIES:
            raise BackendError("Quality must be draft or final.")
        w, h = request.width, request.height
        if not (MIN_SIDE <= w <= MAX_SIDE and MIN_SIDE <= h <= MAX_SIDE):
            raise BackendError(f"The procedural backend cannot make {w}x{h} images.")
