"""One message for many users' sockets: a single Redis PUBLISH, delivered by every web process to
its own sockets of those users.

Why not one channel-layer message per ``user.<id>`` group: a post for 1,000 online followers is
then 1,000 Redis messages, each deserialised and dispatched through a consumer's queue in some
web process. ``tests/bench/realtime.py`` measured that at several times the cost of a plain
Redis PUBLISH broadcast. Here the feed worker publishes one message per batch of up to 5,000
online followers: a JSON header (the user ids, the stream, the author) and the event text,
serialised once. Each web process holds one subscription (opened, and confirmed by Redis, before
its first socket is accepted), looks the users up among its own sockets and writes the text to
each of them after the same per-socket checks as any other event (subscribed stream, hidden
authors).

Like every event this is a hint: a web process that is away misses it, and its clients catch up
with ``since=`` when they reconnect. When Redis goes away the subscription is made again every
``RESUBSCRIBE_S`` until Redis answers (one warning when it is lost, one line when it is back);
the sockets themselves are closed with 1012 by the consumer and come back through ``register``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import Iterable
from typing import Any, Protocol

import redis
import redis.asyncio as aredis
from django.conf import settings

from apps.realtime import outage

logger = logging.getLogger(__name__)

BATCH = 5000
RESUBSCRIBE_S = 0.25


class Receiver(Protocol):
    def deliver_now(self, stream: str, author_id: int | None, message: dict) -> None: ...


def channel() -> str:
    prefix = settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "vivid")
    return f"{prefix}:multicast"


# --- the feed worker ------------------------------------------------------------------------

_sync_client: redis.Redis | None = None


def publish(user_ids: Iterable[int], message: dict[str, Any]) -> int:
    """Publish a prepared message (``events.prepared_message``) for these users' sockets."""
    global _sync_client
    ids = list(user_ids)
    if not ids:
        return 0
    if _sync_client is None:
        _sync_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10)
    text = message["text"].encode()
    with _sync_client.pipeline(transaction=False) as pipe:
        for start in range(0, len(ids), BATCH):
            header = {
                "users": ids[start : start + BATCH],
                "stream": message["stream"],
                "author_id": message.get("author_id"),
            }
            pipe.publish(
                channel(), json.dumps(header, separators=(",", ":")).encode() + b"\n" + text
            )
        pipe.execute()
    return len(ids)


def frame_parts(message: dict[str, Any]) -> tuple[bytes, bytes]:
    """The Redis message ``publish`` sends, split around the recipients' ids: ``head``,
    the ids comma-separated, ``tail``. The fan-out's claim script publishes with these, the
    ids known only once it claimed them (the same bytes ``publish`` would send)."""
    header = json.dumps(
        {"users": [], "stream": message["stream"], "author_id": message.get("author_id")},
        separators=(",", ":"),
    ).encode()
    head = b'{"users":['
    assert header.startswith(head + b"]")
    return head, header[len(head) :] + b"\n" + message["text"].encode()


# --- the web process ------------------------------------------------------------------------

_local: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> {user id: {receiver}}
_listeners: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> (task, ready)


async def register(user_id: int, receiver: Receiver) -> None:
    """Deliver multicasts for ``user_id`` to ``receiver`` from now on. Returns once this process
    is subscribed, so nothing published after the socket is accepted can be missed."""
    loop = asyncio.get_running_loop()
    _local.setdefault(loop, {}).setdefault(user_id, set()).add(receiver)
    listener = _listeners.get(loop)
    if listener is None or listener[0].done():
        ready = asyncio.Event()
        listener = (loop.create_task(_listen(ready)), ready)
        _listeners[loop] = listener
    await asyncio.wait_for(listener[1].wait(), timeout=10)


def unregister(user_id: int, receiver: Receiver) -> None:
    local = _local.get(asyncio.get_running_loop())
    if local is None:
        return
    receivers = local.get(user_id)
    if receivers is not None:
        receivers.discard(receiver)
        if not receivers:
            del local[user_id]


