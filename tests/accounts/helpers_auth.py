"""Small helpers for the account tests: links in emails, TOTP codes, a second factor."""

from __future__ import annotations

import re
import time

from django.core import mail

PASSWORD = "correct horse battery 9"


def link_in(message, contains: str) -> str:
    """The path of the first link in an email whose URL contains ``contains``."""
    for url in re.findall(r"https?://[^\s]+", message.body):
        if contains in url:
            return re.sub(r"^https?://[^/]+", "", url)
    raise AssertionError(f"no {contains} link in: {message.body}")


def mails_to(address: str) -> list:
    return [m for m in mail.outbox if address in m.to]


def totp_code(secret: str, at: float | None = None) -> str:
    """The authenticator app's current code for ``secret`` (RFC 6238, as allauth checks it)."""
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    return format_hotp_value(hotp_value(secret, int((at or time.time()) // 30)))


def totp_turn_on(user) -> tuple[str, list[str]]:
    """Turn two-factor sign-in on for ``user`` as the activation page does: the secret and
    the recovery codes."""
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    codes = RecoveryCodes.activate(user).generate_codes()
    return secret, codes
