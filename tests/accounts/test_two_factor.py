"""Two-factor sign-in (TOTP and recovery codes): the site's log-in asks for the code, the token
endpoint wants ``otp``, moderators need it where the setting says so, and signing in on the
site cancels a pending deletion."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.test import Client as DjangoClient
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.moderation.roles import role_set
from tests.accounts.helpers_auth import PASSWORD, totp_code, totp_turn_on
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def Client() -> DjangoClient:
    """A browser of its own address: allauth's per-address count of wrong codes is kept in the
    shared cache, across tests and runs."""
    return DjangoClient(REMOTE_ADDR=f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}")


def site_login(client: DjangoClient, username: str, password: str = PASSWORD):
    return client.post("/login", {"username": username, "password": password})


def logged_in_as(client: DjangoClient) -> str | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).username if user_id else None


def tokens(body: dict):
    return APIClient().post("/api/v1/auth/tokens", body, format="json")


def test_without_two_factor_the_password_logs_in(alice):
    browser = Client()
    assert site_login(browser, "alice").status_code == 302
    assert logged_in_as(browser) == "alice"


def test_the_login_asks_for_the_code_and_only_the_right_one_logs_in(alice):
    secret, _ = totp_turn_on(alice)
    browser = Client()
    answer = site_login(browser, "alice")
    assert answer.status_code == 302 and answer["Location"] == "/accounts/2fa/authenticate/"
    assert logged_in_as(browser) is None  # the password alone is not enough
    page = browser.get("/accounts/2fa/authenticate/")
    assert b"authenticator app" in page.content and b'name="code"' in page.content
    wrong = browser.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert wrong.status_code == 200 and logged_in_as(browser) is None
    right = browser.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert right.status_code == 302 and logged_in_as(browser) == "alice"


def test_a_recovery_code_logs_in_once(alice):
    _, codes = totp_turn_on(alice)
    first = Client()
    site_login(first, "alice")
    first.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert logged_in_as(first) == "alice"
    again = Client()
    site_login(again, "alice")
    again.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert logged_in_as(again) is None


def test_guessing_codes_stops_after_five(alice):
    secret, _ = totp_turn_on(alice)
    browser = Client()
    site_login(browser, "alice")
    for n in range(5):
        browser.post("/accounts/2fa/authenticate/", {"code": f"{n:06d}"})
    refused = browser.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert b"Too many failed login attempts" in refused.content
    assert logged_in_as(browser) is None


def test_turning_it_on_through_the_pages(alice):
    browser = Client()
    site_login(browser, "alice")
    # Turning it on asks for the password again first.
    ask = browser.get("/accounts/2fa/totp/activate/")
    assert ask.status_code == 302 and ask["Location"].startswith("/accounts/reauthenticate/")
    browser.post(ask["Location"], {"password": PASSWORD})
    page = browser.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = page.context["form"].secret
    assert secret.encode() in page.content and b"<svg" in page.content
    on = browser.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
    assert on.status_code == 302
    codes = browser.get(on["Location"], follow=True)
    assert b"recovery-codes" in codes.content
    assert b"On" in browser.get("/accounts/2fa/").content


def test_the_token_endpoint_wants_the_code_when_it_is_on(alice, settings):
    secret, codes = totp_turn_on(alice)
    body = {"username": "alice", "password": PASSWORD}
    missing = tokens(body)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "not_authenticated"
    assert "otp" in missing.json()["error"]["message"]
    assert tokens({**body, "otp": "123456"}).status_code == 401
    assert tokens({**body, "otp": totp_code(secret)}).status_code == 201
    assert tokens({**body, "otp": codes[1]}).status_code == 201
    assert tokens({**body, "otp": codes[1]}).status_code == 401  # used up
    # Wrong codes count as failed log-ins: the account's limit holds against guessing.
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login_account": "5/15m"}  # 3 failed above
    guesses = [tokens({**body, "otp": f"{n:06d}"}).status_code for n in range(3)]
    assert guesses == [401, 401, 429]


@pytest.fixture
def moderator(make_user):
    user = make_user("mona")
    role_set(user=user, role="moderator")
    return User.objects.get(pk=user.pk)


def test_moderators_need_two_factor_when_required(settings, moderator):
    settings.MFA_REQUIRED_FOR_MODERATORS = True
    browser = Client()
    browser.force_login(moderator)
    page = browser.get("/moderation/terms")
    assert page.status_code == 403 and b"two-factor" in page.content
    api = client_for(moderator, scopes=("read", "write"))
    # A moderate token cannot be made without it ...
    refused = tokens(
        {"username": "mona", "password": PASSWORD, "scopes": ["read", "moderate"]}
    ).json()["error"]
    assert refused["code"] == "forbidden" and "two-factor" in refused["message"]
    # ... and an older one acts no more.
    from apps.accounts.services import token_create

    settings.MFA_REQUIRED_FOR_MODERATORS = False
    _, raw = token_create(user=moderator, scopes=["read", "moderate"])
    settings.MFA_REQUIRED_FOR_MODERATORS = True
    old = APIClient()
    old.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    answer = old.get("/api/v1/moderation/terms")
    assert answer.status_code == 403 and "two-factor" in answer.json()["error"]["message"]
    # People without the role still find nothing there.
    assert api.get("/api/v1/moderation/terms").status_code == 404
    # With TOTP on, all of it works.
    secret, _ = totp_turn_on(moderator)
    assert browser.get("/moderation/terms").status_code == 200
    assert old.get("/api/v1/moderation/terms").status_code == 200
    made = tokens(
        {"username": "mona", "password": PASSWORD, "scopes": ["moderate"], "otp": totp_code(secret)}
    )
    assert made.status_code == 201


def test_when_not_required_moderators_act_without_it(settings, moderator):
    settings.MFA_REQUIRED_FOR_MODERATORS = False
    browser = Client()
    browser.force_login(moderator)
    assert browser.get("/moderation/terms").status_code == 200


def pending_deletion(user: User) -> User:
    now = timezone.now()
    User.objects.filter(pk=user.pk).update(
        is_active=False, deletion_requested_at=now, deletion_purge_at=now + timedelta(days=7)
    )
    return User.objects.get(pk=user.pk)


def test_signing_in_on_the_site_cancels_a_pending_deletion(alice):
    pytest.importorskip("apps.accounts.deletion")
    pending_deletion(alice)
    assert tokens({"username": "alice", "password": PASSWORD}).status_code == 401  # API: never
    assert User.objects.get(pk=alice.pk).deletion_requested_at is not None
    browser = Client()
    assert site_login(browser, "alice", "wrong password").status_code == 200  # stays pending
    assert not User.objects.get(pk=alice.pk).is_active
    answer = site_login(browser, "alice")
    assert answer.status_code == 302 and logged_in_as(browser) == "alice"
    alice.refresh_from_db()
    assert alice.is_active and alice.deletion_requested_at is None
    assert b"deletion is cancelled" in browser.get(answer["Location"]).content


def test_the_second_factor_comes_before_the_cancel(alice):
    pytest.importorskip("apps.accounts.deletion")
    secret, _ = totp_turn_on(alice)
    pending_deletion(alice)
    browser = Client()
    site_login(browser, "alice")
    assert not User.objects.get(pk=alice.pk).is_active  # the password alone changes nothing
    browser.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert logged_in_as(browser) == "alice" and User.objects.get(pk=alice.pk).is_active


def test_a_refused_cancel_logs_nobody_in(alice, monkeypatch):
    """Suspended by moderators while the deletion is pending: the deletion stays, no session."""
    deletion = pytest.importorskip("apps.accounts.deletion")
    from apps.core.exceptions import ApplicationError

    def refuse(*, user):
        raise ApplicationError("forbidden", "This account is suspended by the moderators.")

    monkeypatch.setattr(deletion, "deletion_cancel", refuse)
    pending_deletion(alice)
    browser = Client()
    answer = site_login(browser, "alice")
    assert answer.status_code == 302 and answer["Location"] == "/accounts/inactive/"
    assert logged_in_as(browser) is None
    assert b"suspended by the moderators" in browser.get(answer["Location"]).content
    assert User.objects.get(pk=alice.pk).deletion_requested_at is not None


def test_a_suspended_account_stays_refused(alice):
    User.objects.filter(pk=alice.pk).update(is_active=False)
    browser = Client()
    answer = site_login(browser, "alice")
    assert logged_in_as(browser) is None
    assert answer.status_code == 302 and answer["Location"] == "/accounts/inactive/"
    assert not User.objects.get(pk=alice.pk).is_active


def test_an_expired_grace_period_does_not_cancel(alice):
    now = timezone.now()
    User.objects.filter(pk=alice.pk).update(
        is_active=False, deletion_requested_at=now - timedelta(days=8), deletion_purge_at=now
    )
    browser = Client()
    site_login(browser, "alice")
    assert logged_in_as(browser) is None
    assert not User.objects.get(pk=alice.pk).is_active


def test_confirming_the_password_again_counts_against_the_login_limits(alice, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login_account": "2/15m"}
    browser = Client()
    site_login(browser, "alice")
    url = browser.get("/accounts/2fa/totp/activate/")["Location"]  # confirm the password first
    answers = [browser.post(url, {"password": "not it"}).content for _ in range(3)]
    assert [b"Too many failed log-ins" in a for a in answers] == [False, False, True]
    # The same counter as the log-in form and the token endpoint: the right password waits too.
    assert b"Too many failed log-ins" in browser.post(url, {"password": PASSWORD}).content
    assert tokens({"username": "alice", "password": PASSWORD}).status_code == 429