async def _listen(ready: asyncio.Event) -> None:
    """Hold this process's subscription while it has sockets; reconnect after Redis errors."""
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    assert me is not None
    # Ends once cancelled (its loop closing), even if a library below turned the cancellation
    # into an error or a timeout of its own: the task stays marked as cancelling.
    while not me.cancelling():
        client = aredis.Redis.from_url(settings.REDIS_URL)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(channel())
            while True:  # Redis confirms the subscription before anything is delivered
                if me.cancelling():
                    raise asyncio.CancelledError
                confirm = await pubsub.get_message(timeout=5)
                if confirm is not None and confirm["type"] == "subscribe":
                    break
            ready.set()
            outage.back("multicast", "subscribed again")
            while not me.cancelling():
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None and message["type"] == "message":
                    _deliver(loop, message["data"])
                if not _local.get(loop):
                    # No sockets left: step aside at once (no await between the check and
                    # this), so the next socket starts a fresh, confirmed subscription.
                    ready.clear()
                    if _listeners.get(loop, (None,))[0] is me:
                        del _listeners[loop]
                    return
        except (redis.RedisError, OSError) as e:
            if me.cancelling():  # redis-py may wrap a cancellation
                raise asyncio.CancelledError from None
            outage.lost("multicast", e)
            ready.clear()
            await asyncio.sleep(RESUBSCRIBE_S)
        finally:
            try:
                await pubsub.aclose()
                await client.aclose()
            except Exception:  # already broken
                pass


_sending: set[asyncio.Task] = set()
_SEND_TYPE = "websocket.send"


def _deliver(loop: asyncio.AbstractEventLoop, data: bytes) -> None:
    """Write the text to each local socket of the listed users, straight away: the header is
    parsed once, the text decoded once, and one ASGI message serves every socket
    (``Receiver.deliver_now``). Only a socket whose client reads too slowly (its buffer full)
    waits, in a task of its own, never holding up the others."""
    header_raw, _, body = data.partition(b"\n")
    header = json.loads(header_raw)
    local = _local.get(loop)
    if not local:
        return
    stream, author_id = header["stream"], header.get("author_id")
    message = None
    for user_id in header["users"]:
        receivers = local.get(user_id)
        if not receivers:
            continue
        if message is None:
            message = {"type": _SEND_TYPE, "text": body.decode()}
        for receiver in tuple(receivers):
            try:
                receiver.deliver_now(stream, author_id, message)
            except Exception:  # a socket closing under us
                logger.debug("multicast to a closing socket failed", exc_info=True)


def send_now(send: Any, message: dict) -> None:
    """Call an ASGI ``send`` without a task of its own when it completes at once, as a server's
    send does while the socket is writable (uvicorn writes the frame to the transport and
    returns). When it has to wait (the client's buffer is full), the rest of that same call
    goes on in a task, so frames to one socket keep their order. Raises what ``send`` raises
    at once (a socket that closed)."""
    call = send(message)
    try:
        waiting = call.send(None)
    except StopIteration:
        return
    task = asyncio.get_running_loop().create_task(_resume(call, waiting))
    _sending.add(task)
    task.add_done_callback(_sending.discard)


class _Wait:
    """Waits on what a suspended coroutine waits on, on behalf of the task driving it."""

    __slots__ = ("waiting",)

    def __init__(self, waiting: Any) -> None:
        self.waiting = waiting

    def __await__(self):
        return (yield self.waiting)


async def _resume(call: Any, waiting: Any) -> None:
    """Drive a coroutine that ``send_now`` started and that suspended, as a task would."""
    try:
        while True:
            try:
                value = await _Wait(waiting)
            except BaseException as e:  # a cancellation too: the call decides
                waiting = call.throw(e)
            else:
                waiting = call.send(value)
    except StopIteration:
        return
    except Exception:  # a socket closing under us
        logger.debug("multicast to a closing socket failed", exc_info=True)
