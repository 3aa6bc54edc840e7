"""Every generated or edited asset gets its signed provenance record, in the same transaction."""

import pytest
from django.core.management import call_command

from apps.core import ledger
from apps.generation.models import GenerationJob
from apps.media.models import Asset
from apps.provenance.models import ProvenanceRecord, prompt_commitment
from apps.provenance.selectors import record_for_asset
from tests.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def finished(job_id):
    job = GenerationJob.objects.get(id=job_id)
    return job if job.is_finished else None


def signed_record(asset):
    from apps.provenance.embedding import record_for_file

    return record_for_file(sha256=asset.sha256)


def generate(client, **body):
    body = {"kind": "image", "quality": "draft", **body}
    response = client.post("/api/v1/generations", body, format="json")
    assert response.status_code == 202, response.content
    job = wait_for(lambda: finished(response.json()["id"]), timeout=90)
    assert job.status == "succeeded", job.error
    return job


def test_generated_and_edited_assets_get_signed_records_with_parents(
    celery_worker, api, alice, bob, make_video_asset
):
    job = generate(
        api(alice), prompt="misty lake at dawn", negative_prompt="people", seed=7, count=2
    )
    assets = list(job.assets.order_by("id"))
    assert len(assets) == 2
    records = [record_for_asset(asset=a) for a in assets]
    for index, (asset, record) in enumerate(zip(assets, records, strict=True)):
        assert record is not None
        assert record.op == "generate" and record.kind == "image" and not record.backfilled
        assert record.prompt == "misty lake at dawn" and record.negative_prompt == "people"
        assert record.backend == "procedural" and record.model_name == "vivid-procedural"
        assert record.model_version == "1"
        # Each picture of a grid records the seed it was made with: 7, then 8.
        assert record.seed == 7 + index and record.params["seed"] == 7 + index
        assert record.params["size"] == "512x512" and record.params["quality"] == "draft"
        assert record.asset_phash == asset.phash
        # The record names the file as generated; a credential added after it changes the
        # stored file, which then points back at the same record.
        assert record.asset_sha256 == asset.sha256 or signed_record(asset) == record
        assert record.creator_id == alice.id and record.chain == f"user:{alice.id}"
        assert record.parents == [] and record.likeness_consents == []
        assert ledger.record_valid(record)
    # One chain per creator, linked in order.
    assert [r.seq for r in records] == [1, 2]
    assert records[0].prev_hash == ledger.GENESIS
    assert records[1].prev_hash == records[0].record_hash
    # The hash covers a salted commitment to the prompt, never the text itself.
    body = records[0].hashed_body()
    assert "misty" not in str(body)
    assert body["prompt_commitment"] == prompt_commitment(
        records[0].prompt_salt, "prompt", "misty lake at dawn"
    )

    # An edit: its input (stored before records existed) is recorded first, then named parent.
    clip = make_video_asset(alice, seconds=2, size=(320, 180))
    assert record_for_asset(asset=clip) is None
    response = api(alice).post(
        "/api/v1/edits",
        {"op": "trim", "assets": [clip.id], "start_s": 0.5, "end_s": 1.5},
        format="json",
    )
    assert response.status_code == 202, response.content
    edit = wait_for(lambda: finished(response.json()["id"]), timeout=90)
    assert edit.status == "succeeded", edit.error
    trimmed = record_for_asset(asset=edit.assets.get())
    source = record_for_asset(asset=clip)
    assert source is not None and source.backfilled and source.op == "backfill"
    assert trimmed.op == "trim" and trimmed.backend == "editor" and not trimmed.backfilled
    assert trimmed.parents == [str(source.id)]
    assert trimmed.params["start_s"] == 0.5 and trimmed.params["end_s"] == 1.5
    assert ledger.record_valid(trimmed) and ledger.record_valid(source)

    # A remix names the parent post's record, across creators' chains.
    post = api(alice).post(
        "/api/v1/posts", {"asset_id": assets[0].id, "visibility": "public"}, format="json"
    )
    assert post.status_code == 201, post.content
    remix = generate(api(bob), prompt="misty lake at night", seed=8, remix_of=post.json()["id"])
    remix_record = record_for_asset(asset=remix.assets.get())
    assert remix_record.parents == [str(records[0].id)]
    assert remix_record.chain == f"user:{bob.id}" and remix_record.seq == 1

    assert ledger.verify_all() == []


