"""My sessions and devices (allauth.usersessions): listed, and "log out everywhere else" ends
the others and closes their sockets."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.realtime import groups
from tests.accounts.helpers_auth import PASSWORD

pytestmark = pytest.mark.django_db


def logged_in(agent: str) -> Client:
    client = Client(HTTP_USER_AGENT=agent)
    assert client.post("/login", {"username": "alice", "password": PASSWORD}).status_code == 302
    return client


def test_the_list_shows_every_session_and_ends_the_others(
    alice, bob, events, django_capture_on_commit_callbacks
):
    laptop, phone = logged_in("Laptop Firefox"), logged_in("Phone Safari")
    phone_key = phone.session.session_key
    bobs = Client()
    bobs.post("/login", {"username": "bob", "password": PASSWORD})
    page = laptop.get("/accounts/sessions/")
    assert page.status_code == 200
    assert b"Laptop Firefox" in page.content and b"Phone Safari" in page.content
    assert b"Log out everywhere else" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        assert laptop.post("/accounts/sessions/").status_code == 302
    assert phone.get("/accounts/sessions/").status_code == 302  # logged out: to the login
    assert laptop.get("/accounts/sessions/").status_code == 200  # this one stays
    assert bobs.get("/accounts/sessions/").status_code == 200  # someone else's is untouched
    closes = [e for e in events.to(groups.session_group(phone_key)) if e["type"] == "vivid.close"]
    assert [e["code"] for e in closes] == [4001]
    page = laptop.get("/accounts/sessions/")
    assert b"Phone Safari" not in page.content and b"only session" in page.content


def test_logging_out_closes_this_sessions_sockets(
    alice, events, django_capture_on_commit_callbacks
):
    browser = logged_in("Laptop Firefox")
    key = browser.session.session_key
    with django_capture_on_commit_callbacks(execute=True):
        browser.post("/accounts/logout/")
    assert [e["type"] for e in events.to(groups.session_group(key))] == ["vivid.close"]
    assert "_auth_user_id" not in browser.session


def test_the_list_needs_a_login():
    answer = Client().get("/accounts/sessions/")
    assert answer.status_code == 302 and answer["Location"].startswith("/login")
