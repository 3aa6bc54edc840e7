"""Verify any copy: ``POST /api/v1/provenance/verify`` finds exact and near copies of what a
viewer may see, with the distance, and says nothing about the rest."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from django.db import transaction
from PIL import Image, ImageEnhance, ImageOps

from apps.core import ratelimit
from apps.generation.backends.procedural.render import render_scene
from apps.generation.models import GenerationJob
from apps.media import images, video
from apps.media.models import Asset
from apps.media.services import asset_create
from apps.provenance import matching, services
from apps.provenance.matching_models import PerceptualKey

pytestmark = pytest.mark.django_db

PROMPT = "a lighthouse on a cliff at sunset with clouds"


@pytest.fixture(autouse=True)
def _fresh_rate_limit():
    """Every test starts with the test client's address not yet counted."""
    ratelimit.client().delete(ratelimit.counter_key("verify", "127.0.0.1"))
    yield
    ratelimit.client().delete(ratelimit.counter_key("verify", "127.0.0.1"))


def png(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def jpeg(im: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    im.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def scene(prompt: str = PROMPT, seed: int = 3, size: int = 512) -> Image.Image:
    rgb = render_scene(prompt, "", seed, size, size, "draft", progress=lambda f: None)
    return Image.fromarray(rgb)


@pytest.fixture
def generated():
    """``generated(owner, prompt=...)``: a procedural picture stored as a generation's result,
    with its provenance record, as the generation worker stores it."""

    def make(owner, prompt: str = PROMPT, seed: int = 3) -> Asset:
        im = scene(prompt, seed)
        with transaction.atomic():
            job = GenerationJob.objects.create(
                owner=owner,
                kind="image",
                prompt=prompt,
                backend="procedural",
                seed=seed,
                params={"width": 512, "height": 512, "quality": "draft"},
                status="succeeded",
            )
            asset = asset_create(
                owner=owner, data=png(im), mime="image/png", width=512, height=512, job=job
            )
            services.record_write(asset=asset, job=job)
        return asset

    return make


@pytest.fixture
def post_asset(api):
    def do(author, asset, visibility="public", **extra) -> dict:
        response = api(author).post(
            "/api/v1/posts",
            {"asset_id": asset.id, "caption": "hi", "visibility": visibility, **extra},
            format="json",
        )
        assert response.status_code == 201, response.content
        return response.json()

    return do


def check(client, data: bytes, name: str = "found.png"):
    upload = io.BytesIO(data)
    upload.name = name
    return client.post("/api/v1/provenance/verify", {"file": upload}, format="multipart")


def served_original(client, post: dict) -> bytes:
    url = client.get(f"/api/v1/posts/{post['id']}").json()["asset"]["original_url"]
    response = client.get(url)
    assert response.status_code == 200
    content = getattr(response, "streaming_content", None)
    return b"".join(content) if content is not None else response.content


def test_exact_copy_of_a_served_file_is_found_by_its_sha256(anon, alice, generated, post_asset):
    asset = generated(alice)
    post = post_asset(alice, asset)
    data = served_original(anon, post)

    response = check(anon, data)

    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body["c2pa"]) >= {"present", "valid", "claims"}
    best = body["matches"][0]
    assert best["method"] == "sha256" and best["distance"] == 0
    assert best["provenance_id"] == str(asset.provenance.id)
    assert best["post_id"] == post["id"]
    assert body["record"]["id"] == str(asset.provenance.id)
    assert body["record"]["prompt"] == PROMPT  # shown: the creator did not hide it
    assert body["record"]["asset_sha256"] == asset.sha256


def _crop(im: Image.Image, fraction: float) -> Image.Image:
    w, h = im.size
    dx, dy = round(w * fraction), round(h * fraction)
    return im.crop((dx, dy, w - dx, h - dy))


def _hue_turn(im: Image.Image, steps: int) -> Image.Image:
    h, s, v = im.convert("HSV").split()
    return Image.merge("HSV", (h.point(lambda x: (x + steps) % 256), s, v)).convert("RGB")


NEAR_COPIES = {
    # A copy saved again as a JPEG at half the size: the commonest copy on the web.
    "jpeg_q60_resized_half": lambda im: jpeg(im.resize((256, 256), Image.Resampling.BILINEAR), 60),
    # A screenshot-like crop of 2 % off every side, re-saved as JPEG.
    "light_crop": lambda im: jpeg(_crop(im, 0.02), 85),
    # Recoloured: warmer and more saturated, brighter, hue turned.
    "recolour": lambda im: png(
        ImageEnhance.Brightness(ImageEnhance.Color(_hue_turn(im, 20)).enhance(1.4)).enhance(1.1)
    ),
    "greyscale_webp": lambda im: _webp(ImageOps.grayscale(im)),
}


def _webp(im: Image.Image) -> bytes:
    out = io.BytesIO()
    im.save(out, "WEBP", quality=70)
    return out.getvalue()


@pytest.mark.parametrize("edit", sorted(NEAR_COPIES))
def test_near_copy_is_found_by_its_look_with_the_distance(edit, anon, alice, generated, post_asset):
    asset = generated(alice)
    post = post_asset(alice, asset)
    generated(alice, prompt="a neon city street at night in the rain", seed=11)  # not this one
    copy = NEAR_COPIES[edit](scene())
    with Image.open(io.BytesIO(copy)) as im:
        expected = images.hamming(asset.phash, images.perceptual_hash(im))

    response = check(anon, copy, "copy.jpg")

    assert response.status_code == 200, response.content
    body = response.json()
    assert [(m["asset_id"], m["method"]) for m in body["matches"]] == [
        (str(asset.id), "perceptual")
    ]
    match = body["matches"][0]
    assert match["distance"] == expected <= matching.MAX_DISTANCE
    assert match["provenance_id"] == str(asset.provenance.id)
    assert match["post_url"] == f"/p/{post['id']}"
    assert body["record"]["id"] == str(asset.provenance.id)


def test_an_unrelated_picture_matches_nothing(anon, alice, generated, post_asset):
    post_asset(alice, generated(alice))
    post_asset(alice, generated(alice, prompt="snowy mountain village at dawn", seed=5))
    other = scene("a desert with dunes at noon under a clear sky", seed=9)

    response = check(anon, jpeg(other, 80), "other.jpg")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["matches"] == []
    assert "record" not in body
    assert body["c2pa"]["present"] is False


def test_a_private_asset_is_never_matched_for_others(
    api, anon, alice, bob, carol, generated, post_asset
):
    library = generated(alice)  # in alice's Library, never published
    followers_only = generated(alice, prompt="an autumn forest in fog", seed=4)
    post_asset(alice, followers_only, visibility="followers")
    from apps.social.models import Follow

    Follow.objects.create(follower=carol, followee=alice)

    for viewer, client in ((None, anon), (bob, api(bob))):
        for asset in (library, followers_only):
            data = png(scene()) if asset is library else png(scene("an autumn forest in fog", 4))
            body = check(client, data).json()
            assert body["matches"] == [], (viewer, asset)
            assert "record" not in body
            assert str(asset.id) not in str(body) and asset.sha256 not in str(body["matches"])
    # Someone alice blocked does not find her public posts either.
    public = generated(alice, prompt="a windmill by a canal at noon", seed=6)
    post_asset(alice, public)
    from apps.social.models import Block

    Block.objects.create(blocker=alice, blocked=bob)
    copy = png(scene("a windmill by a canal at noon", 6))
    assert check(api(bob), copy).json()["matches"] == []
    assert check(anon, copy).json()["matches"][0]["asset_id"] == str(public.id)
    # Alice sees her own Library; a follower sees the followers-only post.
    assert check(api(alice), png(scene())).json()["matches"][0]["asset_id"] == str(library.id)
    found = check(api(carol), png(scene("an autumn forest in fog", 4))).json()["matches"]
    assert [m["asset_id"] for m in found] == [str(followers_only.id)]


def test_a_hidden_prompt_is_never_in_the_answer(api, anon, alice, bob, generated, post_asset):
    asset = generated(alice, prompt="secret recipe lighthouse moonrise", seed=8)
    post = post_asset(alice, asset, hide_prompt=True)
    exact = served_original(api(alice), post)
    near = jpeg(scene("secret recipe lighthouse moonrise", 8).resize((300, 300)), 70)

    for client in (anon, api(bob)):
        for data in (exact, near):
            response = check(client, data)
            assert response.status_code == 200, response.content
            assert b"secret recipe" not in response.content
            body = response.json()
            assert body["matches"][0]["asset_id"] == str(asset.id)
            assert body["record"]["prompt"] is None and body["record"]["prompt_hidden"] is True
    # Its creator still sees it.
    mine = check(api(alice), exact).json()
    assert mine["record"]["prompt"] == "secret recipe lighthouse moonrise"


def test_each_address_is_rate_limited_with_retry_after(anon, settings):
    settings.VERIFY_RATE_LIMIT = 2
    data = png(scene(size=128))
    assert check(anon, data).status_code == 200
    assert check(anon, data).status_code == 200

    response = check(anon, data)

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 0 < int(response["Retry-After"]) <= 60
    # Another address is not held back.
    upload = io.BytesIO(data)
    upload.name = "a.png"
    other = anon.post(
        "/api/v1/provenance/verify", {"file": upload}, format="multipart", REMOTE_ADDR="10.9.8.7"
    )
    ratelimit.client().delete(ratelimit.counter_key("verify", "10.9.8.7"))
    assert other.status_code == 200


def test_ipv6_clients_are_counted_by_their_64_block(anon, settings):
    settings.VERIFY_RATE_LIMIT = 1
    data = png(scene(size=96))
    key = ratelimit.counter_key("verify", "2001:db8:1:2::/64")
    ratelimit.client().delete(key)

    def from_address(address: str):
        upload = io.BytesIO(data)
        upload.name = "a.png"
        return anon.post(
            "/api/v1/provenance/verify", {"file": upload}, format="multipart", REMOTE_ADDR=address
        )

    try:
        assert from_address("2001:db8:1:2::1").status_code == 200
        refused = from_address("2001:db8:1:2:ffff::9")  # a new address in the same block
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
    finally:
        ratelimit.client().delete(key)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def _png_bomb(side: int) -> bytes:
    """A valid PNG of ``side`` x ``side`` black pixels: tiny compressed, huge decoded."""
    raw = zlib.compress(b"".join(b"\x00" + b"\x00" * side for _ in range(side)), 9)
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        images.PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", raw)
        + _png_chunk(b"IEND", b"")
    )