def test_a_failed_job_leaves_no_asset_and_no_record(celery_worker, api, alice, settings):
    settings.GENERATION_BACKENDS = {
        **settings.GENERATION_BACKENDS,
        "broken": {"BACKEND": "tests.provenance.backends.BrokenStore"},
    }
    response = api(alice).post(
        "/api/v1/generations",
        {"kind": "image", "prompt": "a storm", "backend": "broken", "quality": "draft"},
        format="json",
    )
    assert response.status_code == 202, response.content
    job = wait_for(lambda: finished(response.json()["id"]), timeout=60)
    assert job.status == "failed"
    assert not Asset.objects.filter(owner=alice).exists()
    assert not ProvenanceRecord.objects.exists()


def test_backfill_records_existing_assets_once(alice, make_asset, publish, capsys):
    loose = make_asset(alice)  # in the Library only, made by no job: no record needed
    shown = publish(alice)
    call_command("provenance_backfill")
    record = ProvenanceRecord.objects.get(asset_id=int(shown["asset"]["id"]))
    assert record.backfilled and record.op == "backfill" and ledger.record_valid(record)
    assert not ProvenanceRecord.objects.filter(asset=loose).exists()
    call_command("provenance_backfill")
    assert ProvenanceRecord.objects.count() == 1
    assert ledger.verify_all() == []


def test_a_record_names_the_likeness_consent_it_relied_on(celery_worker, api, alice, bob):
    response = api(bob).put(
        "/api/v1/me/consent/likeness", {"policy": "everyone", "approved": []}, format="json"
    )
    assert response.status_code == 200, response.content
    events = api(bob).get("/api/v1/me/consent/events").json()
    events = events.get("items", events) if isinstance(events, dict) else events
    consent_ids = {str(e["id"]) for e in events}
    job = generate(api(alice), prompt="a portrait by the sea", likeness=["bob"], seed=3)
    record = record_for_asset(asset=job.assets.get())
    assert record.likeness_consents and set(record.likeness_consents) <= consent_ids
    body = api(alice).get(f"/api/v1/provenance/{record.id}").json()
    assert body["likeness_consents"] == record.likeness_consents


def test_a_record_checks_out_by_the_documented_form_alone(alice, made, settings):
    """docs/provenance.md, followed by hand: RFC 8785 JSON, the domain tag, SHA-256, Ed25519."""
    import hashlib
    from pathlib import Path

    import rfc8785
    from cryptography.hazmat.primitives import serialization

    record = record_for_asset(asset=made(alice, "tide pools at low water", negative="gulls"))
    record = ProvenanceRecord.objects.get(id=record.id)  # as stored
    salt = bytes.fromhex(record.prompt_salt)
    body = {
        "asset": str(record.asset_id),
        "creator": str(record.creator_id) if record.creator_id > 2**53 - 1 else record.creator_id,
        "kind": record.kind,
        "op": record.op,
        "prompt_commitment": hashlib.sha256(
            salt + b"prompt\n" + record.prompt.encode()
        ).hexdigest(),
        "negative_prompt_commitment": hashlib.sha256(
            salt + b"negative_prompt\n" + record.negative_prompt.encode()
        ).hexdigest(),
        "backend": record.backend,
        "model_name": record.model_name,
        "model_version": record.model_version,
        "params": record.params,
        "seed": record.seed,
        "parents": record.parents,
        "likeness_consents": record.likeness_consents,
        "asset_sha256": record.asset_sha256,
        "asset_phash": record.asset_phash,
        "backfilled": record.backfilled,
    }
    payload = {
        "log": "provenance",
        "id": str(record.id),
        "chain": record.chain,
        "seq": record.seq,
        "prev_hash": record.prev_hash,
        "key_id": record.key_id,
        "created_at": record.created_at.isoformat(),
        "body": body,
    }
    digest = hashlib.sha256(b"vivid-ledger-v1\n" + rfc8785.dumps(payload)).hexdigest()
    assert digest == record.record_hash
    pem = Path(settings.LEDGER_KEYS_DIR, "trusted", f"{record.key_id}.pub").read_bytes()
    public = serialization.load_pem_public_key(pem)
    public.verify(bytes.fromhex(record.signature), bytes.fromhex(digest))  # raises if forged
