"""Bounds: oversized bodies (413 in the error shape), fields beyond their maximum (400 naming
the field), deep JSON (400), and hostile ``limit`` / ``cursor`` / ``since`` values on every list
(400 or clamped, never a 500). Nothing is saved by any of them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client

from apps.moderation.roles import role_set
from apps.posts import services as post_services
from tests.conftest import client_for
from tests.security.conftest import person, publish_via_api, rolled_back, snapshot

pytestmark = pytest.mark.django_db

TEN_MIB = 10 * 1024 * 1024


@dataclass
class Scene:
    media: Any
    users: dict[str, Any] = field(default_factory=dict)
    post: str = ""


@pytest.fixture(scope="module")
def scene(django_db_setup, django_db_blocker, tmp_path_factory):
    with rolled_back(django_db_blocker, tmp_path_factory, "bounds") as media:
        alice, mod = person("alice"), person("mod")
        role_set(user=mod, role="moderator")
        post = publish_via_api(alice, "public", "hello #tag")
        post_services.comment_create(user=alice, post_id=int(post["id"]), body="first")
        yield Scene(media=media, users={"alice": alice, "mod": mod}, post=post["id"])


@pytest.fixture
def stored(scene):
    return scene


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    return error


WRITES = [
    ("post", "/api/v1/posts"),
    ("patch", "/api/v1/me"),
    ("post", "/api/v1/generations"),
    ("post", "/api/v1/posts/{post}/comments"),
    ("post", "/api/v1/reports"),
    ("post", "/api/v1/auth/signup"),
    ("post", "/api/v1/auth/tokens"),
    ("put", "/api/v1/me/consent/likeness"),
]


@pytest.mark.parametrize(("method", "path"), WRITES, ids=[f"{m} {p}" for m, p in WRITES])
def test_oversized_and_deep_bodies(scene, method, path):
    client = client_for(scene.users["alice"])
    call = getattr(client, method)
    url = path.format(post=scene.post)
    before = snapshot(scene)
    big = json.dumps({"caption": "x" * TEN_MIB, "body": "b", "bio": "c"})
    _error(call(url, big, content_type="application/json"), 413, "payload_too_large")
    for depth in (5_000, 100_000):
        deep = '{"caption": ' + "[" * depth + "]" * depth + "}"
        _error(call(url, deep, content_type="application/json"), 400, "invalid")
    deep_object = '{"a":' * 5_000 + "1" + "}" * 5_000
    _error(call(url, deep_object, content_type="application/json"), 400, "invalid")
    _error(call(url, "[" * 10, content_type="application/json"), 400, "invalid")  # not JSON
    assert snapshot(scene) == before


def test_a_huge_site_form_is_refused_without_a_500(scene):
    browser = Client()
    browser.force_login(scene.users["alice"])
    before = snapshot(scene)
    big = browser.post(f"/p/{scene.post}/comment", {"body": "x" * TEN_MIB})
    assert big.status_code in (400, 413), big.status_code
    many = browser.post("/settings/profile", {f"f{i}": "x" for i in range(5_000)})
    assert many.status_code in (400, 413), many.status_code
    assert snapshot(scene) == before


LONG = [
    ("post", "/api/v1/posts", {"asset_id": 1, "visibility": "public"}, "caption", 2200),
    ("patch", "/api/v1/me", {}, "bio", 500),
    ("patch", "/api/v1/me", {}, "display_name", 60),
    ("post", "/api/v1/posts/{post}/comments", {}, "body", 2000),
    ("post", "/api/v1/generations", {"kind": "image"}, "prompt", 2000),
    ("post", "/api/v1/generations", {"kind": "image", "prompt": "x"}, "negative_prompt", 2000),
    (
        "post",
        "/api/v1/reports",
        {"target": {"type": "post", "id": "{post}"}, "reason": "spam"},
        "details",
        2000,
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "name", "most"), LONG, ids=[f"{x[1]} {x[3]}" for x in LONG]
)
def test_a_field_beyond_its_maximum_is_named(scene, method, path, body, name, most):
    client = client_for(scene.users["alice"])
    url = path.format(post=scene.post)
    body = json.loads(json.dumps(body).replace("{post}", scene.post))
    before = snapshot(scene)
    response = getattr(client, method)(url, {**body, name: "x" * (most + 1)}, format="json")
    error = _error(response, 400, "invalid")
    assert name in error["fields"], error
    assert snapshot(scene) == before


def test_long_fields_on_site_forms_are_refused(scene):
    browser = Client()
    browser.force_login(scene.users["alice"])
    before = snapshot(scene)
    for path, data in (
        (f"/p/{scene.post}/comment", {"body": "x" * 2001}),
        ("/settings/profile", {"display_name": "x" * 61, "bio": "x"}),
        ("/settings/profile", {"display_name": "x", "bio": "x" * 501}),
    ):
        response = browser.post(path, data)
        assert response.status_code in (200, 302, 400), (path, response.status_code)
    assert snapshot(scene) == before


LISTS = [
    ("alice", "/api/v1/feed/public"),
    ("alice", "/api/v1/feed/public?sort=trending&"),
    ("alice", "/api/v1/feed/home"),
    ("alice", "/api/v1/users/alice/posts"),
    ("alice", "/api/v1/tags/tag/posts"),
    ("alice", "/api/v1/notifications"),
    ("alice", "/api/v1/generations"),
    ("alice", "/api/v1/posts/{post}/comments"),
    ("alice", "/api/v1/posts/{post}/remixes"),
    ("alice", "/api/v1/reports/mine"),
    ("alice", "/api/v1/me/blocks"),
    ("alice", "/api/v1/me/mutes"),
    ("alice", "/api/v1/me/follow_requests"),
    ("alice", "/api/v1/auth/tokens"),
    ("alice", "/api/v1/me/consent/events"),
    ("alice", "/api/v1/me/consent/likeness/uses"),
    ("mod", "/api/v1/moderation/queue"),
    ("mod", "/api/v1/moderation/audit"),
    ("mod", "/api/v1/moderation/appeals"),
    ("mod", "/api/v1/moderation/holds"),
]
HOSTILE_QUERIES = [
    "limit=1000000000000000000000000",
    "limit=-1",
    "limit=0",
    "limit=101",
    "limit=abc",
    "limit=1e3",
    "limit=%00",
    "cursor=garbage",
    "cursor=-1",
    "cursor=100000000000000000000000000000",
    "cursor=1%27%20OR%201%3D1",
    "cursor=%00",
    "cursor=" + "9" * 5000,
    "since=garbage",
    "since=-5",
    "limit=5&limit=1000",
    "cursor[]=1",
]


def _with(path: str, query: str) -> str:
    return f"{path}{'' if path.endswith('&') else '?'}{query}"


@pytest.mark.parametrize(("who", "path"), LISTS, ids=[p for _, p in LISTS])
def test_hostile_paging_is_refused_or_clamped_on_the_api(scene, who, path):
    client = client_for(
        scene.users[who], scopes=("read", "write", "moderate") if who == "mod" else ("read",)
    )
    if who == "mod":
        from tests.moderation.helpers_cases import token_client

        client = token_client(scene.users["mod"])
    url = path.format(post=scene.post)
    for query in HOSTILE_QUERIES:
        response = client.get(_with(url, query))
        assert response.status_code in (200, 400), (query, response.status_code)
        if response.status_code == 400:
            assert response.json()["error"]["code"] == "invalid"
        else:
            data = response.json()
            items = data["items"] if isinstance(data, dict) else data
            assert len(items) <= 100


PAGES = [
    "/?tab=public",
    "/?tab=home",
    "/feed/cards?tab=public",
    "/u/alice",
    "/tags/tag",
    "/notifications",
    "/library",
    "/reports/mine",
    "/appeals",
    "/p/{post}/comments",
]


@pytest.mark.parametrize("path", PAGES)
def test_hostile_paging_never_breaks_a_page(scene, path):
    browser = Client()
    browser.force_login(scene.users["alice"])
    url = path.format(post=scene.post)
    for query in HOSTILE_QUERIES:
        joined = f"{url}{'&' if '?' in url else '?'}{query}"
        response = browser.get(joined)
        assert response.status_code in (200, 400, 404), (query, response.status_code)


def test_hostile_paging_on_moderator_pages(scene):
    browser = Client()
    browser.force_login(scene.users["mod"])
    for path in ("/moderation/", "/moderation/audit", "/moderation/appeals"):
        for query in [*HOSTILE_QUERIES, "severity=zz", "reason=%00", "sort=;drop"]:
            response = browser.get(f"{path}?{query}")
            assert response.status_code in (200, 400), (path, query, response.status_code)
