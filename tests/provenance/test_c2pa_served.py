"""Content credentials in the files the server sends: every original and variant of a generated
picture, clip and edit reads back valid with c2pa-python, points at its provenance record, and
holds no prompt text, no thumbnail; a copy with one pixel changed does not validate."""

from __future__ import annotations

import hashlib
import io
import json

import c2pa as c2pa_lib
import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from apps.generation.models import GenerationJob
from apps.media.models import Asset
from apps.media.services import content_path
from apps.provenance import c2pa
from apps.provenance.embedding import asset_ids_for_file, record_for_file
from apps.provenance.selectors import record_for_asset
from tests.helpers import wait_for
from tests.provenance.test_c2pa import has_key, png_with_pixel_changed

pytestmark = pytest.mark.django_db(transaction=True)

# Words no scene vocabulary has, so finding any of them in a file can only be a leak.
PROMPT = "Quixotrel lighthouse under vermilion Zanthoprax aurora"
NEGATIVE = "Blorvingham fog"
SECRET_WORDS = ("quixotrel", "zanthoprax", "blorvingham", "vermilion aurora")

IMAGE_VARIANTS = ("thumb", "thumb_avif", "preview", "preview_avif")
VIDEO_VARIANTS = ("thumb", "poster", "poster_avif", "video_480p", "loop")


def finished(job_id):
    job = GenerationJob.objects.get(id=job_id)
    return job if job.is_finished else None


def run(client, path: str, body: dict) -> GenerationJob:
    response = client.post(path, body, format="json")
    assert response.status_code == 202, response.content
    job = wait_for(lambda: finished(response.json()["id"]), timeout=120)
    assert job.status == "succeeded", job.error
    return job


def with_variants(asset_id: int, names) -> Asset | None:
    asset = Asset.objects.get(id=asset_id)
    return asset if set(names) <= set(asset.variants) else None


def served(client, asset_id: int, variant: str) -> tuple[bytes, str]:
    response = client.get(f"/media/assets/{asset_id}/{variant}")
    assert response.status_code == 200, (variant, response.status_code)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return body, response["Content-Type"]


def publish(client, asset_id: int) -> None:
    response = client.post(
        "/api/v1/posts",
        {"asset_id": asset_id, "visibility": "public", "hide_prompt": True},
        format="json",
    )
    assert response.status_code == 201, response.content


def check_file(data: bytes, mime: str, record, rendition: str) -> dict:
    """What every served file must satisfy; returns what c2pa read."""
    result = c2pa.read(data, mime)
    assert result["present"] and result["valid"], (rendition, result["validation_errors"])
    assert result["record_id"] == str(record.id)
    assert result["record_hash"] == record.record_hash
    assert result["claims"]["vivid"]["rendition"] == rendition
    assert result["claims"]["ai_generated"]
    assert result["claims"]["generator"][0]["name"] == "Vivid"
    lowered = data.lower()
    for word in SECRET_WORDS:
        assert word.encode() not in lowered, (rendition, word)
        assert word.encode("utf-16-le") not in lowered, (rendition, word)
    with c2pa_lib.Reader(mime, io.BytesIO(data)) as reader:
        store = json.loads(reader.json())
    assert not has_key(store, "thumbnail"), rendition
    assert not any(w in json.dumps(store).lower() for w in SECRET_WORDS)
    # The exact bytes served lead back to the record.
    sha = hashlib.sha256(data).hexdigest()
    assert record_for_file(sha256=sha) == record
    assert asset_ids_for_file(sha256=sha) == {record.asset_id}
    return result


def test_a_generated_picture_and_every_served_variant_carry_valid_credentials(
    celery_worker, api, alice, anon
):
    job = run(
        api(alice),
        "/api/v1/generations",
        {
            "kind": "image",
            "quality": "draft",
            "prompt": PROMPT,
            "negative_prompt": NEGATIVE,
            "seed": 11,
        },
    )
    asset = job.assets.get()
    record = record_for_asset(asset=asset)
    assert record is not None and record.prompt == PROMPT
    publish(api(alice), asset.id)  # public, with the prompt hidden
    asset = wait_for(lambda: with_variants(asset.id, IMAGE_VARIANTS), timeout=120)

    original, mime = served(anon, asset.id, "original")
    assert mime == "image/png"
    result = check_file(original, mime, record, "original")
    assert [a["action"] for a in result["claims"]["actions"]] == ["c2pa.created"]
    # The stored original is the signed file: its hash is the asset's content address; the
    # record keeps the hash of what the backend produced, before the credential.
    assert (
        hashlib.sha256(original).hexdigest()
        == asset.sha256
        == record.files.get(rendition="original").sha256
    )
    assert record.asset_sha256 != asset.sha256
    # ... and no unsigned copy of it is left in storage.
    assert not default_storage.exists(content_path(record.asset_sha256, "png"))

    for variant in IMAGE_VARIANTS:
        data, mime = served(anon, asset.id, variant)
        assert mime in ("image/webp", "image/avif")
        result = check_file(data, mime, record, variant)
        assert [a["action"] for a in result["claims"]["actions"]] == [
            "c2pa.opened",
            "c2pa.resized",
        ]
        assert result["claims"]["ingredients"] == [
            {"title": "original", "relationship": "parentOf"}
        ]

    # A copy of the served original with one pixel changed no longer validates.
    tampered = c2pa.read(png_with_pixel_changed(original), "image/png")
    assert tampered["present"] and not tampered["valid"] and tampered["record_id"] is None
    assert {e["code"] for e in tampered["validation_errors"]} & set(c2pa.HASH_MISMATCH_CODES)

    # An edit of it (upscale) names the picture it came from.
    edit = run(api(alice), "/api/v1/edits", {"op": "upscale", "assets": [asset.id]})
    upscaled = edit.assets.get()
    edit_record = record_for_asset(asset=upscaled)
    data, mime = served(api(alice), upscaled.id, "original")
    result = check_file(data, mime, edit_record, "original")
    assert [a["action"] for a in result["claims"]["actions"]] == ["c2pa.opened", "c2pa.edited"]
    assert result["claims"]["ingredients"] == [{"title": "original", "relationship": "parentOf"}]
    assert edit_record.parents == [str(record.id)]


