"""The one way events leave the server: after the transaction commits, never before.

An event sent before commit could announce a post that a rollback then erases (a ghost feed item),
so every service publishes through ``publish_on_commit``. Tests capture what goes out by patching
``send_now``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Iterable
from typing import Any

import redis
from channels.layers import get_channel_layer
from django.db import transaction

from apps.realtime import outage

logger = logging.getLogger(__name__)
# Redis away, as redis-py reports it (TimeoutError, an OSError, when a send waits in vain).
_REDIS_ERRORS = (redis.RedisError, OSError)

# The channel-layer message type; the consumer's handler is ``vivid_event``.
EVENT = "vivid.event"
CLOSE = "vivid.close"


_sender: tuple[int, asyncio.AbstractEventLoop] | None = None
_sender_lock = threading.Lock()


def _sender_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, on its own thread, for every send made from sync code.

    The channel layer keeps its Redis connections per event loop: a fresh loop per fan-out (what
    ``async_to_sync`` makes in a worker thread) opens new connections every time, which costs
    more than the sends themselves. This loop keeps them open between fan-outs.
    """
    global _sender
    with _sender_lock:
        if _sender is None or _sender[0] != os.getpid() or _sender[1].is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="vivid-sender", daemon=True).start()
            _sender = (os.getpid(), loop)
        return _sender[1]


def send_now(group: str, message: dict[str, Any]) -> None:
    """Send one channel-layer message to a group right away (used after commit and by tasks)."""
    layer = get_channel_layer()
    try:
        asyncio.run_coroutine_threadsafe(layer.group_send(group, message), _sender_loop()).result(
            timeout=30
        )
    except _REDIS_ERRORS as e:  # events are hints: a failed send must never fail the write
        outage.lost("events", e)  # one warning per outage, not a traceback per event
        return
    except Exception:
        logger.exception("could not send %s to %s", message.get("event", {}).get("type"), group)
        return
    outage.back("events")


def send_many(groups: Iterable[str], message: dict[str, Any], *, concurrency: int = 50) -> int:
    """Send the same message to many groups, ``concurrency`` sends in flight at a time.

    Fan-out calls this once per batch of followers rather than ``send_now`` once per follower:
    one hop into a long-lived event loop, and the sends overlap instead of waiting on each other.
    """
    names = list(groups)
    if not names:
        return 0
    layer = get_channel_layer()

    async def send_all() -> None:
        if await _publish_pipelined(layer, names, message):
            return
        for start in range(0, len(names), concurrency):
            chunk = names[start : start + concurrency]
            results = await asyncio.gather(
                *(layer.group_send(name, message) for name in chunk), return_exceptions=True
            )
            for name, result in zip(chunk, results, strict=True):
                if isinstance(result, Exception):
                    logger.error("could not send to %s: %r", name, result)

    try:
        asyncio.run_coroutine_threadsafe(send_all(), _sender_loop()).result(timeout=60)
    except Exception:  # events are hints, as in send_now
        logger.exception("could not send to %d groups", len(names))
    return len(names)


def send_to_users(user_ids: Iterable[int], message: dict[str, Any]) -> int:
    """Send a prepared message to the sockets of these users, in one Redis PUBLISH per 5,000
    (``multicast``); what the ``user.<id>`` groups would get, at the cost of one message.

    Unlike ``send_now`` a failure is raised (after one warning per outage): the fan-out gives
    back the recipients it claimed and tries again, from the queue."""
    from apps.realtime import multicast

    try:
        sent = multicast.publish(user_ids, message)
    except _REDIS_ERRORS as e:
        outage.lost("events", e)
        raise
    outage.back("events")
    return sent


async def _publish_pipelined(layer: Any, names: list[str], message: dict[str, Any]) -> bool:
    """With the Redis PUBLISH/SUBSCRIBE layer: serialise the message once and publish it to
    every group in one pipeline per Redis shard. False if the layer is another kind.

    ``group_send`` would serialise once per group and wait for one round trip per group (each
    shard's connection is used under a lock); a pipeline sends a thousand groups in one.
    This leans on channels_redis's ``RedisPubSubChannelLayer`` internals (4.x), checked here.
    """
    from channels_redis.pubsub import RedisPubSubChannelLayer

    if not isinstance(layer, RedisPubSubChannelLayer):
        return False
    inner = layer._get_layer()
    if not all(
        hasattr(inner, name) for name in ("_get_group_channel_name", "_get_shard", "_shards")
    ):
        return False
    data = layer.serialize(message)
    by_shard: dict[Any, list[str]] = {}
    for name in names:
        channel = inner._get_group_channel_name(name)
        by_shard.setdefault(inner._get_shard(channel), []).append(channel)
    for shard, channels in by_shard.items():
        async with shard._lock:
            shard._ensure_redis()
            async with shard._redis.pipeline(transaction=False) as pipe:
                for channel in channels:
                    pipe.publish(channel, data)
                await pipe.execute()
    return True


def prepared_message(
    event_type: str, stream: str, payload: dict[str, Any], **meta: Any
) -> dict[str, Any]:
    """A message whose event is already JSON text: serialised once, forwarded as is.

    ``meta`` (such as ``author_id``) lets each socket decide whether to forward it without
    parsing the text again.
    """
    text = json.dumps({"type": event_type, "stream": stream, **payload}, separators=(",", ":"))
    return {"type": EVENT, "stream": stream, "text": text, **meta}


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
    """Close every socket in ``group`` after commit (a revoked token, a suspended user).

    The close reaches every web process through the channel layer at once, well inside the
    two seconds a logged-out or suspended person's sockets may stay open.
    """
    transaction.on_commit(lambda: send_now(group, {"type": CLOSE, "code": code}))