def _scan_bomb(scans: int = 3000) -> bytes:
    """A progressive JPEG whose last scan is repeated thousands of times: each scan makes a
    decoder walk every block again (seconds of CPU for a file of a few hundred KB)."""
    out = io.BytesIO()
    scene(size=256).save(out, "JPEG", quality=80, progressive=True)
    data = out.getvalue()
    last_scan = data.rfind(b"\xff\xda")
    scan = data[last_scan:-2]  # up to the end-of-image marker
    return data[:-2] + scan * scans + b"\xff\xd9"


HOSTILE = {
    "jpeg_scan_bomb": (_scan_bomb, 400, "invalid"),
    "truncated_png": (lambda: png(scene(size=256))[:5000], 400, "invalid"),
    "broken_png": (lambda: images.PNG_SIGNATURE + b"\x00" * 200, 400, "invalid"),
    "lying_type": (
        lambda: b"<html><script>alert(1)</script></html>",
        415,
        "unsupported_media_type",
    ),
    "png_with_archive_after_it": (
        lambda: png(scene(size=64)) + b"PK\x03\x04" + b"\x00" * 100,
        415,
        "unsupported_media_type",
    ),
    "pixel_bomb": (lambda: _png_bomb(8000), 413, "payload_too_large"),
    "empty": (lambda: b"", 400, "invalid"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_or_broken_file_is_refused_in_the_error_shape(kind, anon, settings):
    make, status, code = HOSTILE[kind]
    before = Asset.objects.count()

    response = check(anon, make(), "x.png")

    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert Asset.objects.count() == before  # nothing kept
    media = settings.MEDIA_ROOT
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


def panning_clip() -> bytes:
    """Two seconds of a camera panning across a procedural scene, as Vivid encodes clips."""
    wide = scene("a harbour with boats at sunset", seed=2).resize((480, 180))
    pixels = np.asarray(wide)
    frames = (np.ascontiguousarray(pixels[:, i * 3 : i * 3 + 320]) for i in range(48))
    return video.encode(frames, width=320, height=180, quality="draft")


def test_a_clip_is_found_by_a_re_encoded_copy_and_by_a_still_of_it(anon, alice, post_asset):
    data = panning_clip()
    clip = asset_create(owner=alice, data=data, mime="video/mp4", width=320, height=180)
    post_asset(alice, clip)
    # Indexed by its poster and three keyframes.
    assert PerceptualKey.objects.filter(asset=clip).values("frame").distinct().count() == 4
    smaller = video.transcode(data, width=160, height=90, crf=35, preset="veryfast")
    still = jpeg(Image.fromarray(video.frame_at(data, 1.5)), 75)  # a screenshot 75 % in

    for copy, name in ((smaller, "clip.mp4"), (still, "still.jpg")):
        response = check(anon, copy, name)
        assert response.status_code == 200, response.content
        match = response.json()["matches"][0]
        assert match["asset_id"] == str(clip.id) and match["kind"] == "video"
        assert match["method"] == "perceptual" and match["distance"] <= matching.MAX_DISTANCE
    # The copy's own frames are reported as hashed.
    assert len(check(anon, smaller, "clip.mp4").json()["file"]["phash"]) == 4


def test_the_backfill_indexes_assets_stored_before_the_index(alice, generated):
    from django.core.management import call_command

    asset = generated(alice)
    PerceptualKey.objects.filter(asset=asset).delete()
    assert matching.near(asset.phash) == []

    call_command("perceptual_index", "--no-progress", stdout=io.StringIO())

    assert [n.asset_id for n in matching.near(asset.phash)] == [asset.id]
    assert matching.near(asset.phash)[0].distance == 0


@pytest.mark.django_db(transaction=True)
def test_a_served_preview_is_an_exact_copy_with_valid_credentials(celery_worker, api, anon, alice):
    """Through the real pipeline: a generated picture, signed, its variants made by the worker;
    the preview as the server sends it leads back to its record by hash and by credential."""
    from tests.helpers import wait_for

    client = api(alice)
    response = client.post(
        "/api/v1/generations",
        {"kind": "image", "prompt": "a red barn in a snowy field", "quality": "draft"},
        format="json",
    )
    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    job = wait_for(
        lambda: (j := GenerationJob.objects.get(id=job_id)).is_finished and j, timeout=120
    )
    assert job.status == "succeeded", job.error
    asset = job.assets.get()
    post = client.post(
        "/api/v1/posts", {"asset_id": asset.id, "visibility": "public"}, format="json"
    ).json()
    wait_for(lambda: "preview" in Asset.objects.get(id=asset.id).variants, timeout=120)
    served = anon.get(f"/media/assets/{asset.id}/preview")
    assert served.status_code == 200
    preview = b"".join(served.streaming_content) if served.streaming else served.content

    body = check(anon, preview, "preview.webp").json()

    record = asset.provenance
    assert body["matches"][0] == {
        **body["matches"][0],
        "method": "sha256",
        "distance": 0,
        "provenance_id": str(record.id),
        "post_id": post["id"],
    }
    assert body["c2pa"]["present"] and body["c2pa"]["valid"], body["c2pa"]
    assert body["c2pa"]["record_id"] == str(record.id)
    assert body["record"]["id"] == str(record.id)
    assert body["record"]["prompt"] == "a red barn in a snowy field"


def test_the_index_finds_every_hash_within_eleven_bits_and_nothing_past_the_threshold(
    alice, make_asset
):
    """The pigeonhole guarantee of four 16-bit bands probed within 2 bits, on the real index."""
    import random

    rng = random.Random(7)
    asset = make_asset(alice)
    stored = [rng.getrandbits(64) for _ in range(400)]
    PerceptualKey.objects.filter(asset=asset).delete()
    PerceptualKey.objects.bulk_create(matching.frame_rows(asset.id, [f"{h:016x}" for h in stored]))
    for frame, h in enumerate(stored[:150]):
        bits = rng.sample(range(64), rng.randint(0, 11))
        query = h
        for bit in bits:
            query ^= 1 << bit
        found = {(n.frame, n.distance) for n in matching.near(f"{query:016x}")}
        assert (frame, len(bits)) in found, (frame, bits)
    for frame, h in enumerate(stored[150:200], start=150):
        far = h
        for bit in rng.sample(range(64), 13):
            far ^= 1 << bit
        assert frame not in {n.frame for n in matching.near(f"{far:016x}")}


def test_a_crowd_of_private_look_alikes_does_not_hide_a_visible_match(
    monkeypatch, anon, alice, carol, generated, post_asset
):
    monkeypatch.setattr(matching, "MAX_CANDIDATES", 2)
    generated(alice)  # two identical pictures in alice's Library, nearest of all
    generated(alice)
    brighter = ImageEnhance.Brightness(scene()).enhance(1.05)
    shared = asset_create(owner=carol, data=png(brighter), mime="image/png", width=512, height=512)
    post_asset(carol, shared)

    body = check(anon, png(scene())).json()

    assert [m["asset_id"] for m in body["matches"]] == [str(shared.id)]
