"""Sign-up sends a confirmation email (site and API); where the setting requires it, an
unconfirmed account may not publish until it follows the link."""

from __future__ import annotations

import uuid

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.models import User
from tests.accounts.helpers_auth import PASSWORD, link_in, mails_to

pytestmark = pytest.mark.django_db


def site_signup(client: Client, username: str):
    return client.post(
        "/signup",
        {"username": username, "email": f"{username}@example.com", "password": PASSWORD},
        follow=True,
    )


def api_signup(username: str):
    return APIClient().post(
        "/api/v1/auth/signup",
        {"username": username, "email": f"{username}@example.com", "password": PASSWORD},
        format="json",
    )


def test_site_signup_logs_in_and_emails_a_link_that_confirms_the_address():
    browser = Client()
    page = site_signup(browser, "erin")
    assert page.status_code == 200 and b"@erin" in page.content  # logged in, on the feed
    [message] = mails_to("erin@example.com")
    assert "Confirm" in message.subject
    link = link_in(message, "/accounts/confirm-email/")
    assert not EmailAddress.objects.get(email="erin@example.com").verified
    # The link asks to confirm (a GET changes nothing), the button confirms.
    assert browser.get(link).status_code == 200
    assert not EmailAddress.objects.get(email="erin@example.com").verified
    assert Client().post(link).status_code == 302  # works from any browser, logged in or not
    assert EmailAddress.objects.get(email="erin@example.com").verified


def test_api_signup_answers_as_before_and_emails_the_link():
    response = api_signup("finn")
    assert response.status_code == 201
    body = response.json()
    assert body["user"]["username"] == "finn" and body["token"].startswith("vvd_")
    [message] = mails_to("finn@example.com")
    assert Client().post(link_in(message, "/accounts/confirm-email/")).status_code == 302
    address = EmailAddress.objects.get(user__username="finn")
    assert address.verified and address.primary


def test_a_broken_link_confirms_nothing():
    api_signup("gus")
    assert b"expired or is not valid" in Client().get("/accounts/confirm-email/bad-key/").content
    assert Client().post("/accounts/confirm-email/bad-key/").status_code == 404
    assert not EmailAddress.objects.get(user__username="gus").verified


def publish(token: str, make_asset, username: str):
    asset = make_asset(User.objects.get(username=username))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.post(
        "/api/v1/posts",
        {"asset_id": asset.id, "caption": "first", "visibility": "public"},
        format="json",
    )


def test_when_required_an_unconfirmed_account_is_refused_until_it_confirms(settings, make_asset):
    settings.ACCOUNT_CONFIRMATION_REQUIRED_TO_PUBLISH = True
    # allauth allows one resend per address in 3 minutes, counted in the shared cache: an
    # address of this run's own.
    name = f"hana{uuid.uuid4().hex[:8]}"
    token = api_signup(name).json()["token"]
    refused = publish(token, make_asset, name)
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "forbidden"
    assert "Confirm your email" in error["message"] and "/accounts/email/" in error["message"]
    assert not User.objects.get(username=name).posts.exists()
    # Every page says so, with a link to the email page, which resends the link.
    browser = Client()
    browser.force_login(User.objects.get(username=name))
    notice = browser.get("/").content
    assert (
        b"Confirm your email address to publish" in notice and b'href="/accounts/email/"' in notice
    )
    mail.outbox.clear()
    browser.post("/accounts/email/", {"action_send": "", "email": f"{name}@example.com"})
    [again] = mails_to(f"{name}@example.com")
    Client().post(link_in(again, "/accounts/confirm-email/"))
    assert publish(token, make_asset, name).status_code == 201
    assert b"Confirm your email address" not in browser.get("/").content


def test_no_reminder_when_confirmation_is_optional(settings):
    settings.ACCOUNT_CONFIRMATION_REQUIRED_TO_PUBLISH = False
    browser = Client()
    page = site_signup(browser, "jay")
    assert b"@jay" in page.content and b"Confirm your email address to publish" not in page.content


def test_when_optional_an_unconfirmed_account_publishes(settings, make_asset):
    settings.ACCOUNT_CONFIRMATION_REQUIRED_TO_PUBLISH = False
    token = api_signup("ivy").json()["token"]
    assert publish(token, make_asset, "ivy").status_code == 201


def test_accounts_made_before_confirmation_existed_still_publish(settings, alice, publish):
    settings.ACCOUNT_CONFIRMATION_REQUIRED_TO_PUBLISH = True
    publish(alice)  # asserts 201


def test_the_development_default_lets_scripts_publish():
    """Off with DEBUG on (development, embedded), on with DEBUG off (production)."""
    import subprocess
    import sys

    code = "from django.conf import settings as s; print(s.ACCOUNT_CONFIRMATION_REQUIRED_TO_PUBLISH, s.MFA_REQUIRED_FOR_MODERATORS)"  # noqa: E501
    from tests.processes import process_env

    def read(**env: str) -> str:
        return subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            env=process_env(**env),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    assert read(DEBUG="1") == "False False"
    assert read(DEBUG="0") == "True True"
    assert read(DEBUG="0", ACCOUNT_CONFIRMATION_REQUIRED_TO_PUBLISH="0") == "False True"


def test_a_mail_server_that_is_down_does_not_lose_the_sign_up(settings, monkeypatch):
    import smtplib

    from django.core.mail.backends.locmem import EmailBackend

    def down(self, messages):
        raise smtplib.SMTPConnectError(421, "try later")

    monkeypatch.setattr(EmailBackend, "send_messages", down)
    response = api_signup("kim")
    assert response.status_code == 201 and response.json()["token"]
    assert not EmailAddress.objects.get(user__username="kim").verified
    # The site's sign-up too: logged in, on the feed.
    assert b"@lou" in site_signup(Client(), "lou").content
