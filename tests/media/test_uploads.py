"""Untrusted files: the avatar upload through media's one entry point."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from apps.media import images, uploads, video
from apps.media.models import Asset
from tests.media.conftest import SECRET, _chunk, picture, png_of, png_with_metadata


def _put(client, data: bytes, name="me.png", content_type="image/png"):
    return client.put(
        "/api/v1/me/avatar",
        {"file": SimpleUploadedFile(name, data, content_type=content_type)},
        format="multipart",
    )


def _files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _assert_refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"]["code"] == code and body["error"]["message"]
    assert "file" in body["error"]["fields"]
    assert Asset.objects.count() == 0 and _files() == []  # nothing left behind


def _bomb_png(side: int) -> bytes:
    """A 1-bit PNG of side x side pixels: tiny on disk, huge once decoded."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    idat = zlib.compress(row * side, 9)
    chunk = _chunk
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return images.PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_an_avatar_upload_is_stored_clean_and_shown_to_everyone(alice, api, anon):
    response = _put(api(alice), png_with_metadata(picture((600, 400), seed=2)))
    assert response.status_code == 200, response.content
    url = response.json()["avatar_url"]
    assert url.startswith("/media/assets/")
    assert api(alice).get("/api/v1/me").json()["avatar_url"] == url
    assert anon.get("/api/v1/users/alice").json()["avatar_url"] == url

    served = anon.get(url)  # the thumbnail is not made yet: the original stands in
    assert served.status_code == 200
    body = b"".join(served.streaming_content)
    assert SECRET not in body and b"eXIf" not in body and b"iTXt" not in body
    with Image.open(io.BytesIO(body)) as im:
        assert im.format == "PNG" and im.size == (600, 400)


def test_a_jpeg_avatar_loses_its_gps_and_is_turned_upright(alice, api):
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 2.5)}
    exif[0x0112] = 6  # rotated: the camera was held on its side
    out = io.BytesIO()
    picture((300, 200)).save(out, "JPEG", exif=exif.tobytes(), quality=90)
    assert _put(api(alice), out.getvalue(), "me.jpg", "image/jpeg").status_code == 200
    asset = Asset.objects.get(owner=alice)
    assert asset.mime == "image/png" and (asset.width, asset.height) == (200, 300)
    data = (Path(settings.MEDIA_ROOT) / asset.original).read_bytes()
    assert b"Exif" not in data and b"GPS" not in data


def test_replacing_an_avatar_deletes_the_old_one(alice, api, django_capture_on_commit_callbacks):
    _put(api(alice), png_of(picture((64, 64), seed=1)))
    first = Asset.objects.get(owner=alice)
    with django_capture_on_commit_callbacks(execute=True):  # the old one goes after commit
        _put(api(alice), png_of(picture((64, 64), seed=2)))
    assert list(Asset.objects.filter(owner=alice)) != [first]
    assert not Asset.objects.filter(id=first.id).exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert api(alice).delete("/api/v1/me/avatar").json()["avatar_url"] is None
    assert Asset.objects.filter(owner=alice).count() == 0


def test_too_large_a_file_is_refused_with_413(alice, api):
    data = png_of(picture((64, 64))) + b"\x00" * (5 * 1024 * 1024)
    _assert_refused(_put(api(alice), data), 413, "payload_too_large")


def test_a_decompression_bomb_is_refused(alice, api, settings):
    # Pillow's own warning (past ~89 million pixels) counts as a refusal, whatever our cap.
    settings.MEDIA_UPLOAD_MAX_PIXELS = 10**10
    bomb = _bomb_png(12_000)
    assert len(bomb) < 100_000
    _assert_refused(_put(api(alice), bomb), 413, "payload_too_large")
    # And our own, lower pixel cap.
    settings.MEDIA_UPLOAD_MAX_PIXELS = 1_000_000
    _assert_refused(_put(api(alice), _bomb_png(2_000)), 413, "payload_too_large")


@pytest.mark.parametrize(
    "data, name",
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "x.svg"),
        (b"<!doctype html><script>alert(1)</script>", "x.png"),
        (b"%PDF-1.7\n", "x.png"),
        (b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00", "x.png"),  # AVIF: not accepted from users
    ],
)
def test_files_of_other_types_are_refused_with_415_whatever_they_are_called(alice, api, data, name):
    _assert_refused(_put(api(alice), data, name), 415, "unsupported_media_type")


