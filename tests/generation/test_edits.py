"""The clip editor's pixel work, on real H.264 clips made from synthetic frames.

Each synthetic frame carries its own number in binary: a 3x3 grid of dark or light cells in the
centre of the frame (nine bits), which survives H.264, scaling and letterboxing, so a decoded frame
says which source frame it shows. The rest of the frame is a moving gradient, so the encoder has
real work.
"""

from __future__ import annotations

import io
import math

import av
import numpy as np
import pytest
from PIL import Image

from apps.generation import edits
from apps.generation.backends.base import GenerationCanceled
from apps.generation.edits import EditError
from apps.media.video import VideoInfo, encode, probe


def _cells(width: int, height: int) -> tuple[int, int, float]:
    """The centre of the bit grid and the size of one cell, for a frame (or content box)."""
    return height // 2, width // 2, 2 * (min(width, height) // 4) / 3


def _frame(index: int, width: int, height: int, tint: int = 0) -> np.ndarray:
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    rgb = np.empty((height, width, 3), dtype=np.uint8)
    rgb[..., 0] = (255 * ((x + index / 24) % 1)).astype(np.uint8)
    rgb[..., 1] = (255 * y).astype(np.uint8)
    rgb[..., 2] = tint
    cy, cx, cell = _cells(width, height)
    for bit in range(9):
        top = round(cy + (bit // 3 - 1.5) * cell)
        left = round(cx + (bit % 3 - 1.5) * cell)
        rgb[top : round(top + cell), left : round(left + cell)] = 224 if index >> bit & 1 else 32
    return rgb


def _clip(frames: int, width: int, height: int, *, fps: int = 24, tint: int = 0) -> bytes:
    return encode(
        (_frame(i, width, height, tint) for i in range(frames)),
        width=width,
        height=height,
        fps=fps,
        quality="draft",
    )


def _clip_with_keyframes_every(gop: int, frames: int, width: int, height: int) -> bytes:
    """A clip with frequent keyframes and B-frames, so a trim really seeks into the middle."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "x264-params": f"keyint={gop}:min-keyint={gop}"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(_frame(i, width, height), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


def _index(rgb: np.ndarray, box: tuple[int, int, int, int] | None = None) -> int:
    """Which synthetic frame this decoded frame shows; ``box`` is where the picture sits
    (x, y, width, height) when it was fitted inside bars."""
    x0, y0, w, h = box or (0, 0, rgb.shape[1], rgb.shape[0])
    cy, cx, cell = _cells(w, h)
    r = max(1, round(cell / 6))
    index = 0
    for bit in range(9):
        y = y0 + round(cy + (bit // 3 - 1) * cell)
        x = x0 + round(cx + (bit % 3 - 1) * cell)
        if rgb[y - r : y + r, x - r : x + r].mean() > 128:
            index |= 1 << bit
    return index


def _frames(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _assert_clip(data: bytes, width: int, height: int, duration_s: float) -> VideoInfo:
    info = probe(data)
    assert (info.width, info.height) == (width, height)
    assert info.codec == "h264"
    assert info.pix_fmt == "yuv420p"
    assert info.fps == pytest.approx(24)
    assert abs(info.duration_s - duration_s) <= 1 / 24 + 1e-3
    assert info.frames == round(duration_s * 24)
    return info


@pytest.fixture(scope="module")
def clip3s() -> bytes:
    """3 s, 320x180, 72 frames."""
    return _clip(72, 320, 180)


@pytest.fixture(scope="module")
def square1s() -> bytes:
    return _clip(24, 240, 240, tint=200)


@pytest.fixture(scope="module")
def clip30fps() -> bytes:
    """1 s at 30 fps, 160x90 (the same shape as clip3s at half the size)."""
    return _clip(30, 160, 90, fps=30, tint=100)


def _png(size: tuple[int, int], mode: str = "RGB") -> bytes:
    rgb = _frame(3, *size)
    im = Image.fromarray(rgb)
    if mode == "RGBA":
        im.putalpha(Image.fromarray(np.full(size[::-1], 128, dtype=np.uint8)))
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def _ignore(fraction: float) -> None:
    pass


# --- trim ---


def test_trim_keeps_the_chosen_frames(clip3s):
    progress: list[float] = []
    result = edits.trim(
        clip3s, start_s=1.0, end_s=2.0, quality="draft", on_progress=progress.append
    )

    assert result.mime == "video/mp4"
    assert (result.width, result.height, result.duration_s) == (320, 180, 1.0)
    _assert_clip(result.data, 320, 180, 1.0)
    indexes = [_index(f) for f in _frames(result.data)]
    assert indexes == list(range(24, 48))
    assert progress == sorted(progress)
    assert progress[0] == 0.0
    assert progress[-1] == 1.0
    assert len(progress) >= 24


def test_trim_seeks_to_the_right_frame_past_keyframes():
    clip = _clip_with_keyframes_every(12, 96, 160, 90)

    result = edits.trim(clip, start_s=2.0, end_s=3.5, quality="draft", on_progress=_ignore)

    _assert_clip(result.data, 160, 90, 1.5)
    assert [_index(f) for f in _frames(result.data)] == list(range(48, 84))


def test_trim_snaps_to_the_nearest_frame_and_may_reach_the_end(clip3s):
    result = edits.trim(clip3s, start_s=2.51, end_s=3.0, quality="draft", on_progress=_ignore)

    _assert_clip(result.data, 320, 180, 0.5)
    indexes = [_index(f) for f in _frames(result.data)]
    # 2.51 s is nearest frame 60 (2.5 s); the clip's last frame is 71.
    assert indexes == list(range(60, 72))
    assert result.extra["start_s"] == 2.5


@pytest.mark.parametrize(
    ("start_s", "end_s", "field"),
    [
        (1.0, 3.5, "end_s"),  # past the end
        (2.0, 2.0, "end_s"),  # start == end
        (2.0, 1.0, "end_s"),  # start after end
        (3.0, 3.2, "start_s"),  # starts at the very end
        (-0.5, 1.0, "start_s"),
        (1.0, 1.01, "end_s"),  # shorter than a frame
        (math.nan, 1.0, "start_s"),
        (0.0, math.inf, "end_s"),
    ],
)
def test_trim_refuses_ranges_outside_the_clip(clip3s, start_s, end_s, field):
    with pytest.raises(EditError) as exc:
        edits.trim(clip3s, start_s=start_s, end_s=end_s, quality="draft", on_progress=_ignore)

    assert exc.value.field == field
    assert exc.value.message
    assert isinstance(exc.value, ValueError)


def test_validation_runs_before_any_work(clip3s):
    info = edits.check_video(clip3s)

    assert (info.width, info.height, info.duration_s, info.frames) == (320, 180, 3.0, 72)
    assert edits.validate_trim(info, 0.5, 1.5) == (12, 36)
    with pytest.raises(EditError) as exc:
        edits.check_video(_png((64, 64)))
    assert exc.value.field == "asset"
    with pytest.raises(EditError):
        edits.check_video(b"not a video at all")
    with pytest.raises(EditError) as exc:
        edits.trim(clip3s, start_s=0, end_s=1, quality="best", on_progress=_ignore)
    assert exc.value.field == "quality"


def test_trim_cancels_when_progress_raises(clip3s):
    calls = []

    def cancel_after_five(fraction: float) -> None:
        calls.append(fraction)
        if len(calls) > 5:
            raise GenerationCanceled

    with pytest.raises(GenerationCanceled):
        edits.trim(clip3s, start_s=0, end_s=3, quality="draft", on_progress=cancel_after_five)
    assert len(calls) == 6


# --- stitch ---


def test_stitch_fits_every_clip_into_the_first_ones_size(clip3s, square1s, clip30fps):
    progress: list[float] = []
    result = edits.stitch(
        [clip3s, square1s, clip30fps], quality="draft", on_progress=progress.append
    )

    assert (result.width, result.height, result.duration_s) == (320, 180, 5.0)
    _assert_clip(result.data, 320, 180, 5.0)
    frames = _frames(result.data)
    assert len(frames) == 72 + 24 + 24
    assert [_index(f) for f in frames[:72]] == list(range(72))
    assert [_index(f, (70, 0, 180, 180)) for f in frames[72:96]] == list(range(24))
    # The square clip is pillarboxed: 180x180 in the middle, black bars of 70 px either side.
    square = frames[80]
    assert square[:, :64].max() < 24
    assert square[:, -64:].max() < 24
    assert square[:, 76:244, 2].mean() > 150  # its blue tint fills the middle
    # 30 fps resampled by timestamp: output frame k shows the source frame nearest k/24 s.
    assert [_index(f) for f in frames[96:]] == [round(k * 30 / 24 - 1e-9) for k in range(24)]
    assert frames[110][:, :8].max() > 24  # same shape, scaled up: no bars
    assert progress == sorted(progress)
    assert progress[-1] == 1.0
    assert len(progress) >= 120


@pytest.mark.parametrize("count", [0, 1, 9])
def test_stitch_needs_two_to_eight_clips(clip3s, count):
    with pytest.raises(EditError) as exc:
        edits.stitch([clip3s] * count, quality="draft", on_progress=_ignore)

    assert exc.value.field == "assets"


@pytest.mark.parametrize("bad", [_png((320, 180)), b"\x00" * 1000], ids=["png", "garbage"])
def test_stitch_refuses_what_is_not_a_clip(clip3s, bad):
    with pytest.raises(EditError) as exc:
        edits.stitch([clip3s, bad], quality="draft", on_progress=_ignore)

    assert exc.value.field == "assets"
    assert "Clip 2" in exc.value.message


def test_stitch_cancels_when_progress_raises(clip3s, square1s):
    def cancel_in_second_clip(fraction: float) -> None:
        if fraction > 0.8:
            raise GenerationCanceled

    with pytest.raises(GenerationCanceled):
        edits.stitch([clip3s, square1s], quality="draft", on_progress=cancel_in_second_clip)


# --- upscale ---


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((320, 180), (854, 480)),
        ((180, 320), (480, 854)),
        ((640, 360), (854, 480)),
        ((854, 480), (1280, 720)),
        ((1280, 720), (1920, 1080)),
        ((720, 900), (1080, 1350)),
        ((1080, 1080), None),
        ((1920, 1080), None),
        ((3840, 2160), None),
    ],
)
def test_upscale_goes_to_the_next_rendition(size, expected):
    info = VideoInfo(*size, duration_s=1.0, fps=24.0, frames=24, codec="h264", pix_fmt="yuv420p")

    if expected is None:
        with pytest.raises(EditError) as exc:
            edits.validate_upscale_video(info)
        assert exc.value.field == "asset"
    else:
        assert edits.validate_upscale_video(info) == expected


def test_upscale_video(clip3s):
    progress: list[float] = []
    short = edits.trim(clip3s, start_s=0, end_s=0.5, quality="draft", on_progress=_ignore)

    result = edits.upscale_video(short.data, quality="draft", on_progress=progress.append)

    assert (result.width, result.height, result.duration_s) == (854, 480, 0.5)
    _assert_clip(result.data, 854, 480, 0.5)
    assert [_index(f) for f in _frames(result.data)] == list(range(12))
    assert progress[-1] == 1.0


def test_upscale_of_a_1080p_clip_is_refused():
    clip = _clip(2, 1920, 1080)

    with pytest.raises(EditError) as exc:
        edits.upscale_video(clip, quality="draft", on_progress=_ignore)

    assert exc.value.field == "asset"


def test_upscale_image_doubles_and_keeps_alpha():
    result = edits.upscale_image(_png((300, 200)))

    assert (result.mime, result.width, result.height) == ("image/png", 600, 400)
    with Image.open(io.BytesIO(result.data)) as im:
        assert (im.format, im.size, im.mode) == ("PNG", (600, 400), "RGB")

    progress: list[float] = []
    result = edits.upscale_image(_png((64, 48), "RGBA"), on_progress=progress.append)
    with Image.open(io.BytesIO(result.data)) as im:
        assert (im.size, im.mode) == ((128, 96), "RGBA")
        assert im.getchannel("A").getextrema() == (128, 128)
    assert progress[-1] == 1.0


def test_upscale_image_caps_the_long_side():
    assert edits.upscale_image(_png((2048, 8))).width == 4096

    with pytest.raises(EditError) as exc:
        edits.upscale_image(_png((8, 2049)))
    assert exc.value.field == "asset"
    with pytest.raises(EditError):
        edits.upscale_image(b"not an image")


# --- streaming ---


def test_resampling_reads_the_source_lazily():
    consumed = []

    def source():
        for i in range(1000):
            consumed.append(i)
            yield i / 30, i

    out = edits._resampled(source(), (k / 24 for k in range(10_000)))
    taken = [next(out) for _ in range(48)]

    assert taken == [round(k * 30 / 24 - 1e-9) for k in range(48)]
    assert len(consumed) <= 62  # two seconds of source and one frame of look-ahead
