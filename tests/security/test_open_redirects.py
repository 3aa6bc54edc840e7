"""Open redirects: every view that takes a redirect target (``next``) is given an off-site one
in each spelling browsers follow; the answer never sends the browser off the site."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client

from apps.moderation import cases
from apps.moderation.models import Case
from apps.moderation.roles import role_set
from tests.security.conftest import publish_via_api

pytestmark = pytest.mark.django_db

TARGETS = [
    "//evil.example",
    "//evil.example/%2F..",
    "https://evil.example",
    "http://evil.example/path",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "/%5Cevil.example",
    "https:evil.example",
    " //evil.example",
    "/\t/evil.example",
    "http://testserver@evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
]
PASSWORD = "correct horse battery 9"


def assert_stays_on_site(response) -> None:
    assert response.status_code != 500
    location = response.get("Location")
    if response.status_code not in (301, 302, 303, 307, 308) or location is None:
        return
    # As a browser reads a Location: tabs and newlines dropped, backslashes as slashes (a
    # percent-encoded one stays a character of the path).
    raw = "".join(c for c in location if c not in "\t\n\r").strip()
    parts = urlsplit(raw.replace("\\", "/"))
    assert parts.scheme in ("", "http", "https"), location
    assert parts.netloc in ("", "testserver"), location
    assert not raw.lower().startswith(("javascript:", "data:")), location


def _login_body(target: str) -> dict:
    return {"login": "alice", "username": "alice", "password": PASSWORD, "next": target}


@pytest.mark.parametrize("path", ["/login", "/accounts/login/"])
def test_login(make_user, path, settings):
    settings.ACCOUNT_RATE_LIMITS = False  # sixteen log-ins in a row, on purpose
    make_user("alice")
    for target in TARGETS:
        browser = Client()
        logged_in = browser.post(f"{path}?next={target}", _login_body(target))
        assert logged_in.status_code == 302, (target, logged_in.status_code)
        assert_stays_on_site(logged_in)
        # Already signed in: the log-in page sends one on at once.
        assert_stays_on_site(browser.get(path, {"next": target}))
    # The control: a target on this site is followed.
    followed = Client().post(path, _login_body("/library"))
    assert (followed.status_code, followed["Location"]) == (302, "/library")


@pytest.mark.parametrize("path", ["/logout", "/accounts/logout/"])
def test_logout(make_user, path):
    alice = make_user("alice")
    for target in TARGETS:
        browser = Client()
        browser.force_login(alice)
        assert_stays_on_site(browser.post(path, {"next": target}))
        browser.force_login(alice)
        assert_stays_on_site(browser.post(f"{path}?next={target}"))


@pytest.mark.parametrize("path", ["/signup", "/accounts/signup/"])
def test_signup(db, path, settings):
    settings.RATE_LIMITS_ENABLED = False  # fifteen sign-ups from one address, on purpose
    for n, target in enumerate(TARGETS):
        body = {
            "username": f"newcomer{n}",
            "email": f"n{n}@example.com",
            "password": PASSWORD,
            "password1": PASSWORD,
            "next": target,
        }
        response = Client().post(f"{path}?next={target}", body)
        assert response.status_code == 302, (target, response.status_code)
        assert_stays_on_site(response)


def test_admin_login_passes_next_to_the_site_login(make_user, settings):
    make_user("alice")
    for target in TARGETS:
        browser = Client()
        first = browser.get(f"/{settings.ADMIN_URL}login/", {"next": target})
        assert_stays_on_site(first)
        if first.status_code == 302:
            assert_stays_on_site(browser.post(first["Location"], _login_body(target)))


def test_moderator_forms(make_user):
    alice, carol, mod = make_user("alice"), make_user("carol"), make_user("mod")
    role_set(user=mod, role="moderator")
    post = publish_via_api(alice, "public", "x")
    cases.report_create(reporter=carol, target_type="post", target_id=post["id"], reason="spam")
    case = Case.objects.get(target_id=int(post["id"]))
    browser = Client()
    browser.force_login(mod)
    for target in TARGETS:
        for path, data in (
            (f"/moderation/cases/{case.id}/claim", {}),
            (f"/moderation/cases/{case.id}/escalate", {"note": "x"}),
            (f"/moderation/cases/{case.id}/act", {"action": "dismiss", "reason_code": "spam"}),
            ("/moderation/bulk", {"case_ids": [str(case.id)], "action": "dismiss"}),
        ):
            assert_stays_on_site(browser.post(path, {**data, "next": target}))
            assert_stays_on_site(browser.post(f"{path}?next={target}", data))


def test_pages_that_require_log_in_keep_next_on_site(db):
    """A signed-out visitor sent to log in: the ``next`` the site writes is its own path."""
    for target in TARGETS:
        response = Client().get(f"/library?next={target}")
        assert response.status_code == 302
        assert_stays_on_site(response)


def test_reauthentication_and_account_pages(make_user, settings):
    """allauth's pages that take ``next``: confirming the password again before a sensitive
    change, and the email and password pages."""
    settings.ACCOUNT_RATE_LIMITS = False  # fifteen confirmations in a row, on purpose
    settings.RATE_LIMITS_ENABLED = False
    alice = make_user("alice")
    for target in TARGETS:
        browser = Client()
        browser.force_login(alice)
        confirmed = browser.post(
            f"/accounts/reauthenticate/?next={target}", {"password": PASSWORD, "next": target}
        )
        assert confirmed.status_code == 302, (target, confirmed.status_code)
        assert_stays_on_site(confirmed)
        for path in ("/accounts/email/", "/accounts/password/change/"):
            assert_stays_on_site(browser.get(path, {"next": target}))
    browser = Client()
    browser.force_login(alice)
    followed = browser.post("/accounts/reauthenticate/?next=/library", {"password": PASSWORD})
    assert (followed.status_code, followed["Location"]) == (302, "/library")
