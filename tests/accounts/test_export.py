"""Data export: what a person gets in their zip, how they get it, and how long it is kept."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from datetime import timedelta

import pytest
from django.core import signing
from django.core.files.storage import default_storage
from django.db import transaction
from django.test import Client
from django.utils import timezone

from apps.accounts import export as exports
from apps.accounts import tasks
from apps.accounts.models import DataExport
from apps.generation.models import GenerationJob
from apps.media.services import asset_create
from apps.notifications.models import Notification
from apps.provenance.services import record_write
from tests.conftest import png_bytes

HIDDEN_PROMPT = "zebraquokka lanternfish over a quiet harbour"
BOB_PROMPT = "moonwhistle gravelcress at noon"
BOB_CAPTION = "bobcaption-ostrichfern"


def generated(owner, prompt: str):
    """An asset as a finished generation leaves it: the job, the asset and its signed record."""
    with transaction.atomic():
        job = GenerationJob.objects.create(
            owner=owner,
            kind="image",
            prompt=prompt,
            negative_prompt="blurry",
            backend="procedural",
            seed=42,
            params={"quality": "draft", "width": 8, "height": 8, "count": 1},
            status="succeeded",
        )
        asset = asset_create(
            owner=owner, data=png_bytes(), mime="image/png", width=8, height=8, job=job
        )
        record_write(asset=asset, job=job)
    return asset


def post(client, asset, **fields):
    response = client.post(
        "/api/v1/posts",
        {"asset_id": asset.id, "visibility": "public", **fields},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def ask(client) -> dict:
    response = client.post("/api/v1/me/export")
    assert response.status_code == 202, response.content
    return response.json()


def build(export_id) -> DataExport:
    """What the worker does (the task's body, in this thread)."""
    tasks.export_build.run(int(export_id))
    return DataExport.objects.get(id=export_id)


def download(url: str, client: Client | None = None):
    return (client or Client()).get(url)


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def open_zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


@pytest.fixture
def scene(alice, bob, carol, api, make_asset):
    """Alice (who exports) hides the prompt of one post, keeps a draft, reacts to and comments
    on a post of Bob's, follows Bob and is followed by Carol, and set her likeness consent."""
    a, b, c = api(alice), api(bob), api(carol)
    hidden = generated(alice, HIDDEN_PROMPT)
    alice_post = post(a, hidden, caption="my harbour #dusk", hide_prompt=True)
    draft = make_asset(alice)
    bob_asset = generated(bob, BOB_PROMPT)
    bob_post = post(b, bob_asset, caption=BOB_CAPTION)
    reacted = a.post(f"/api/v1/posts/{bob_post['id']}/reactions", {"kind": "fire"}, format="json")
    assert reacted.status_code in (200, 201), reacted.content
    assert a.post(
        f"/api/v1/posts/{bob_post['id']}/comments", {"body": "alice says lovely"}, format="json"
    ).status_code in (200, 201)
    assert a.post("/api/v1/users/bob/follow").status_code in (200, 201)
    assert c.post("/api/v1/users/alice/follow").status_code in (200, 201)
    assert (
        a.put("/api/v1/me/consent/likeness", {"policy": "followers"}, format="json").status_code
        == 200
    )
    return {
        "alice_post": alice_post,
        "hidden": hidden,
        "draft": draft,
        "bob_post": bob_post,
        "bob_asset": bob_asset,
    }


def test_the_zip_holds_exactly_my_data_with_a_true_manifest(alice, bob, api, scene):
    client = api(alice)
    asked = ask(client)
    assert asked["status"] == "queued" and asked["download_url"] is None

    build(asked["id"])
    got = client.get(f"/api/v1/me/export/{asked['id']}").json()
    assert got["status"] == "succeeded"
    assert got["progress"] == 1
    assert got["finished_at"] and got["expires_at"] and got["size"] > 0

    zip_bytes = body(download(got["download_url"]))
    assert hashlib.sha256(zip_bytes).hexdigest() == got["sha256"]
    assert len(zip_bytes) == got["size"]
    zf = open_zip(zip_bytes)
    assert zf.testzip() is None
    names = set(zf.namelist())
    hidden, draft = scene["hidden"], scene["draft"]
    assert names == {
        "profile.json",
        "posts.json",
        "prompts/generations.json",
        "provenance.json",
        "consent.json",
        "follows.json",
        "reactions.json",
        "comments.json",
        "notifications.json",
        "manifest.json",
        f"media/{hidden.id}.png",
        f"media/{draft.id}.png",
    }

    # The manifest lists every other file with its true checksum and size.
    manifest = json.loads(zf.read("manifest.json"))
    listed = {f["path"]: f for f in manifest["files"]}
    assert set(listed) == names - {"manifest.json"}
    for path, entry in listed.items():
        data = zf.read(path)
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], path
        assert len(data) == entry["size"], path

    # Originals are byte-identical to what is stored.
    for asset in (hidden, draft):
        with default_storage.open(asset.original, "rb") as f:
            assert zf.read(f"media/{asset.id}.png") == f.read()

    # My hidden prompt is in (it is mine), in my generations and my provenance records.
    jobs = json.loads(zf.read("prompts/generations.json"))
    assert [j["prompt"] for j in jobs] == [HIDDEN_PROMPT]
    records = json.loads(zf.read("provenance.json"))
    assert len(records) == 1
    assert records[0]["prompt"] == HIDDEN_PROMPT
    assert records[0]["asset_id"] == str(hidden.id)
    assert records[0]["record_hash"] and records[0]["signature"] and records[0]["verified"]

    posts = json.loads(zf.read("posts.json"))
    assert [(p["id"], p["caption"], p["hide_prompt"]) for p in posts] == [
        (scene["alice_post"]["id"], "my harbour #dusk", True)
    ]
    assert posts[0]["file"] == f"media/{hidden.id}.png"
    profile = json.loads(zf.read("profile.json"))
    assert profile["username"] == "alice" and profile["email"] == "alice@example.com"
    follows = json.loads(zf.read("follows.json"))
    assert [f["username"] for f in follows["following"]] == ["bob"]
    assert [f["username"] for f in follows["followers"]] == ["carol"]
    consent = json.loads(zf.read("consent.json"))
    assert consent["likeness"]["policy"] == "followers"
    assert consent["events"] and all(e["hash"] for e in consent["events"])
    # Bob's post appears only as my reaction to it and my comment on it: an id, no content.
    bob_post_id = scene["bob_post"]["id"]
    reactions = json.loads(zf.read("reactions.json"))
    assert [(r["post_id"], r["kind"]) for r in reactions] == [(bob_post_id, "fire")]
    comments = json.loads(zf.read("comments.json"))
    assert [(c["post_id"], c["body"]) for c in comments] == [(bob_post_id, "alice says lovely")]
    notifications = json.loads(zf.read("notifications.json"))
    assert {n["type"] for n in notifications} >= {"follow"}  # carol followed me

    everything = b"".join(zf.read(n) for n in names)
    for foreign in (BOB_CAPTION, BOB_PROMPT, str(scene["bob_asset"].id)):
        assert foreign.encode() not in everything, foreign
    with default_storage.open(scene["bob_asset"].original, "rb") as f:
        assert f.read() not in everything


