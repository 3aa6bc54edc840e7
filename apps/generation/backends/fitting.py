"""Making a remote engine's pictures and clips exactly what Vivid asked for.

Remote engines (a hosted API, a ComfyUI workflow) render a few sizes, frame rates and lengths of
their own. Vivid asks for the nearest size, then crops and resizes (and retimes and trims) the
result here, so every size and duration Vivid offers works with every engine and every stored
clip is encoded the one way Vivid encodes clips (H.264 at ``video.FPS``, no sound).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageOps

from apps.generation.backends.base import BackendError, ProgressCallback
from apps.media import video as video_io


def vivid_sizes(kind: str) -> tuple[tuple[int, int], ...]:
    """Every size Vivid makes of ``kind`` (each aspect ratio, final then draft)."""
    from apps.generation.services import ASPECT_RATIOS, QUALITIES, dimensions

    return tuple(dimensions(kind, ratio, q) for q in reversed(QUALITIES) for ratio in ASPECT_RATIOS)


def start_picture(data: bytes, width: int, height: int) -> bytes:
    """A picture a clip starts from (Vivid's own file), as a PNG of the engine's frame size."""
    with Image.open(io.BytesIO(data)) as picture:
        return png_bytes(fit_image(to_rgb(picture), width, height))


def nearest_size(sizes: tuple[tuple[int, int], ...], width: int, height: int) -> tuple[int, int]:
    """The engine size whose aspect ratio is closest to ``width:height`` (least cropped away);
    among equals, the one needing the least scaling."""
    want = math.log(width / height)

    def cost(size: tuple[int, int]) -> tuple[float, float]:
        w, h = size
        return round(abs(math.log(w / h) - want), 6), abs(math.log(w * h / (width * height)))

    return min(sizes, key=cost)


def fit_image(image: Image.Image, width: int, height: int) -> Image.Image:
    """Scale ``image`` to cover ``width`` x ``height`` and crop the overflow, centred."""
    if image.size == (width, height):
        return image
    return ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS, centering=(0.5, 0.5))


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with any transparency flattened onto white."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False)
    return out.getvalue()


def fitted_png(data: bytes, width: int, height: int, *, source: str) -> bytes:
    """A picture an engine sent, as an RGB PNG of exactly ``width`` x ``height``."""
    try:
        with Image.open(io.BytesIO(data)) as picture:
            picture.load()
            return png_bytes(fit_image(to_rgb(picture), width, height))
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise BackendError(f"The {source} sent an image Vivid could not read.") from e


def _fit_frame(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    if rgb.shape[:2] == (height, width):
        return rgb
    image = ImageOps.fit(
        Image.fromarray(rgb), (width, height), Image.Resampling.BICUBIC, centering=(0.5, 0.5)
    )
    return np.asarray(image)


def fit_video(
    data: bytes,
    *,
    width: int,
    height: int,
    duration_s: float,
    quality: str,
    progress: ProgressCallback,
    source: str,
) -> bytes:
    """Decode an engine's clip; crop/resize its frames, retime them to Vivid's frame rate, keep
    ``duration_s`` of it and encode it the way Vivid encodes every clip (no sound).

    ``progress`` gets 0..1 as frames are encoded; ``source`` names the engine in errors ("the
    provider", "the ComfyUI server")."""
    unreadable = f"The {source} sent a video Vivid could not read."
    try:
        info = video_io.probe(data)
    except Exception as e:
        raise BackendError(unreadable) from e
    src_fps = info.fps if info.fps and info.fps > 0 else float(video_io.FPS)
    fps = video_io.FPS
    wanted = max(round(duration_s * fps), 1)
    # A clip a little short of its nominal length is padded with its last frame.
    slack = fps // 2

    def frames() -> Iterator[np.ndarray]:
        made = 0
        last: np.ndarray | None = None
        decoded = video_io.decode(data)
        try:
            for index, rgb in enumerate(decoded):
                last, fitted = rgb, None
                # Every output frame whose time falls within this source frame shows it.
                while made < wanted and made / fps < (index + 1) / src_fps - 1e-9:
                    if fitted is None:
                        fitted = _fit_frame(rgb, width, height)
                    made += 1
                    yield fitted
                if made >= wanted:
                    return
        finally:
            decoded.close()
        if last is None or wanted - made > slack:
            raise BackendError(f"The {source}'s video was shorter than asked for.")
        fitted = _fit_frame(last, width, height)
        for _ in range(wanted - made):
            yield fitted

    try:
        return video_io.encode(
            frames(),
            width=width,
            height=height,
            fps=fps,
            quality=quality,
            on_frame=lambda i: progress((i + 1) / wanted),
        )
    except BackendError:
        raise
    except Exception as e:
        if type(e).__module__.startswith("av"):
            raise BackendError(unreadable) from e
        raise
