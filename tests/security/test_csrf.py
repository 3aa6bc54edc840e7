"""CSRF: a logged-in browser made to send a form or a JSON call from another site (no token,
or a token with a foreign Origin) is refused with 403 and nothing changes; the same request
with the site's own token goes through (so the refusal is the token's doing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client

from apps.accounts import services as account_services
from apps.media.services import asset_create
from tests.conftest import png_bytes
from tests.security.conftest import person, publish_via_api, rolled_back, snapshot

pytestmark = pytest.mark.django_db


@dataclass
class Scene:
    media: Any
    alice: Any = None
    bob: Any = None
    ids: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def scene(django_db_setup, django_db_blocker, tmp_path_factory):
    with rolled_back(django_db_blocker, tmp_path_factory, "csrf") as media:
        s = Scene(media=media, alice=person("alice"), bob=person("bob"))
        s.ids = {
            "post": publish_via_api(s.alice, "public", "alice's")["id"],
            "bobs_post": publish_via_api(s.bob, "public", "bob's")["id"],
            "token": str(account_services.token_create(user=s.alice, name="script")[0].id),
            "asset": str(
                asset_create(
                    owner=s.alice, data=png_bytes(), mime="image/png", width=8, height=8
                ).id
            ),
        }
        yield s


@pytest.fixture
def stored(scene):  # the autouse media fixture looks for a module fixture by this name
    return scene


FORMS = [
    ("follow", "/u/bob/follow", {}),
    ("unfollow-less block", "/u/bob/block", {}),
    ("delete post", "/p/{post}/delete", {}),
    ("react", "/p/{bobs_post}/react", {"kind": "like"}),
    ("comment", "/p/{bobs_post}/comment", {"body": "forged"}),
    ("report", "/report", {"type": "post", "id": "{bobs_post}", "reason": "spam"}),
    ("privacy settings", "/settings/privacy", {"is_private": "on", "sensitive_media": "hide"}),
    ("profile settings", "/settings/profile", {"display_name": "forged", "bio": "forged"}),
    ("token create", "/settings/tokens", {"name": "forged", "scopes": "read", "expiry": "90"}),
    ("token revoke", "/settings/tokens/{token}/revoke", {}),
    ("data export", "/settings/data/export", {}),
    ("account deletion", "/settings/data/delete", {"password": "correct horse battery 9"}),
    ("training consent", "/settings/consent/training", {"default_allowed": "on"}),
    (
        "password",
        "/settings/password",
        {
            "old_password": "correct horse battery 9",
            "new_password": "another horse 12 staple",
            "new_password_again": "another horse 12 staple",
        },
    ),
]

API = [
    ("publish", "post", "/api/v1/posts", {"asset_id": "{asset}", "visibility": "public"}),
    ("delete post", "delete", "/api/v1/posts/{post}", None),
    ("react", "post", "/api/v1/posts/{bobs_post}/reactions", {"kind": "like"}),
    ("comment", "post", "/api/v1/posts/{bobs_post}/comments", {"body": "forged"}),
    ("follow", "post", "/api/v1/users/bob/follow", {}),
    ("profile", "patch", "/api/v1/me", {"bio": "forged", "is_private": True}),
    (
        "report",
        "post",
        "/api/v1/reports",
        {"target": {"type": "post", "id": "{bobs_post}"}, "reason": "spam"},
    ),
    ("training consent", "put", "/api/v1/me/consent/training", {"default_allowed": True}),
]


def _fill(value, ids):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _browser(user) -> tuple[Client, str]:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    browser.get("/")  # the page hands out the CSRF cookie, as a real visit does
    return browser, browser.cookies["csrftoken"].value


@pytest.mark.parametrize(("name", "path", "data"), FORMS, ids=[f[0] for f in FORMS])
def test_a_site_form_without_its_token_is_refused(scene, name, path, data):
    browser, token = _browser(scene.alice)
    path, data = _fill(path, scene.ids), _fill(data, scene.ids)
    before = snapshot(scene)
    forged = browser.post(path, data)
    assert forged.status_code == 403, (name, forged.status_code)
    foreign = browser.post(
        path, {**data, "csrfmiddlewaretoken": token}, HTTP_ORIGIN="https://evil.example"
    )
    assert foreign.status_code == 403, (name, foreign.status_code)
    assert snapshot(scene) == before
    # The control: the site's own form, with its token, does change something.
    real = browser.post(path, {**data, "csrfmiddlewaretoken": token})
    assert real.status_code in (200, 302), (name, real.status_code)
    assert snapshot(scene) != before, name


@pytest.mark.parametrize(("name", "method", "path", "body"), API, ids=[a[0] for a in API])
def test_the_api_with_a_session_and_no_csrf_header_is_refused(scene, name, method, path, body):
    browser, token = _browser(scene.alice)
    path, body = _fill(path, scene.ids), _fill(body, scene.ids)
    call = getattr(browser, method)
    before = snapshot(scene)
    forged = call(path, body, content_type="application/json")
    assert forged.status_code == 403, (name, forged.status_code, forged.content)
    assert forged.json()["error"]["code"] == "forbidden"
    assert snapshot(scene) == before
    real = call(path, body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert real.status_code < 300, (name, real.status_code, real.content)
    assert snapshot(scene) != before, name


def test_logout_without_the_token_keeps_the_session(scene):
    browser, token = _browser(scene.alice)
    assert browser.post("/logout").status_code == 403
    assert browser.get("/api/v1/me").json()["username"] == "alice"
    assert browser.post("/logout", {"csrfmiddlewaretoken": token}).status_code == 302
    assert browser.get("/api/v1/me").status_code in (401, 403)