def test_the_owner_is_notified_with_the_export_page_not_the_signed_link(alice, api, scene):
    client = api(alice)
    build(ask(client)["id"])
    items = client.get("/api/v1/notifications").json()["items"]
    notice = next(n for n in items if n["type"] == "account")
    assert notice["link"] == "/settings/data/export"
    assert "sig=" not in json.dumps(notice)
    assert "export" in notice["text"].lower()
    page = Client()
    page.force_login(alice)
    html = page.get("/notifications").content.decode()
    assert 'href="/settings/data/export"' in html


def test_one_export_a_day(alice, api, settings):
    client = api(alice)
    first = ask(client)
    second = client.post("/api/v1/me/export")
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "rate_limited"
    assert 86_390 <= int(second["Retry-After"]) <= 86_400
    # Built or not, the day counts; a failed export does not (the failure is not theirs).
    build(first["id"])
    assert client.post("/api/v1/me/export").status_code == 429
    DataExport.objects.filter(id=first["id"]).update(
        created_at=timezone.now() - timedelta(hours=23)
    )
    late = client.post("/api/v1/me/export")
    assert late.status_code == 429
    assert 3_590 <= int(late["Retry-After"]) <= 3_600
    DataExport.objects.filter(id=first["id"]).update(status="failed")
    assert client.post("/api/v1/me/export").status_code == 202


def test_asking_needs_the_write_scope_and_reading_the_read_scope(alice, api):
    reader = api(alice, scopes=("read",))
    refused = reader.post("/api/v1/me/export")
    assert refused.status_code == 403
    assert "write" in refused.json()["error"]["message"]
    assert not DataExport.objects.exists()
    made = ask(api(alice))
    assert reader.get(f"/api/v1/me/export/{made['id']}").status_code == 200


def test_someone_elses_export_is_not_found_on_the_api_and_the_download(alice, bob, api, scene):
    mine = ask(api(alice))
    build(mine["id"])
    url = api(alice).get(f"/api/v1/me/export/{mine['id']}").json()["download_url"]
    theirs = api(bob).get(f"/api/v1/me/export/{mine['id']}")
    missing = api(bob).get("/api/v1/me/export/123456789")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.content == missing.content
    assert api(bob).get("/api/v1/me/export/99999999999999999999999").status_code == 404

    # Signed in as Bob without the link, or with a link made for another export: 404.
    bob_site = Client()
    bob_site.force_login(bob)
    path, sig = url.split("?sig=")
    assert bob_site.get(path).status_code == 404
    assert bob_site.get(f"{path}?sig=forged").status_code == 404
    bob_export = DataExport.objects.create(user=bob)
    other = exports.export_link(bob_export)
    assert Client().get(f"{path}?sig={other.split('?sig=')[1]}").status_code == 404
    assert Client().get(f"/exports/{bob_export.id}/download?sig={sig}").status_code == 404


