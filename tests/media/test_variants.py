"""Originals as generated, variants in WebP and AVIF, metadata stripped from every served byte."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from apps.media import images, services
from apps.media.services import asset_create, asset_make_variants
from tests.media.conftest import SECRET, picture, png_of, png_with_metadata


def _image_asset(owner, im, data=None):
    data = data or png_of(im)
    return asset_create(owner=owner, data=data, mime="image/png", width=im.width, height=im.height)


def _served(client, url) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, url
    return b"".join(response.streaming_content)


def test_an_image_gets_webp_and_avif_thumbs_and_previews(alice):
    im = picture((1600, 1200))
    asset = _image_asset(alice, im)
    assert len(asset.phash) == 16 and int(asset.phash, 16) >= 0
    assert asset.placeholder.startswith("#") and len(asset.placeholder) == 7
    assert asset.bytes == default_storage.size(asset.original)

    variants = asset_make_variants(asset=asset)

    assert set(variants) == {"thumb", "thumb_avif", "preview", "preview_avif"}
    expected = {"thumb": ("WEBP", 320), "thumb_avif": ("AVIF", 320)}
    expected |= {"preview": ("WEBP", 1080), "preview_avif": ("AVIF", 1080)}
    for name, (fmt, longest) in expected.items():
        with default_storage.open(variants[name], "rb") as f, Image.open(f) as v:
            assert v.format == fmt
            assert max(v.size) == longest and v.size[0] / v.size[1] == pytest.approx(4 / 3, 0.01)


def test_small_images_are_never_upscaled(alice):
    asset = _image_asset(alice, picture((300, 200)))
    variants = asset_make_variants(asset=asset)
    with default_storage.open(variants["preview_avif"], "rb") as f, Image.open(f) as v:
        assert v.size == (300, 200)


def test_making_variants_again_changes_nothing_and_a_new_size_remakes_them(alice, monkeypatch):
    asset = _image_asset(alice, picture((1200, 800)))
    first = asset_make_variants(asset=asset)
    stamps = {name: default_storage.get_modified_time(p) for name, p in first.items()}

    assert asset_make_variants(asset=asset) == first
    asset.refresh_from_db()
    assert asset_make_variants(asset=asset) == first
    assert {n: default_storage.get_modified_time(p) for n, p in first.items()} == stamps

    monkeypatch.setitem(services.IMAGE_VARIANTS, "thumb", services.StillSpec(256, images.WEBP))
    assert set(services.variants_missing(asset)) == {"thumb"}
    second = asset_make_variants(asset=asset)
    assert second["thumb"] != first["thumb"]
    assert {n: p for n, p in second.items() if n != "thumb"} == {
        n: p for n, p in first.items() if n != "thumb"
    }
    with default_storage.open(second["thumb"], "rb") as f, Image.open(f) as v:
        assert max(v.size) == 256
    assert asset_make_variants(asset=asset) == second


def test_metadata_is_stripped_from_every_byte_served(alice, api):
    im = picture((1400, 900), seed=3)
    dirty = png_with_metadata(im)
    assert SECRET in dirty and b"eXIf" in dirty
    asset = _image_asset(alice, im, data=dirty)
    asset_make_variants(asset=asset)
    client = api(alice)

    original = _served(client, f"/media/assets/{asset.id}/original")
    assert SECRET not in original
    assert images.png_chunks(original) == [b"IHDR", b"IDAT", b"IEND"] or set(
        images.png_chunks(original)
    ) <= {b"IHDR", b"IDAT", b"IEND"}
    with Image.open(io.BytesIO(original)) as o:
        assert not o.info.get("exif") and "XML:com.adobe.xmp" not in o.info
        assert not o.getexif()
        # The pixels are exactly those generated: stripping never re-encodes.
        assert o.convert("RGB").tobytes() == im.tobytes()

    for name in ("thumb", "thumb_avif", "preview", "preview_avif"):
        body = _served(client, f"/media/assets/{asset.id}/{name}")
        assert SECRET not in body
        for marker in (b"Exif", b"EXIF", b"XMP ", b"xmpmeta", b"GPS"):
            assert marker not in body, (name, marker)
        with Image.open(io.BytesIO(body)) as v:
            assert not v.info.get("exif") and not v.info.get("xmp")


def test_perceptual_hashes_find_near_duplicates(alice):
    im = picture((800, 600), seed=5)
    one = _image_asset(alice, im)
    slightly = _image_asset(alice, im.resize((780, 585)).convert("RGB"))
    other = _image_asset(alice, picture((800, 600), seed=40).rotate(90, expand=True))
    assert one.sha256 != slightly.sha256
    assert images.hamming(one.phash, slightly.phash) <= 6
    assert images.hamming(one.phash, other.phash) >= 16


def test_identical_content_shares_its_files(alice, bob):
    data = png_of(picture((400, 400), seed=8))
    a = asset_create(owner=alice, data=data, mime="image/png", width=400, height=400)
    b = asset_create(owner=bob, data=data, mime="image/png", width=400, height=400)
    assert a.original == b.original
    assert asset_make_variants(asset=a) == asset_make_variants(asset=b)