def test_a_polyglot_is_refused(alice, api):
    # A real PNG with a page appended: a browser sniffing it might run it as HTML.
    polyglot = png_of(picture((32, 32))) + b"<html><script>alert(document.cookie)</script></html>"
    _assert_refused(_put(api(alice), polyglot), 415, "unsupported_media_type")
    # A JPEG that is also a ZIP archive.
    out = io.BytesIO()
    picture((32, 32)).save(out, "JPEG")
    zipped = out.getvalue() + b"PK\x03\x04" + b"\x14\x00" * 20 + b"PK\x05\x06" + b"\x00" * 18
    _assert_refused(_put(api(alice), zipped, "x.jpg", "image/jpeg"), 415, "unsupported_media_type")


def test_a_corrupt_picture_and_an_empty_file_are_refused_with_400(alice, api):
    truncated = png_of(picture((64, 64)))
    broken = truncated[:60] + b"\x00" * 30 + truncated[-12:]
    _assert_refused(_put(api(alice), broken), 400, "invalid")
    _assert_refused(_put(api(alice), b""), 400, "invalid")


def test_a_video_is_not_an_avatar(alice, api, make_video_asset, bob):
    clip = make_video_asset(bob, seconds=0.5)
    data = (Path(settings.MEDIA_ROOT) / clip.original).read_bytes()
    response = _put(api(alice), data, "me.mp4", "video/mp4")
    assert response.status_code == 415 and not Asset.objects.filter(owner=alice).exists()


def test_clips_are_probed_with_limits_before_anything_is_decoded(alice, make_video_asset):
    clip = make_video_asset(alice, seconds=1.0)
    data = (Path(settings.MEDIA_ROOT) / clip.original).read_bytes()
    clean = uploads.upload_clean(data)
    assert clean.mime == "video/mp4" and (clean.width, clean.height) == (320, 180)
    assert clean.fps == pytest.approx(24)
    for limits in (
        video.ProbeLimits(max_side=200),
        video.ProbeLimits(max_duration_s=0.5),
        video.ProbeLimits(max_streams=0),
        video.ProbeLimits(codecs=("vp9",)),
    ):
        with pytest.raises(video.ProbeRefused):
            video.probe_untrusted(data, limits)
    with pytest.raises(uploads.ApplicationError) as refused:
        uploads.upload_clean(data + b"<html><script>alert(1)</script></html>")
    assert refused.value.status in (400, 415)


def test_the_profile_page_uploads_and_shows_a_picture(client, alice, bob):
    client.force_login(alice)
    upload = SimpleUploadedFile("me.png", png_of(picture((120, 120))), content_type="image/png")
    response = client.post("/settings/avatar", {"file": upload}, follow=True)
    assert response.status_code == 200
    alice.refresh_from_db()
    html = response.content.decode()
    assert f'src="/media/assets/{alice.avatar_id}/thumb"' in html
    assert "Your profile picture is updated." in html

    bad = SimpleUploadedFile("me.png", b"<html></html>", content_type="image/png")
    html = client.post("/settings/avatar", {"file": bad}, follow=True).content.decode()
    assert "Upload one of: PNG, JPEG, WEBP, GIF." in html
    client.force_login(bob)
    assert 'data-testid="avatar-form"' not in client.get("/u/alice").content.decode()


def test_an_uploaded_clip_loses_its_metadata_but_not_its_frames(tmp_path):
    import av
    import numpy as np

    path = tmp_path / "tagged.mp4"
    with av.open(str(path), mode="w") as out:
        out.metadata["title"] = SECRET.decode()
        out.metadata["location"] = "+51.5007-000.1246/"
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.metadata["handler_name"] = SECRET.decode()
        for i in range(12):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 20, np.uint8), "rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    data = path.read_bytes()
    assert SECRET in data

    clean = uploads.upload_clean(data)

    assert SECRET not in clean.data and b"+51.5007" not in clean.data
    assert (clean.width, clean.height) == (64, 48)
    assert video.probe(clean.data).frames == video.probe(data).frames


def test_an_upload_that_takes_too_long_is_refused(alice, api, settings):
    settings.MEDIA_UPLOAD_TIME_LIMIT_S = 0.001
    _assert_refused(_put(api(alice), png_of(picture((1500, 1500)))), 400, "invalid")