def test_the_download_link_is_short_lived_and_works_without_a_session(
    alice, api, scene, monkeypatch, settings
):
    made = ask(api(alice))
    export = build(made["id"])
    fresh = download(exports.export_link(export))
    assert fresh.status_code == 200
    assert fresh["Content-Type"] == "application/zip"
    assert fresh["Content-Disposition"].startswith("attachment;")
    assert fresh["X-Content-Type-Options"] == "nosniff"
    assert open_zip(body(fresh)).testzip() is None

    # A link signed two hours ago is past the hour it is valid for.
    real_time = time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() - 7200)
    old = exports.export_link(export)
    monkeypatch.setattr(signing.time, "time", real_time)
    stale = download(old)
    assert stale.status_code == 403
    assert b"expired" in stale.content
    settings.EXPORT_LINK_TTL_S = 3 * 3600
    assert download(old).status_code == 200


def test_the_cleanup_deletes_the_zip_after_its_week(alice, api, scene):
    client = api(alice)
    made = ask(client)
    export = build(made["id"])
    url = exports.export_link(export)
    assert default_storage.exists(export.file_name)
    assert export.expires_at - export.finished_at == timedelta(days=7)
    assert tasks.exports_expire.run() == 0  # not yet

    DataExport.objects.filter(id=export.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert tasks.exports_expire.run() == 1
    assert not default_storage.exists(export.file_name)
    got = client.get(f"/api/v1/me/export/{made['id']}").json()
    assert got["status"] == "expired" and got["download_url"] is None
    assert download(url).status_code == 404


def test_running_the_build_twice_leaves_one_valid_zip(alice, api, scene, monkeypatch):
    made = ask(api(alice))
    # A worker died after claiming the export: its row says running, with a name of its own.
    first_claim = exports._claim(int(made["id"]))
    assert first_claim is not None

    # The redelivered task runs, and while it is writing a third copy starts and takes over.
    original_report = exports._Builder._report
    nested = {"done": False}

    def report(self, progress):
        if not nested["done"]:
            nested["done"] = True
            build(made["id"])
        return original_report(self, progress)

    monkeypatch.setattr(exports._Builder, "_report", report)
    assert build(made["id"]).status == "succeeded"
    assert nested["done"]
    monkeypatch.setattr(exports._Builder, "_report", original_report)
    export = build(made["id"])  # and once more after it succeeded: nothing to do

    assert export.status == "succeeded" and export.progress == 1
    _, files = default_storage.listdir(f"exports/{alice.id}")
    assert files == [export.file_name.rsplit("/", 1)[-1]]
    with default_storage.open(export.file_name, "rb") as f:
        data = f.read()
    assert hashlib.sha256(data).hexdigest() == export.sha256
    zf = open_zip(data)
    manifest = json.loads(zf.read("manifest.json"))
    for entry in manifest["files"]:
        assert hashlib.sha256(zf.read(entry["path"])).hexdigest() == entry["sha256"]
    assert Notification.objects.filter(recipient=alice, kind="account").count() == 1


def test_progress_is_written_every_few_percent_not_per_row(alice, api, monkeypatch):
    Notification.objects.bulk_create(
        Notification(recipient=alice, kind="moderation", group_key=f"moderation:{i}", text="x")
        for i in range(400)
    )
    seen: list[float] = []
    original_report = exports._Builder._report

    def report(self, progress):
        seen.append(progress)
        return original_report(self, progress)

    monkeypatch.setattr(exports._Builder, "_report", report)
    export = build(ask(api(alice))["id"])
    assert export.progress == 1
    assert 10 <= len(seen) <= 1 / exports.PROGRESS_STEP + 2
    assert seen == sorted(seen)


def test_the_export_page(alice, scene):
    site = Client()
    assert site.get("/settings/data/export").status_code == 302  # log in first
    site.force_login(alice)
    page = site.get("/settings/data/export")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="export-request"' in html
    assert "/static/js/export.js" in html
    assert "<script>" not in html and " style=" not in html and " onclick=" not in html

    asked = site.post("/settings/data/export")
    assert asked.status_code == 302
    export = DataExport.objects.get(user=alice)
    html = site.get("/settings/data/export").content.decode()
    assert f'data-export-id="{export.id}"' in html and 'data-status="queued"' in html
    assert 'data-testid="export-next"' in html  # when the next may be asked for

    again = site.post("/settings/data/export")
    assert again.status_code == 429 and int(again["Retry-After"]) > 0
    assert DataExport.objects.filter(user=alice).count() == 1

    build(export.id)
    html = site.get("/settings/data/export").content.decode()
    start = html.index('id="export-download" class="button primary" href="') + len(
        'id="export-download" class="button primary" href="'
    )
    link = html[start : html.index('"', start)].replace("&amp;", "&")
    assert link.startswith(f"/exports/{export.id}/download?sig=")
    assert download(link).status_code == 200
