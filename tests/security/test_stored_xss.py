"""Stored XSS: mallory puts script into every text she controls (caption, prompt, comment,
display name, bio, hashtag, profile links, report details, appeal, token name, uploaded file
names); every page that shows them to bob, to a moderator or to herself shows them escaped."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client

from apps.moderation import actions, cases
from apps.moderation.models import Case
from apps.moderation.roles import role_set
from apps.posts import services as post_services
from apps.social import services as social_services
from tests.conftest import client_for, png_bytes
from tests.security.conftest import finished_job, person, publish_via_api, rolled_back

pytestmark = pytest.mark.django_db

ATTACK = '"><script>alert(1)</script><img src=x onerror=alert(1)>'
# What must never reach a page as markup (the same text escaped is harmless).
LIVE = ("<script>alert(1)", "<img src=x onerror", "<img src=x", 'href="javascript:')


SCRIPT_URLS = (
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "data:text/html,x",
)


def payload(marker: str) -> str:
    """The attack, tagged so that the test can tell the field did render (escaped)."""
    return f"{marker}{ATTACK}"


def escaped(marker: str) -> str:
    return f"{marker}&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"


@dataclass
class Stored:
    media: Any
    users: dict[str, Any] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)


def _build(media) -> Stored:
    mallory, bob, carol, mod = (person(n) for n in ("mallory", "bob", "carol", "mod"))
    role_set(user=mod, role="moderator")
    stored = Stored(media=media, users={"mallory": mallory, "bob": bob, "mod": mod})
    api = client_for(mallory)
    social_services.follow_create(follower=bob, followee=mallory)
    answer = api.patch(
        "/api/v1/me",
        {"display_name": payload("DN")[:60], "bio": payload("BIO")},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    # A link whose label is markup is stored as text; a javascript: URL is refused.
    links = api.patch(
        "/api/v1/me",
        {"links": [{"label": "LNK<b>x</b>", "url": "https://example.com/?q=%22%3E"}]},
        format="json",
    )
    stored.refused["https link with markup"] = links.status_code
    for url in SCRIPT_URLS:
        stored.refused[url] = api.patch(
            "/api/v1/me", {"links": [{"label": "x", "url": url}]}, format="json"
        ).status_code
    # A draft made from a hostile prompt, published with a hostile caption and hashtag.
    job, asset = finished_job(mallory, prompt=payload("PROMPT"))
    post = publish_via_api(mallory, "public", payload("CAP") + " #tag<script>x #xss", asset=asset)
    # A hostile comment on bob's post (bob is notified), and a hostile reply on her own.
    bobs = publish_via_api(bob, "public", "bob's picture")
    post_services.comment_create(user=mallory, post_id=int(bobs["id"]), body=payload("COM"))
    post_services.comment_create(user=mallory, post_id=int(post["id"]), body=payload("COM"))
    # Reported by carol with hostile details; mallory reports bob with hostile details too.
    cases.report_create(
        reporter=carol,
        target_type="post",
        target_id=post["id"],
        reason="spam",
        details=payload("DET"),
    )
    cases.report_create(
        reporter=mallory,
        target_type="post",
        target_id=bobs["id"],
        reason="other",
        details=payload("DET"),
    )
    case = Case.objects.get(target_id=int(post["id"]))
    # A second post of hers is removed, and she appeals with a hostile text.
    removed = publish_via_api(mallory, "public", payload("CAP"))
    cases.report_create(reporter=carol, target_type="post", target_id=removed["id"], reason="spam")
    removed_case = Case.objects.get(target_id=int(removed["id"]))
    actions.action_take(moderator=mod, case_id=removed_case.id, action="remove", reason_code="spam")
    appeal = api.post(
        "/api/v1/appeals", {"case_id": str(removed_case.id), "body": payload("APL")}, format="json"
    )
    assert appeal.status_code == 201, appeal.content
    # A token with a hostile name, and uploads with hostile file names.
    token = client_for(None).post(
        "/api/v1/auth/tokens",
        {"username": "mallory", "password": "correct horse battery 9", "name": payload("TOK")},
        format="json",
    )
    assert token.status_code == 201, token.content
    upload = io.BytesIO(png_bytes((32, 32)))
    upload.name = payload("FILE") + ".png"
    stored.refused["avatar upload"] = api.put(
        "/api/v1/me/avatar", {"file": upload}, format="multipart"
    ).status_code
    # A public collection with a hostile name, holding the hostile post.
    from apps.collections import services as collection_services

    collection = collection_services.collection_create(
        owner=mallory, name=payload("COLL")[:60], visibility="public"
    )
    collection_services.collection_post_add(
        user=mallory, collection_id=collection.id, post_id=int(post["id"])
    )
    stored.ids = {
        "collection": str(collection.id),
        "post": post["id"],
        "bobs_post": bobs["id"],
        "job": str(job.id),
        "record": str(asset.provenance.id),
        "case": str(case.id),
    }
    return stored


@pytest.fixture(scope="module")
def stored(django_db_setup, django_db_blocker, tmp_path_factory):
    with rolled_back(django_db_blocker, tmp_path_factory, "xss") as media:
        yield _build(media)


# (who looks, page, markers that must show there, escaped)
PAGES = [
    ("bob", "/?tab=home", ["CAP"]),
    ("bob", "/?tab=public", ["CAP"]),
    ("anonymous", "/?tab=public", ["CAP"]),
    ("bob", "/p/{post}", ["CAP", "PROMPT", "COM"]),
    ("bob", "/p/{post}/card", ["CAP"]),
    ("bob", "/p/{post}/comments", ["COM"]),
    ("bob", "/p/{bobs_post}", ["COM"]),
    ("bob", "/u/mallory", ["DN", "BIO", "CAP"]),
    ("anonymous", "/u/mallory", ["DN", "BIO"]),
    ("bob", "/notifications", []),
    ("bob", "/tags/xss", ["CAP"]),
    ("bob", "/tags/tag", []),
    ("bob", "/provenance/{record}", ["PROMPT"]),
    ("mallory", "/library", ["PROMPT"]),
    ("mallory", "/library/items/{job}", ["PROMPT"]),
    ("mallory", "/reports/mine", []),
    ("mallory", "/appeals", []),
    ("mod", "/moderation/", []),
    ("mod", "/moderation/cases/{case}", ["CAP", "DET", "PROMPT"]),
    ("mod", "/moderation/appeals", ["APL"]),
    ("mod", "/moderation/audit", []),
    ("bob", "/verify", []),
    ("bob", "/collections/{collection}", ["COLL", "CAP"]),
    ("mallory", "/collections", ["COLL"]),
    ("bob", "/collections/save/{post}", []),
    ("bob", "/explore", []),
    ("bob", "/search?q=CAP", []),
    ("bob", "/search?q=mallory&type=people", []),
    ("bob", "/search?q=xss&type=tags", []),
    ("bob", "/search?q=%22%3E%3Cscript%3Ealert(1)%3C/script%3E", []),
]


def _browser(stored: Stored, who: str) -> Client:
    browser = Client()
    if who != "anonymous":
        browser.force_login(stored.users[who])
    return browser


@pytest.mark.parametrize(("who", "path", "markers"), PAGES, ids=[f"{w} {p}" for w, p, _ in PAGES])
def test_hostile_text_is_escaped_where_it_renders(stored, who, path, markers):
    response = _browser(stored, who).get(path.format(**stored.ids))
    assert response.status_code == 200, (path, response.status_code)
    html = response.content.decode()
    for live in LIVE:
        assert live not in html, (path, live, html[max(0, html.find(live) - 200) :][:400])
    for marker in markers:
        assert escaped(marker) in html, (path, marker)
    # Uploaded file names are not kept, so never shown (not even escaped).
    assert "FILE&quot;" not in html
    assert 'FILE"' not in html


def test_a_hostile_hashtag_in_the_address_is_escaped(stored):
    """The tag page repeats the tag from its address: reflected, not stored, but the same rule."""
    response = _browser(stored, "bob").get("/tags/" + '"><script>alert(1)<%2Fscript>')
    html = response.content.decode()
    for live in LIVE:
        assert live not in html


def test_link_labels_are_escaped_on_the_profile(stored):
    assert stored.refused["https link with markup"] == 200
    html = _browser(stored, "bob").get("/u/mallory").content.decode()
    assert "LNK&lt;b&gt;x&lt;/b&gt;" in html
    assert "<b>x</b>" not in html
    assert 'href="https://example.com/?q=%22%3E"' in html


def test_links_with_script_urls_are_refused(stored):
    for url in SCRIPT_URLS:
        assert stored.refused[url] == 400, url


def test_api_answers_hostile_text_as_json_data(stored):
    """JSON carries the text as it was typed (clients must escape it; ours use textContent or
    fetch server-rendered HTML), served as application/json, never HTML."""
    response = client_for(stored.users["bob"]).get(f"/api/v1/posts/{stored.ids['post']}")
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response.json()["caption"].startswith(payload("CAP"))
