"""Clips get H.264 renditions, a poster and a short muted loop for grids."""

from __future__ import annotations

import av
import pytest
from django.core.files.storage import default_storage

from apps.media import video
from apps.media.services import asset_make_variants


def _read(path: str) -> bytes:
    with default_storage.open(path, "rb") as f:
        return f.read()


def test_a_720p_clip_gets_a_480p_rendition_a_loop_and_posters(alice, make_video_asset):
    clip = make_video_asset(alice, seconds=1.0, size=(1280, 720))
    assert clip.fps == pytest.approx(24) and len(clip.phash) == 16

    variants = asset_make_variants(asset=clip)

    # 720p would not be smaller than the original, so there is none.
    assert set(variants) == {"thumb", "thumb_avif", "poster", "poster_avif", "video_480p", "loop"}
    rendition = video.probe(_read(variants["video_480p"]))
    assert (rendition.width, rendition.height) == (854, 480)
    assert rendition.codec == "h264" and rendition.pix_fmt == "yuv420p"
    assert rendition.duration_s == pytest.approx(1.0, abs=0.1)
    loop = video.probe(_read(variants["loop"]))
    assert (loop.width, loop.height) == (480, 270)
    with av.open(default_storage.path(variants["loop"])) as container:
        assert not container.streams.audio  # muted
    assert asset_make_variants(asset=clip) == variants


def test_a_grid_loop_is_a_few_seconds_of_the_clip(alice, make_video_asset):
    clip = make_video_asset(alice, seconds=4.0)
    loop = video.probe(_read(asset_make_variants(asset=clip)["loop"]))
    assert loop.duration_s == pytest.approx(3.0, abs=0.1)
