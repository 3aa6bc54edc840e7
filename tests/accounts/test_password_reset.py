"""Password reset by email (allauth's pages): the same answer for known and unknown addresses,
a per-address limit, and a new password closes every socket of the account."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.realtime import groups
from tests.accounts.helpers_auth import PASSWORD, link_in, mails_to

pytestmark = pytest.mark.django_db

NEW = "a brand new long secret 7"


def ask(client: Client, email: str):
    return client.post("/accounts/password/reset/", {"email": email})


def token_for(username: str, password: str) -> int:
    return (
        APIClient()
        .post("/api/v1/auth/tokens", {"username": username, "password": password}, format="json")
        .status_code
    )


def test_known_and_unknown_addresses_get_the_same_answer(alice):
    known, unknown = ask(Client(), "alice@example.com"), ask(Client(), "nobody@example.com")
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == "/accounts/password/reset/done/"
    [to_alice] = mails_to("alice@example.com")
    assert "/accounts/password/reset/key/" in to_alice.body
    [to_nobody] = mails_to("nobody@example.com")  # says no account uses it: no link
    assert "/accounts/password/reset/key/" not in to_nobody.body


def test_the_link_sets_a_new_password_and_closes_every_socket(
    alice, events, django_capture_on_commit_callbacks
):
    ask(Client(), "alice@example.com")
    link = link_in(mails_to("alice@example.com")[0], "/accounts/password/reset/key/")
    browser = Client()
    form = browser.get(link, follow=True)  # allauth moves the key into the session first
    assert form.status_code == 200 and b"Choose a new password" in form.content
    with django_capture_on_commit_callbacks(execute=True):
        done = browser.post(form.redirect_chain[-1][0], {"password1": NEW, "password2": NEW})
    assert done.status_code == 302
    assert token_for("alice", NEW) == 201 and token_for("alice", PASSWORD) == 401
    closes = [e for e in events.to(groups.user_group(alice.pk)) if e.get("type") == "vivid.close"]
    assert [e["code"] for e in closes] == [4001]
    # The link works once.
    assert b"does not work" in Client().get(link, follow=True).content


def test_resets_per_address_stop_at_the_limit(settings, alice):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password_reset_address": "3/1h"}
    client = Client(REMOTE_ADDR="203.0.113.30")
    answers = [ask(client, f"x{i}@example.com") for i in range(4)] + [
        ask(client, "alice@example.com")
    ]
    assert [r.status_code for r in answers] == [302, 302, 302, 429, 429]
    assert 0 < int(answers[3]["Retry-After"]) <= 3600
    assert b"Too many password resets" in answers[3].content
    assert not mails_to("alice@example.com")  # refused before any email
    # Another address is not held up.
    assert ask(Client(REMOTE_ADDR="203.0.113.31"), "alice@example.com").status_code == 302


def test_changing_the_password_on_allauths_page_closes_every_socket(
    alice, events, django_capture_on_commit_callbacks
):
    browser = Client()
    browser.post("/login", {"username": "alice", "password": PASSWORD})
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            "/accounts/password/change/",
            {"oldpassword": PASSWORD, "password1": NEW, "password2": NEW},
        )
    assert response.status_code == 302
    assert token_for("alice", NEW) == 201
    closes = [e for e in events.to(groups.user_group(alice.pk)) if e.get("type") == "vivid.close"]
    assert [e["code"] for e in closes] == [4001]
    assert browser.get("/accounts/password/change/").status_code == 200  # still logged in here
