"""Who may fetch media, how it is cached, byte ranges, and signed links."""

from __future__ import annotations

import time

import pytest
from django.core import signing as django_signing
from rest_framework.test import APIClient

from apps.media import signing
from apps.media.services import asset_make_variants


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _post(api, author, asset, visibility):
    response = api(author).post(
        "/api/v1/posts", {"asset_id": asset.id, "visibility": visibility}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def clip(alice, make_video_asset):
    return make_video_asset(alice, seconds=1.0)


def test_range_requests_let_a_browser_scrub_a_video(alice, clip, api):
    client = api(alice)
    url = f"/media/assets/{clip.id}/original"
    whole = _body(client.get(url))
    assert len(whole) == clip.bytes and whole[4:8] == b"ftyp"

    part = client.get(url, HTTP_RANGE="bytes=100-1099")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-1099/{clip.bytes}"
    assert part["Content-Length"] == "1000" and part["Accept-Ranges"] == "bytes"
    assert _body(part) == whole[100:1100]

    tail = client.get(url, HTTP_RANGE="bytes=-500")
    assert tail.status_code == 206 and _body(tail) == whole[-500:]
    assert tail["Content-Range"] == f"bytes {clip.bytes - 500}-{clip.bytes - 1}/{clip.bytes}"

    open_ended = client.get(url, HTTP_RANGE=f"bytes={clip.bytes - 10}-")
    assert open_ended.status_code == 206 and _body(open_ended) == whole[-10:]

    past_end = client.get(url, HTTP_RANGE=f"bytes={clip.bytes}-{clip.bytes + 10}")
    assert past_end.status_code == 416
    assert past_end["Content-Range"] == f"bytes */{clip.bytes}"

    # A malformed header, or one naming another version, gets the whole file.
    assert client.get(url, HTTP_RANGE="bytes=abc").status_code == 200
    stale = client.get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"other"')
    assert stale.status_code == 200 and _body(stale) == whole


def test_public_media_are_cached_for_good_and_others_are_revalidated(
    alice, bob, api, make_asset, anon
):
    public = make_asset(alice)
    asset_make_variants(asset=public)
    _post(api, alice, public, "public")
    library = make_asset(alice)

    response = anon.get(f"/media/assets/{public.id}/preview")
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response["Content-Type"] == "image/webp"
    etag = response["ETag"]
    again = anon.get(f"/media/assets/{public.id}/preview", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304

    own = api(alice).get(f"/media/assets/{library.id}/original")
    assert own.status_code == 200 and own["Content-Type"] == "image/png"
    assert own["Cache-Control"] == "private, no-cache"
    assert "Cookie" in own["Vary"]


def test_private_media_are_refused_to_others(alice, bob, carol, api, anon, make_asset, follow):
    follow(bob, alice)
    shown = {v: make_asset(alice) for v in ("followers", "private")}
    for visibility, asset in shown.items():
        _post(api, alice, asset, visibility)
    library = make_asset(alice)

    def status(client, asset):
        return client.get(f"/media/assets/{asset.id}/original").status_code

    assert status(api(bob), shown["followers"]) == 200  # a follower
    for client in (api(carol), anon):
        assert status(client, shown["followers"]) == 404
    for client in (api(bob), api(carol), anon):
        assert status(client, shown["private"]) == 404
        assert status(client, library) == 404  # the Library is its owner's alone
    for asset in (*shown.values(), library):
        assert status(api(alice), asset) == 200


def test_a_deleted_posts_media_are_unreachable_at_once(alice, bob, api, make_asset, follow):
    follow(bob, alice)
    asset = make_asset(alice)
    post = _post(api, alice, asset, "followers")
    detail = api(bob).get(f"/api/v1/assets/{asset.id}").json()
    signed = detail["original_url"]
    assert signed.startswith("/media/s/")
    assert APIClient().get(signed).status_code == 200

    assert api(alice).delete(f"/api/v1/posts/{post['id']}").status_code == 204

    assert api(bob).get(f"/media/assets/{asset.id}/original").status_code == 404
    assert APIClient().get(signed).status_code == 404  # the link was handed out before
    assert api(alice).get(f"/media/assets/{asset.id}/original").status_code == 200


def test_signed_links_work_without_credentials_until_they_expire(
    alice, bob, api, make_asset, follow, monkeypatch
):
    follow(bob, alice)
    asset = make_asset(alice)
    asset_make_variants(asset=asset)
    _post(api, alice, asset, "followers")
    body = api(bob).get(f"/api/v1/assets/{asset.id}").json()
    assert set(body["variants"]) >= {"thumb", "preview", "thumb_avif", "preview_avif"}
    link = body["variants"]["preview_avif"]
    response = APIClient().get(link)
    assert response.status_code == 200 and response["Content-Type"] == "image/avif"
    assert response["Cache-Control"] == "private, no-cache"

    # A link issued more than MEDIA_SIGNED_URL_TTL_S ago no longer works.
    issued = time.time() - 3601
    monkeypatch.setattr(
        django_signing.TimestampSigner,
        "timestamp",
        lambda self: django_signing.b62_encode(int(issued)),
    )
    old = signing.signed_url(asset_id=asset.id, variant="original", viewer_id=bob.id)
    monkeypatch.undo()
    assert APIClient().get(old).status_code == 403
    fresh = signing.signed_url(asset_id=asset.id, variant="original", viewer_id=bob.id)
    assert APIClient().get(fresh).status_code == 200

    # A tampered link, or one naming someone who may not see the asset, is nothing.
    token = fresh.rsplit("/", 1)[-1]
    forged = token.replace(f".{bob.id}:", f".{bob.id + 1}:")
    assert APIClient().get(f"/media/s/{forged}").status_code == 404


def test_public_media_in_the_api_have_plain_cacheable_urls(alice, api, make_asset, anon):
    asset = make_asset(alice)
    asset_make_variants(asset=asset)
    _post(api, alice, asset, "public")
    body = api(alice).get(f"/api/v1/assets/{asset.id}").json()
    assert body["original_url"] == f"/media/assets/{asset.id}/original"
    assert body["variants"]["thumb"].startswith(f"/media/assets/{asset.id}/thumb?v=")
    assert anon.get(body["variants"]["thumb"]).status_code == 200
    assert body["fps"] is None and len(body["phash"]) == 16


def test_head_answers_the_size_without_the_body(alice, api, make_asset):
    asset = make_asset(alice)
    response = api(alice).head(f"/media/assets/{asset.id}/original")
    assert response.status_code == 200
    assert response["Content-Length"] == str(asset.bytes)
    assert _body(response) == b""
    assert api(alice).post(f"/media/assets/{asset.id}/original").status_code == 405
