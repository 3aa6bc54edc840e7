"""Shared helpers for the queue, case and report tests: moderators' clients (a token with the
``moderate`` scope, which only the moderator role makes useful) and reported posts."""

from __future__ import annotations

import secrets

from rest_framework.test import APIClient

from apps.accounts.models import AccessToken, hash_token
from apps.moderation import cases
from apps.moderation.models import Case


def token_client(user, scopes=("read", "write", "moderate")) -> APIClient:
    """A client with a token of exactly ``scopes`` (made directly: people cannot yet pick
    ``moderate`` themselves)."""
    raw = "vvd_" + secrets.token_urlsafe(32)
    AccessToken.objects.create(
        user=user, prefix=raw[:12], key_hash=hash_token(raw), scopes=sorted(scopes)
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def reported(reporter, post, reason="spam", details="") -> Case:
    cases.report_create(
        reporter=reporter,
        target_type="post",
        target_id=str(post["id"]),
        reason=reason,
        details=details,
    )
    return Case.objects.get(target_type="post", target_id=int(post["id"]), status="open")
