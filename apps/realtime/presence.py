"""Who is online, kept in Redis, so fan-out sends a new post only to followers with an open socket.

Two kinds of keys, under the channel layer's prefix:

- ``<prefix>:presence:online``: one sorted set of user ids, scored by the time their presence
  expires. Fan-out asks it about a batch of followers in one ``ZMSCORE`` (5,000 ids a command),
  which is what keeps a creator with 100k followers cheap: one query per batch, not per follower.
- ``<prefix>:presence:u:<user id>``: the user's open sockets (channel names) scored the same way.
  Its size is the per-user socket limit; when the last socket leaves, the user leaves ``online``.

Every web process refreshes the expiry of its own sockets every ``HEARTBEAT_S`` in one pipeline.
A process that dies without cleaning up stops refreshing, so its sockets and users expire after
``TTL_S``: presence is never wrong for longer than that. Being marked online a little too long
only costs an event sent to an empty group.

A Redis restarted without persistence has forgotten everyone; the web processes close their
sockets with 1012 and the pages register again within about a second. A fan-out in that window
sends at once to whoever is back, then ``rebuilding`` tells it to go again when Redis has been up
``REBUILD_S`` (``PresenceRebuilding``, a connection error with the seconds to wait), so the
pages that came back later get the post live too; pages de-duplicate the second hint by id.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Iterable

import redis
import redis.asyncio as aredis
from django.conf import settings

from apps.realtime import limits

TTL_S = 60
HEARTBEAT_S = 20
BATCH = 5000
REBUILD_S = 2  # seconds of Redis uptime (whole seconds, as INFO says) sockets need to come back


class PresenceRebuilding(redis.ConnectionError):
    """Redis started moments ago: sockets are still registering; send again in ``retry_in_s``."""

    def __init__(self, message: str, retry_in_s: float) -> None:
        super().__init__(message)
        self.retry_in_s = retry_in_s


# Join: drop expired sockets, refuse past the limit, add this socket, mark the user online.
# KEYS: user's sockets, online set. ARGV: channel, user id, now, expires, limit, ttl.
_JOIN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local n = redis.call('ZCARD', KEYS[1])
if tonumber(ARGV[5]) > 0 and n >= tonumber(ARGV[5]) then return -1 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[2], 'GT', ARGV[4], ARGV[2])
return n + 1
"""

# Leave: remove this socket; the user leaves ``online`` with their last live socket.
_LEAVE = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 0
end
return 1
"""


def _prefix() -> str:
    return settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("prefix", "vivid")


def online_key() -> str:
    return f"{_prefix()}:presence:online"


def sockets_key(user_id: int) -> str:
    return f"{_prefix()}:presence:u:{user_id}"


# --- the web process: its sockets ------------------------------------------------------------

_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_local: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> {channel: user id}
_heartbeats: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> task


def _client() -> aredis.Redis:
    """One client per event loop (tests run each in its own loop; a server has one)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = aredis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
        _clients[loop] = client
    return client


async def join(*, user_id: int, channel: str) -> int:
    """Record one open socket; returns the user's open sockets, or -1 past the per-user limit."""
    now = time.time()
    count = await _client().eval(
        _JOIN,
        2,
        sockets_key(user_id),
        online_key(),
        channel,
        user_id,
        now,
        now + TTL_S,
        limits.max_sockets_per_user(),
        TTL_S,
    )
    if count > 0:
        loop = asyncio.get_running_loop()
        _local.setdefault(loop, {})[channel] = user_id
        task = _heartbeats.get(loop)
        if task is None or task.done():
            _heartbeats[loop] = loop.create_task(_heartbeat_forever())
    return int(count)


async def leave(*, user_id: int, channel: str) -> None:
    local = _local.get(asyncio.get_running_loop())
    if local is not None:
        local.pop(channel, None)
    await _client().eval(
        _LEAVE, 2, sockets_key(user_id), online_key(), channel, user_id, time.time()
    )


async def heartbeat() -> None:
    """Push back the expiry of every socket this process holds, in one round trip."""
    local = _local.get(asyncio.get_running_loop())
    if not local:
        return
    expires = time.time() + TTL_S
    users: dict[int, list[str]] = {}
    for channel, user_id in list(local.items()):
        users.setdefault(user_id, []).append(channel)
    async with _client().pipeline(transaction=False) as pipe:
        for user_id, channels in users.items():
            key = sockets_key(user_id)
            pipe.zadd(key, dict.fromkeys(channels, expires), xx=True)
            pipe.expire(key, TTL_S)
        pipe.zadd(online_key(), dict.fromkeys(users, expires), gt=True)
        await pipe.execute()


async def _heartbeat_forever() -> None:
    while _local.get(asyncio.get_running_loop()):
        await asyncio.sleep(HEARTBEAT_S)
        try:
            await heartbeat()
        except (redis.RedisError, OSError):
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # redis-py may wrap a cancellation
                raise asyncio.CancelledError from None
            # otherwise the next beat tries again; presence expires only after TTL_S


# --- the feed worker: who of these is online ---------------------------------------------------

_sync_client: redis.Redis | None = None


def _sync() -> redis.Redis:
    global _sync_client
    if _sync_client is None:
        _sync_client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10)
    return _sync_client


def online_among(user_ids: Iterable[int]) -> list[int]:
    """The ids of ``user_ids`` with a live socket, in batches of ``BATCH`` per command."""
    ids = list(user_ids)
    if not ids:
        return []
    now = time.time()
    online: list[int] = []
    with _sync().pipeline(transaction=False) as pipe:
        for start in range(0, len(ids), BATCH):
            pipe.zmscore(online_key(), ids[start : start + BATCH])
        results = pipe.execute()
    for start, scores in zip(range(0, len(ids), BATCH), results, strict=True):
        for user_id, score in zip(ids[start : start + BATCH], scores, strict=True):
            if score is not None and score > now:
                online.append(user_id)
    return online


def rebuilding() -> None:
    """Raise ``PresenceRebuilding`` while Redis has been up less than ``REBUILD_S``: pages are
    still registering, so what was just sent should be sent again when the window closes."""
    uptime = int(_sync().info("server").get("uptime_in_seconds", REBUILD_S))
    if uptime < REBUILD_S:
        # Uptime is in whole seconds: wait for the rest of the window, rounded up.
        raise PresenceRebuilding(f"Redis has been up {uptime} s", retry_in_s=REBUILD_S - uptime)


def online_count() -> int:
    """How many people are marked online (expired entries included until the next ``prune``)."""
    return int(_sync().zcard(online_key()))


def online_users() -> list[int]:
    """Everyone online now, for intersecting with a very large follower list from this side."""
    return [int(m) for m in _sync().zrangebyscore(online_key(), time.time(), "+inf")]


def prune() -> int:
    """Forget users whose presence expired (a web process died without saying goodbye)."""
    return int(_sync().zremrangebyscore(online_key(), "-inf", time.time()))


def open_sockets(user_id: int) -> int:
    """How many live sockets ``user_id`` holds across every web process."""
    return int(_sync().zcount(sockets_key(user_id), time.time(), "+inf"))
