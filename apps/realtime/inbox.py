"""One channel-layer reader per event loop of a web process, for all of its sockets.

Left to channels, every consumer runs its own receive loop on the channel layer: two tasks of
its own that wait on the socket and on the layer at once, and in ``RedisChannelLayer`` a buffer
queue per channel plus two more tasks and a lock wait per receive. tracemalloc on a process
holding 1,000 idle sockets put that at about 12 KiB per socket, a third of what a socket cost
(docs/realtime.md, "Memory per idle socket"). Yet ``RedisChannelLayer`` keeps every channel of a
process (``specific.<process>!<socket>``) under one Redis key anyway. So here one task reads
that key with its own Redis connection and hands each message to the socket whose channel it
names: an idle socket costs one entry in a dict. Messages for one socket run in order, in a
task that lives while that socket has messages waiting (``StreamConsumer.post``), so a slow
client holds up only itself.

Life cycle. A reader belongs to one event loop (``reader`` keys them by loop): the first socket
of the loop starts it, and it stops when the last socket of that loop leaves, at ASGI lifespan
shutdown (``shutdown``), or at the latest when its loop closes; stopping cancels the task,
waits for it to end and closes its Redis connection. A read never outlives its loop, and never
runs beside another read of the same key: a reader started while the previous one is still
stopping waits for it first (two blocking reads of one key would each take some of its
messages). A new loop (a test's, a reloaded server's) gets a fresh reader.

When Redis goes away the read fails: every socket of the loop is closed with 1012, as the
per-socket loops did, and the reader tries again every ``RETRY_S`` while sockets are open.
Other channel layers (``CHANNEL_LAYER=pubsub``) keep channels' own per-socket loop (``reader``
returns None for them).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import types
import uuid
import weakref
from typing import Protocol

import redis
import redis.asyncio as aredis
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

    def __init__(self, layer: RedisChannelLayer, loop: asyncio.AbstractEventLoop) -> None:
        self.layer = layer
        self.loop = loop
        self.key = f"specific.{layer.client_prefix}!"  # every local channel's non-local name
        self.sockets: dict[str, Socket] = {}
        self.task: asyncio.Task | None = None  # the read, while this loop has sockets
        self.stopping: asyncio.Task | None = None  # a read cancelled and not ended yet

    def add(self, socket: Socket) -> str:
        """A new channel name for ``socket``; its messages are posted to it from now on."""
        channel = f"{self.key}{uuid.uuid4().hex}"  # as RedisChannelLayer.new_channel names it
        self.sockets[channel] = socket
        if self.task is None:
            # A context of its own: it outlives the socket that starts it.
            self.task = self.loop.create_task(
                self._read(self.stopping), context=contextvars.Context()
            )
        return channel

    async def remove(self, channel: str) -> None:
        """``channel``'s socket is gone; the last one of the loop stops the read."""
        self.sockets.pop(channel, None)
        if not self.sockets:
            # Nothing left to read for: stop waiting in Redis. A message arriving meanwhile
            # has nobody to go to (as on any channel whose socket closed).
            await self.stop()

    async def stop(self) -> None:
        """Cancel the read and wait until it has ended and closed its connection."""
        task, self.task = self.task, None
        if task is not None:
            task.cancel()
            self.stopping = task
        stopping = self.stopping
        if stopping is not None and not stopping.done():
            await asyncio.wait([stopping])

    def _stop_at_close(self) -> None:
        """From ``loop.close`` (the loop is not running): end the read on its own loop."""
        if self.task is None and (self.stopping is None or self.stopping.done()):
            return
        try:
            self.loop.run_until_complete(self.stop())
        except Exception:  # closing anyway
            logger.debug("the channel-layer reader did not stop cleanly", exc_info=True)

    async def _receive(self, client: aredis.Redis) -> tuple[str | list[str], dict]:
        """The next message on this process's key. One blocking pop, nothing else: what it
        returns is handed to the sockets before the next await, so nothing can be cancelled
        between the two (channels_redis' backup list guards a gap this path does not have)."""
        key = self.layer.prefix + self.key
        result = None
        while result is None:
            result = await client.bzpopmin(key, timeout=self.layer.brpop_timeout)
        message = self.layer.deserialize(result[1])
        return message.pop("__asgi_channel__", None), message

    def _lost(self, exc: BaseException) -> None:
        for socket in list(self.sockets.values()):
            socket.layer_lost(exc)

    async def _read(self, previous: asyncio.Task | None) -> None:
        me = asyncio.current_task()
        assert me is not None
        client = None
        try:
            if previous is not None and not previous.done():
                await asyncio.wait([previous])  # one read of the key at a time
            index = self.layer.consistent_hash(self.key)
            client = aredis.Redis(connection_pool=self.layer.create_pool(index))
            # Ends once stopped, even if some library below turned the cancellation into an
            # error of its own (the task stays marked as cancelling).
            while self.task is me and not me.cancelling():
                try:
                    channels, message = await self._receive(client)
                except REDIS_ERRORS as e:
                    if me.cancelling():
                        break
                    outage.lost("sockets", e)
                    self._lost(e)
                    await asyncio.sleep(RETRY_S)
                    continue
                except Exception as e:  # a bug: say so, and let the sockets come back elsewhere
                    if me.cancelling():
                        break
                    logger.exception("the channel-layer reader failed")
                    self._lost(e)
                    await asyncio.sleep(RETRY_S)
                    continue
                for channel in channels if isinstance(channels, list) else (channels,):
                    socket = self.sockets.get(channel)
                    if socket is not None:
                        socket.post(message)
        finally:
            if client is not None:
                try:  # closes the socket at once; an interrupted close still has it closed
                    await client.aclose(close_connection_pool=True)
                except BaseException:
                    pass
            if self.stopping is me:
                self.stopping = None


# What ``Reader`` uses of RedisChannelLayer (channels_redis 4.x).
_LAYER_PARTS = ("create_pool", "consistent_hash", "deserialize", "prefix", "brpop_timeout")
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
        if found is None:
            _stop_before_close(loop)
        found = _readers[loop] = Reader(layer, loop)
    return found


def _stop_before_close(loop: asyncio.AbstractEventLoop) -> None:
    """Make ``loop.close()`` end this loop's read first, for loops closed without cancelling
    their tasks (asyncio.run and pytest's runners cancel them, which stops it before)."""
    close = loop.close

    def closing(self, *args, **kwargs):
        found = _readers.pop(loop, None)
        if found is not None and not loop.is_closed() and not loop.is_running():
            found._stop_at_close()
        return close(*args, **kwargs)

    try:
        loop.close = types.MethodType(closing, loop)
    except (AttributeError, TypeError):  # a loop type without instance attributes
        pass


async def shutdown() -> None:
    """Stop this event loop's reader (ASGI lifespan shutdown)."""
    found = _readers.get(asyncio.get_running_loop())
    if found is not None:
        await found.stop()


def running(loop: asyncio.AbstractEventLoop | None = None) -> bool:
    """Whether ``loop`` (default: the running one) has a read going or stopping."""
    found = _readers.get(loop or asyncio.get_running_loop())
    return found is not None and (
        found.task is not None or (found.stopping is not None and not found.stopping.done())
    )
