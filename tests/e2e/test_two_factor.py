"""Two-factor sign-in in a real browser: sign up, confirm the email from the link the server
sent, turn TOTP on with the secret the page shows, log out, and log in again with a code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.helpers import wait_for

pytestmark = pytest.mark.e2e

PASSWORD = "a long and unusual password 9"


@pytest.fixture
def mail_dir(tmp_path, monkeypatch) -> Path:
    """The servers write their emails here (EMAIL_URL=filemail://…), one file per send."""
    path = tmp_path / "mail"
    path.mkdir()
    # django-environ reads the path after the third slash: four for an absolute one.
    monkeypatch.setenv("EMAIL_URL", f"filemail:///{path}")
    return path


@pytest.fixture
def live_stack(mail_dir, live_stack):
    return live_stack


def totp(secret: str, at: float) -> str:
    """RFC 6238 (SHA-1, 6 digits, 30 s), as an authenticator app computes it."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", int(at // 30)), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def confirmation_link(mail_dir: Path) -> str:
    def find() -> str | None:
        for message in mail_dir.iterdir():
            body = message.read_text(errors="replace")
            match = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+)", body)
            if match:
                return match.group(1)
        return None

    try:
        return wait_for(find, timeout=10)
    except AssertionError as e:
        seen = {m.name: m.read_text(errors="replace")[:300] for m in mail_dir.iterdir()}
        raise AssertionError(f"no confirmation email in {mail_dir}: {seen}") from e


def test_sign_up_confirm_turn_on_two_factor_and_log_in_with_a_code(
    live_stack, browser_page, mail_dir
):
    page = browser_page("zoe")
    page.goto("/signup")
    page.get_by_label("Username").fill("zoe")
    page.get_by_label("Email").fill("zoe@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("link", name="@zoe")).to_be_visible()

    # The email's link, then the button that confirms.
    page.goto(confirmation_link(mail_dir))
    page.get_by_role("button", name="Confirm").click()
    page.goto("/accounts/email/")
    expect(page.get_by_text("Confirmed")).to_be_visible()

    # Turning two-factor on asks for the password again, then shows the secret and a QR code.
    page.goto("/accounts/2fa/totp/activate/")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".mfa-qr svg")).to_be_visible()
    secret = page.get_by_test_id("totp-secret").inner_text().strip()
    activated_at = time.time()
    page.get_by_label("Authenticator code").fill(totp(secret, activated_at))
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()

    # The password alone leads to the code page; a fresh code logs in (a code works once: wait
    # for the app's next one if it still shows the code used to turn two-factor on).
    page.goto("/login")
    page.get_by_label("Username").fill("zoe")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
    expect(page.get_by_role("link", name="@zoe")).to_have_count(0)
    page.get_by_label("Code").fill("000000")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Incorrect code")).to_be_visible()
    if int(time.time() // 30) == int(activated_at // 30):
        time.sleep(30 - time.time() % 30 + 0.5)
    page.get_by_label("Code").fill(totp(secret, time.time()))
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="@zoe")).to_be_visible()
