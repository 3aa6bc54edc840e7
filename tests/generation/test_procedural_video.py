"""Procedural videos: real H.264 files, deterministic, continuable, moving, and well-behaved.

Plain functions, no database. Clips are short drafts so the file stays quick.
"""

from __future__ import annotations

import threading
from itertools import pairwise

import numpy as np
import pytest

from apps.generation.backends.base import BackendError, GenerationCanceled, GenerationRequest
from apps.generation.backends.procedural import ProceduralBackend, animate, render_frames
from apps.generation.backends.procedural import video as procedural_video
from apps.generation.services import dimensions
from apps.media.video import decode, probe

PROMPT = "golden hour mountains lake clouds"


def _backend() -> ProceduralBackend:
    return ProceduralBackend("procedural")


def _request(**kw) -> GenerationRequest:
    params = {
        "kind": "video",
        "prompt": PROMPT,
        "seed": 11,
        "width": 1280,
        "height": 720,
        "quality": "draft",
        "duration_s": 1.0,
    }
    params.update(kw)
    return GenerationRequest(**params)


def _frames(prompt: str = PROMPT, **kw) -> list[np.ndarray]:
    params = {"seed": 11, "width": 320, "height": 180, "quality": "draft", "frame_count": 24}
    params.update(kw)
    seed, width, height, quality = (params.pop(k) for k in ("seed", "width", "height", "quality"))
    return list(render_frames(prompt, "", seed, width, height, quality, **params))


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


# --- the file ------------------------------------------------------------------------------


def test_video_is_h264_mp4_of_the_asked_size_duration_and_rate():
    (file,) = _backend().generate(_request(duration_s=2.0), lambda _f: None)
    assert file.mime == "video/mp4"
    assert (file.width, file.height, file.duration_s) == (1280, 720, 2.0)
    assert file.extra["fps"] == 24
    assert file.extra["frames"] == 48
    assert file.extra["scene"]["elements"]  # provenance: what the prompt picked
    info = probe(file.data)
    assert (info.width, info.height) == (1280, 720)
    assert info.fps == 24.0
    assert info.frames == 48
    assert info.duration_s == pytest.approx(2.0, abs=0.05)
    assert info.codec == "h264"
    assert info.pix_fmt == "yuv420p"
    assert file.data[4:8] == b"ftyp"


def test_same_request_gives_byte_identical_mp4():
    first = _backend().generate(_request(), lambda _f: None)[0]
    second = _backend().generate(_request(), lambda _f: None)[0]
    assert first.data == second.data


def test_frames_do_not_depend_on_how_many_threads_render_them(monkeypatch):
    monkeypatch.setattr(procedural_video, "RENDER_THREADS", 2)
    threaded = _frames(frame_count=8)
    monkeypatch.setattr(procedural_video, "RENDER_THREADS", 1)
    single = _frames(frame_count=8)
    assert all(np.array_equal(a, b) for a, b in zip(threaded, single, strict=True))


def test_different_seeds_give_visibly_different_videos():
    a = _frames(seed=1, frame_count=1)[0]
    b = _frames(seed=2, frame_count=1)[0]
    assert _diff(a, b) > 6.0


def test_frames_have_the_output_size_at_both_qualities():
    for quality in ("draft", "final"):
        (frame,) = _frames(width=200, height=112, quality=quality, frame_count=1)
        assert frame.shape == (112, 200, 3)
        assert frame.dtype == np.uint8


# --- motion and continuation ---------------------------------------------------------------


@pytest.mark.parametrize("prompt", [PROMPT, "desert dunes under a clear sky"])
def test_the_scene_moves_smoothly(prompt):
    frames = _frames(prompt, width=1280, height=720, frame_count=48)
    steps = [_diff(a, b) for a, b in pairwise(frames)]
    assert min(steps) > 0.01  # something moves in every frame, even in a still landscape
    assert max(steps) < 3.0  # ...without jumps
    assert _diff(frames[0], frames[-1]) > 3 * np.mean(steps)  # and it adds up


def test_a_continuation_joins_without_a_jump():
    long = _frames(frame_count=36)
    short = long[:24]
    continuation = _frames(start_frame=24, frame_count=12)
    # frame N of the long render is the first frame of the continuation, exactly
    assert all(np.array_equal(a, b) for a, b in zip(long[24:], continuation, strict=True))
    steps = [_diff(a, b) for a, b in pairwise(long)]
    join = _diff(short[-1], continuation[0])
    assert join <= max(steps) + 1e-6
    assert join <= 2 * float(np.median(steps))


def test_an_encoded_continuation_joins_without_a_jump():
    backend = _backend()
    first = backend.generate(_request(width=720, height=720), lambda _f: None)[0]
    frames = list(decode(first.data))
    (following,) = render_frames(PROMPT, "", 11, 720, 720, "draft", start_frame=24, frame_count=1)
    steps = [_diff(a, b) for a, b in pairwise(frames)]
    # the continuation's first frame is raw (not yet encoded); allow for compression noise
    assert _diff(frames[-1], following) <= max(steps) + 2.0


