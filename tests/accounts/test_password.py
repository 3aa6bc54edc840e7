"""Changing the password, over the API and on the site: wrong input changes nothing."""

import pytest
from django.test import Client

from apps.realtime import groups
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

OLD = "correct horse battery 9"
NEW = "a brand new long secret 7"


def can_get_token(anon, user, password) -> bool:
    response = anon.post(
        "/api/v1/auth/tokens", {"username": user.username, "password": password}, format="json"
    )
    return response.status_code == 201


def test_the_api_changes_the_password_and_closes_the_owners_sockets(
    api, anon, alice, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api(alice).post(
            "/api/v1/me/password", {"old_password": OLD, "new_password": NEW}, format="json"
        )
    assert response.status_code == 204
    assert can_get_token(anon, alice, NEW) and not can_get_token(anon, alice, OLD)
    closes = [e for e in events.to(groups.user_group(alice.pk)) if e.get("type") == "vivid.close"]
    assert [e["code"] for e in closes] == [4001]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"old_password": "not it at all", "new_password": NEW}, "old_password"),
        ({"old_password": OLD, "new_password": "123"}, "new_password"),
        ({"old_password": OLD}, "new_password"),
        ({"old_password": OLD, "new_password": 7 * "x" * 40}, "new_password"),
    ],
)
def test_bad_input_is_refused_and_the_password_stays(api, anon, alice, body, field):
    response = api(alice).post("/api/v1/me/password", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert can_get_token(anon, alice, OLD)


def test_a_read_only_token_cannot_change_the_password(anon, alice):
    client = client_for(alice, scopes=("read",))
    response = client.post(
        "/api/v1/me/password", {"old_password": OLD, "new_password": NEW}, format="json"
    )
    assert response.status_code == 403
    assert can_get_token(anon, alice, OLD)


def test_the_page_keeps_this_session_and_ends_the_others(anon, alice):
    here, elsewhere = Client(), Client()
    for browser in (here, elsewhere):
        browser.force_login(alice)
    assert here.get("/settings/password").status_code == 200

    mismatch = here.post(
        "/settings/password",
        {"old_password": OLD, "new_password": NEW, "new_password_again": NEW + "!"},
    )
    assert mismatch.status_code == 200 and b"The two new passwords differ." in mismatch.content
    assert can_get_token(anon, alice, OLD)

    wrong = here.post(
        "/settings/password",
        {"old_password": "nope nope nope", "new_password": NEW, "new_password_again": NEW},
    )
    assert b"Wrong password." in wrong.content and can_get_token(anon, alice, OLD)

    done = here.post(
        "/settings/password",
        {"old_password": OLD, "new_password": NEW, "new_password_again": NEW},
        follow=True,
    )
    assert b"Your password has changed" in done.content
    assert can_get_token(anon, alice, NEW)
    assert here.get("/settings/password").status_code == 200  # still logged in here
    assert elsewhere.get("/settings/password").status_code == 302  # logged out there


def test_the_page_needs_a_login():
    response = Client().get("/settings/password")
    assert response.status_code == 302 and "/login" in response["Location"]
