"""WebSocket authentication: a Bearer token, or the browser session from an allowed Origin.

Browsers send cookies with every cross-site socket, so a socket that carries cookies must come
from this site's own pages (its Origin is one of ALLOWED_HOSTS); a missing or foreign Origin is
refused at the handshake. A socket with no credentials at all is an anonymous reader. Scripts
and apps use ``Authorization: Bearer``, which carries no ambient authority, so it needs no Origin.
"""

from __future__ import annotations

import asyncio
import logging

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from apps.accounts.auth import user_for_token
from apps.realtime.events import CLOSE
from apps.realtime.groups import token_group
from apps.realtime.limits import CLOSE_AUTH

logger = logging.getLogger(__name__)


def _bearer(scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            parts = value.decode("latin-1").split()
            if len(parts) == 2 and parts[0].lower() == "bearer":
                return parts[1]
            return ""
    return None


class TokenOrSessionAuth:
    def __init__(self, inner):
        self.inner = inner
        self.session_stack = OriginValidator(AuthMiddlewareStack(inner), self._allowed_origins())

    @staticmethod
    def _allowed_origins() -> list[str]:
        hosts = [h for h in settings.ALLOWED_HOSTS if h != "*"] or ["localhost"]
        return [*hosts, *settings.CSRF_TRUSTED_ORIGINS]

    async def __call__(self, scope, receive, send):
        raw = _bearer(scope)
        if raw is None:
            if any(name == b"cookie" for name, _ in scope.get("headers", [])):
                return await self.session_stack(scope, receive, send)
            # No credentials at all: an anonymous reader of public streams, from anywhere.
            return await self.inner({**scope, "user": AnonymousUser()}, receive, send)
        found = await database_sync_to_async(user_for_token)(raw) if raw else None
        if found is None:
            # A bad token is refused outright rather than treated as anonymous.
            await send({"type": "websocket.close", "code": 4001})
            return None
        user, token = found
        scope = {**scope, "user": user, "token": token}
        if token.expires_at is None:
            return await self.inner(scope, receive, send)
        # A socket must not outlive its token: at the expiry, close the token's sockets as a
        # revocation does (4001). Every socket of the token arms the same close; one is enough.
        delay = max(0.0, (token.expires_at - timezone.now()).total_seconds())
        timer = asyncio.get_running_loop().call_later(
            delay, lambda: asyncio.ensure_future(_close_group(token_group(token.pk)))
        )
        try:
            return await self.inner(scope, receive, send)
        finally:
            timer.cancel()


async def _close_group(group: str) -> None:
    try:
        await get_channel_layer().group_send(group, {"type": CLOSE, "code": CLOSE_AUTH})
    except Exception:  # Redis away: the token is refused at the next connect anyway
        logger.warning("could not close the sockets of an expired token", exc_info=True)
