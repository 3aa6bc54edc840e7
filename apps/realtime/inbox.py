"""One channel-layer reader per web process, for all of its sockets.

Left to channels, every consumer runs its own receive loop on the channel layer: two tasks of
its own that wait on the socket and on the layer at once, and in ``RedisChannelLayer`` a buffer
queue per channel plus two more tasks and a lock wait per receive. tracemalloc on a process
holding 1,000 idle sockets put that at about 12 KiB per socket, a third of what a socket cost
(docs/realtime.md, "Memory per idle socket"). Yet ``RedisChannelLayer`` keeps every channel of a
process (``specific.<process>!<socket>``) under one Redis key and reads it with one ``BZPOPMIN``
for the whole process anyway. So here one task per process reads that key and hands each
message to the consumer whose channel it names: an idle socket costs one entry in a dict.
Messages for one socket run in order, in a task that lives while that socket has messages
waiting (``StreamConsumer.post``), so a slow client holds up only itself.

When Redis goes away the read fails: every socket of the process is closed with 1012, as the
per-socket loops did, and the reader tries again every ``RETRY_S`` while sockets are open.
Other channel layers (``CHANNEL_LAYER=pubsub``) keep channels' own per-socket loop (``reader``
returns None for them).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import uuid
import weakref
from typing import Protocol

import redis
from channels_redis.core import RedisChannelLayer

from apps.realtime import outage

logger = logging.getLogger(__name__)

RETRY_S = 0.25
REDIS_ERRORS = (redis.RedisError, OSError)


class Socket(Protocol):
    def post(self, message: dict) -> None: ...

    def layer_lost(self, exc: BaseException) -> None: ...


class Reader:
    """The sockets of one event loop on one channel layer, and the task reading for them."""

    def __init__(self, layer: RedisChannelLayer) -> None:
        self.layer = layer
        self.key = f"specific.{layer.client_prefix}!"  # every local channel's non-local name
        self.sockets: dict[str, Socket] = {}
        self.task: asyncio.Task | None = None

    def add(self, socket: Socket) -> str:
        """A new channel name for ``socket``; its messages are posted to it from now on."""
        channel = f"{self.key}{uuid.uuid4().hex}"  # as RedisChannelLayer.new_channel names it
        self.sockets[channel] = socket
        if self.task is None or self.task.done():
            # A context of its own: it outlives the socket that starts it.
            self.task = asyncio.get_running_loop().create_task(
                self._read(), context=contextvars.Context()
            )
        return channel

    def remove(self, channel: str) -> None:
        self.sockets.pop(channel, None)
        if not self.sockets and self.task is not None:
            # Nothing left to read for: stop waiting in Redis. A message arriving meanwhile
            # has nobody to go to (as on any channel whose socket closed).
            self.task.cancel()
            self.task = None

    async def _receive(self) -> tuple[str | list[str], dict]:
        """``RedisChannelLayer.receive_single`` without its per-key lock: this task is the only
        reader of the key, and that lock, shared by every event loop of the process, would stay
        taken by a loop that ended in the middle of a read (tests run one loop each)."""
        layer = self.layer
        index = layer.consistent_hash(self.key)
        key = layer.prefix + self.key
        content = None
        while content is None:  # a message is kept in a backup list until it is cleaned
            content = await layer._brpop_with_clean(index, key, timeout=layer.brpop_timeout)
        await layer._clean_receive_backup(index, key)
        message = layer.deserialize(content)
        return message.pop("__asgi_channel__", None), message

    def _lost(self, exc: BaseException) -> None:
        for socket in list(self.sockets.values()):
            socket.layer_lost(exc)

    async def _read(self) -> None:
        while self.sockets:
            try:
                channels, message = await self._receive()
            except REDIS_ERRORS as e:
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # redis-py may wrap a cancellation
                    raise asyncio.CancelledError from None
                outage.lost("sockets", e)
                self._lost(e)
                await asyncio.sleep(RETRY_S)
                continue
            except Exception as e:  # a bug: say so, and let the sockets come back elsewhere
                logger.exception("the channel layer's reader failed")
                self._lost(e)
                await asyncio.sleep(RETRY_S)
                continue
            for channel in channels if isinstance(channels, list) else (channels,):
                socket = self.sockets.get(channel)
                if socket is not None:
                    socket.post(message)


# What ``Reader._receive`` uses of RedisChannelLayer (channels_redis 4.x).
_LAYER_PARTS = ("_brpop_with_clean", "_clean_receive_backup", "consistent_hash", "deserialize")
_readers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # loop -> Reader


def reader(layer) -> Reader | None:
    """This event loop's reader for ``layer``, or None when the layer is read per socket."""
    if not isinstance(layer, RedisChannelLayer) or not all(
        hasattr(layer, name) for name in _LAYER_PARTS
    ):
        return None
    loop = asyncio.get_running_loop()
    found = _readers.get(loop)
    if found is None or found.layer is not layer:
        found = _readers[loop] = Reader(layer)
    return found