def test_a_generated_clip_its_poster_and_renditions_carry_valid_credentials(
    celery_worker, api, alice
):
    job = run(
        api(alice),
        "/api/v1/generations",
        {
            "kind": "video",
            "quality": "draft",
            "prompt": PROMPT,
            "negative_prompt": NEGATIVE,
            "duration_s": 1,
            "seed": 5,
        },
    )
    asset = job.assets.get()
    record = record_for_asset(asset=asset)
    client = api(alice)
    asset = wait_for(lambda: with_variants(asset.id, VIDEO_VARIANTS), timeout=180)

    original, mime = served(client, asset.id, "original")
    assert mime == "video/mp4"
    assert [
        a["action"] for a in check_file(original, mime, record, "original")["claims"]["actions"]
    ] == ["c2pa.created"]
    assert hashlib.sha256(original).hexdigest() == asset.sha256

    expected = {
        "thumb": "c2pa.edited",
        "poster": "c2pa.edited",
        "poster_avif": "c2pa.edited",
        "video_480p": "c2pa.transcoded",
        "loop": "c2pa.edited",
    }
    for variant, action in expected.items():
        data, mime = served(client, asset.id, variant)
        result = check_file(data, mime, record, variant)
        assert [a["action"] for a in result["claims"]["actions"]] == ["c2pa.opened", action]

    # One byte of the served clip's picture data changed: the BMFF hash no longer matches.
    tampered = bytearray(original)
    tampered[original.index(b"mdat") + 500] ^= 0x01
    result = c2pa.read(bytes(tampered), "video/mp4")
    assert result["present"] and not result["valid"]
    assert {e["code"] for e in result["validation_errors"]} & set(c2pa.HASH_MISMATCH_CODES)


def test_an_asset_recorded_after_it_was_stored_is_signed_when_media_rebuild_runs(
    alice, api, make_asset
):
    """Assets from before records existed: the backfill writes the record, and the next variant
    run (``make_variants`` or ``manage.py media_rebuild``) signs the original, then variants.
    One whose origin is unknown (no job: an upload, say) stays without credentials."""
    from apps.media.services import asset_create, asset_make_variants
    from apps.provenance.services import record_backfill
    from tests.conftest import png_bytes

    job = GenerationJob.objects.create(
        owner=alice,
        kind="image",
        prompt=PROMPT,
        backend="procedural",
        seed=3,
        status="succeeded",
        params={"width": 64, "height": 64, "quality": "draft"},
    )
    asset = asset_create(
        owner=alice, data=png_bytes((64, 64)), mime="image/png", width=64, height=64, job=job
    )
    unknown = make_asset(alice)
    for a in (asset, unknown):
        asset_make_variants(asset=a)
        before, _ = served(api(alice), a.id, "original")
        assert not c2pa.read(before, "image/png")["present"]  # no record: no credentials

    record = record_backfill(asset=asset)
    assert record.op == "generate" and record.backfilled
    assert record_backfill(asset=unknown).op == "backfill"
    call_command("media_rebuild", "--restart", verbosity=0)
    asset.refresh_from_db()
    original, mime = served(api(alice), asset.id, "original")
    assert hashlib.sha256(original).hexdigest() == asset.sha256 != record.asset_sha256
    check_file(original, mime, record, "original")
    for variant in IMAGE_VARIANTS:
        check_file(*served(api(alice), asset.id, variant), record, variant)
    # Running again changes nothing.
    files = set(record.files.values_list("sha256", flat=True))
    asset_make_variants(asset=asset)
    assert set(record.files.values_list("sha256", flat=True)) == files

    for variant in ("original", *IMAGE_VARIANTS):
        data, mime = served(api(alice), unknown.id, variant)
        assert not c2pa.read(data, mime)["present"], variant