@pytest.mark.parametrize(
    "prompt", [PROMPT, "foggy river valley at dawn", "neon city at night", "starry night sea"]
)
def test_a_frame_does_not_depend_on_what_was_rendered_before(prompt):
    animation = animate.build(prompt, "", 11, 320, 180, "draft", 24)
    shape = (animation.geo.h, animation.geo.wf, 3)
    fresh = animation.frame(30, np.zeros(shape, np.float32))
    with np.errstate(invalid="ignore"):
        reused = animation.frame(30, np.full(shape, np.nan, np.float32))
    assert np.array_equal(fresh, reused)


def test_far_into_an_extended_clip_frames_still_render():
    (frame,) = _frames(start_frame=24 * 60 * 10, frame_count=1)  # ten minutes in
    assert frame.shape == (180, 320, 3)
    assert frame.std() > 5


@pytest.mark.parametrize(
    "prompt",
    [
        "neon city at night in the rain",  # street water, neon flicker, rain
        "stormy desert mountains",  # lightning, heavy rain
        "snowy forest hills under the northern lights",  # snow, aurora, stars
        "foggy river valley at dawn",  # fog, river
        "sunset sea islands waves",  # sea, glitter, foam, islands
        "vaporwave city sunset",  # the grid
        "pixel art night sky over the sea",  # blocks and a fixed palette
        "oil painting of planets over a lake, film grain",  # spatial style, grain
        "cinematic teal moonlit lake, low poly",
    ],
)
def test_every_kind_of_motion_renders(prompt):
    frames = _frames(prompt, width=192, height=108, frame_count=3)
    late = _frames(prompt, width=192, height=108, start_frame=200, frame_count=1)[0]
    for frame in [*frames, late]:
        assert frame.shape == (108, 192, 3)
        assert frame.dtype == np.uint8
        assert frame.std() > 3  # a picture, not a flat fill
    assert _diff(frames[0], late) > 0.1


# --- the backend contract ------------------------------------------------------------------


def test_progress_is_reported_per_frame_and_ends_at_one():
    seen: list[float] = []
    _backend().generate(_request(), seen.append)
    assert len(seen) >= 24
    assert seen == sorted(seen)
    assert seen[0] == 0.0
    assert seen[-1] == 1.0
    assert all(0.0 <= f <= 1.0 for f in seen)


def test_cancel_from_progress_stops_rendering_and_propagates():
    calls = 0
    threads_before = threading.active_count()

    def progress(_fraction: float) -> None:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise GenerationCanceled

    with pytest.raises(GenerationCanceled):
        _backend().generate(_request(duration_s=3.0), progress)
    assert calls == 5
    assert threading.active_count() == threads_before  # the render threads are gone


@pytest.mark.parametrize(
    ("width", "height", "duration_s"),
    [
        (1280, 720, None),
        (1280, 720, 0.0),
        (1280, 720, 0.5),
        (1280, 720, 61.0),
        (1280, 720, 600.0),
        (512, 512, 3.0),  # an image size
        (1000, 1000, 3.0),
    ],
)
def test_refuses_durations_and_sizes_it_cannot_make(width, height, duration_s):
    backend = _backend()
    assert backend.refusal("video", width, height, duration_s)
    request = _request(width=width, height=height, duration_s=duration_s)
    with pytest.raises(BackendError):
        backend.generate(request, lambda _f: None)


def test_new_requests_are_held_to_twenty_seconds_but_extensions_render_longer():
    backend = _backend()
    assert backend.max_duration_s == 20
    assert backend.refusal("video", 1280, 720, 20.5)  # creators ask for 1..20 s
    assert backend.can_extend
    # the extend edit renders the source request again, longer: same frames, then more
    source = backend.generate(_request(duration_s=1.0), lambda _f: None)[0]
    longer = backend.generate(_request(duration_s=2.0), lambda _f: None)[0]
    assert probe(longer.data).frames == 48
    first, extended = list(decode(source.data)), list(decode(longer.data))
    # encoded separately, so compare the decoded pictures with a little codec tolerance
    assert _diff(first[12], extended[12]) < 1.0


def test_video_sizes_are_the_services_sizes():
    backend = _backend()
    expected = {
        dimensions("video", ratio, quality)
        for ratio in ("1:1", "16:9", "9:16", "4:5")
        for quality in ("draft", "final")
    }
    assert set(backend.video_sizes) == expected
    assert len(backend.video_sizes) == 8
    assert backend.refusal("video", 1920, 1080, 20) is None
    assert backend.refusal("video", 720, 1280, 1) is None
    info = backend.describe()
    assert info["kinds"] == ["image", "video"]
    assert info["max_duration_s"] == 20
    assert "1920x1080" in info["video_sizes"]
