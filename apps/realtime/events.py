"""The one way events leave the server: after the transaction commits, never before.

An event sent before commit could announce a post that a rollback then erases (a ghost feed item),
so every service publishes through ``publish_on_commit``. Tests capture what goes out by patching
``send_now``.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

# The channel-layer message type; the consumer's handler is ``vivid_event``.
EVENT = "vivid.event"
CLOSE = "vivid.close"


def send_now(group: str, message: dict[str, Any]) -> None:
    """Send one channel-layer message to a group right away (used after commit and by tasks)."""
    layer = get_channel_layer()
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # events are hints: a failed send must never fail the write it follows
        logger.exception("could not send %s to %s", message.get("event", {}).get("type"), group)


def event_message(event_type: str, stream: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": EVENT,
        "stream": stream,
        "event": {"type": event_type, "stream": stream, **payload},
    }


def publish_on_commit(group: str, event_type: str, stream: str, payload: dict[str, Any]) -> None:
    """Queue an event for ``group``; it goes out only if and when the transaction commits."""
    message = event_message(event_type, stream, payload)
    transaction.on_commit(lambda: send_now(group, message))


def close_on_commit(group: str, code: int = 4001) -> None:
    """Close every socket in ``group`` after commit (a revoked token, a suspended user)."""
    transaction.on_commit(lambda: send_now(group, {"type": CLOSE, "code": code}))
