"""Media on an S3-compatible store (moto's server, over real HTTP) through django-storages."""

from __future__ import annotations

import io
import urllib.request

from django.core.files.storage import default_storage
from PIL import Image

from apps.media.services import asset_create, asset_make_variants
from tests.media.conftest import picture, png_of


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_originals_and_variants_round_trip_through_s3(s3_storage, alice, api, settings):
    data = png_of(picture((1200, 900), seed=11))
    asset = asset_create(owner=alice, data=data, mime="image/png", width=1200, height=900)
    variants = asset_make_variants(asset=asset)

    stored = {
        o["Key"]: o["Size"]
        for o in s3_storage.list_objects_v2(Bucket=s3_storage.bucket)["Contents"]
    }
    assert stored[asset.original] == len(data)
    assert set(variants.values()) <= set(stored)
    assert default_storage.exists(asset.original)

    client = api(alice)
    original = client.get(f"/media/assets/{asset.id}/original")
    assert original.status_code == 200 and _body(original) == data
    part = client.get(f"/media/assets/{asset.id}/original", HTTP_RANGE="bytes=8-39")
    assert part.status_code == 206 and _body(part) == data[8:40]
    assert part["Content-Range"] == f"bytes 8-39/{len(data)}"
    assert (
        client.get(
            f"/media/assets/{asset.id}/original", HTTP_RANGE=f"bytes={len(data)}-"
        ).status_code
        == 416
    )

    preview = client.get(f"/media/assets/{asset.id}/preview_avif")
    assert preview["Content-Type"] == "image/avif"

    with Image.open(io.BytesIO(_body(preview))) as im:
        assert im.format == "AVIF" and max(im.size) == 1080

    # Running again finds everything in the bucket and changes nothing.
    assert asset_make_variants(asset=asset, verify=True) == variants

    # Objects are private: the bucket answers nothing without a signature.
    endpoint = s3_storage.meta.endpoint_url
    try:
        urllib.request.urlopen(f"{endpoint}/{s3_storage.bucket}/{asset.original}")
        raise AssertionError("the object was readable without a signature")
    except urllib.error.HTTPError as e:
        assert e.code == 403


def test_permitted_requests_can_go_straight_to_s3_with_a_presigned_url(
    s3_storage, alice, bob, api, settings
):
    settings.MEDIA_S3_REDIRECT_S = 60
    data = png_of(picture((300, 200), seed=12))
    asset = asset_create(owner=alice, data=data, mime="image/png", width=300, height=200)

    assert api(bob).get(f"/media/assets/{asset.id}/original").status_code == 404
    response = api(alice).get(f"/media/assets/{asset.id}/original")
    assert response.status_code == 302 and response["Cache-Control"] == "no-store"
    location = response["Location"]
    assert "Signature=" in location or "X-Amz-Signature=" in location
    with urllib.request.urlopen(location) as fetched:
        assert fetched.read() == data
        assert fetched.headers["Content-Type"] == "image/png"


def test_the_release_step_creates_a_missing_bucket(s3_storage, settings):
    from django.core.management import call_command

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            **settings.STORAGES["default"],
            "OPTIONS": {**settings.STORAGES["default"]["OPTIONS"], "bucket_name": "vivid-new"},
        },
    }
    out = io.StringIO()
    call_command("media_storage_init", stdout=out)
    assert "Created bucket vivid-new." in out.getvalue() and "works" in out.getvalue()
    assert any(b["Name"] == "vivid-new" for b in s3_storage.list_buckets()["Buckets"])
    out = io.StringIO()
    call_command("media_storage_init", stdout=out)  # again: nothing to create
    assert "Created" not in out.getvalue()
