"""The one WebSocket consumer at ``/ws/``: authenticate, join server-named groups, forward events.

Protocol (../shared/API.md): ``subscribe`` / ``unsubscribe`` with stream names, ``ping``. Streams
map to groups: ``public`` → the public group; ``home`` and ``notifications`` arrive on the
user's own group; ``post:<id>`` → that post's group, only if the viewer may see the post;
``moderation`` → the moderators' group. A socket always gets its owner's ``generation.updated``
events (stream ``generations``).

Who may receive what is decided when groups are joined (the fan-out only addresses followers,
the public group only carries public posts) and once more per event: the socket keeps its
owner's hidden authors (blocked either way, muted) and drops their posts and comments. The set
is refreshed when an internal ``graph.changed`` event says the owner's blocks or mutes changed.

An idle socket is kept small (measured in docs/realtime.md, "Memory per idle socket"): it
waits on its client in one task; channel-layer messages are read for every socket of the
process by one reader (``inbox``) and handled, in order, in a task that exists only while this
socket has some waiting (``post``). ``routing`` matches ``/ws/`` without channels' URLRouter.

Limits (``limits``): frames per second and frame size per socket, open sockets per user.
On SIGTERM uvicorn closes every socket with 1012 (service restart), and clients reconnect to
another process; ``disconnect`` then releases presence as on any close.

Redis going away (the channel layer's read fails, which closes every socket of the process, or
a join at connect does) closes the socket with 1012 as well, so the page reconnects at once and
catches up with ``since=``: a Redis that restarted without persistence has forgotten this
socket's groups and presence, and a fresh connection registers both again as soon as Redis is
back. Such an outage is logged once per process (``outage``), not as a traceback per socket.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import json
import logging
import re

import redis
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer

from apps.realtime import groups, inbox, limits, multicast, outage, presence

logger = logging.getLogger(__name__)

MAX_STREAMS = 200
MAX_FRAME_CHARS = limits.SOFT_FRAME_BYTES
_POST_STREAM = re.compile(r"^post:(\d{1,19})$")
# Streams that arrive on the user's own group; a subscription only switches their delivery on.
_USER_STREAMS = {"home", "notifications"}
ALWAYS_DELIVERED = {"generations"}
INTERNAL = "internal"
# Redis errors as redis-py raises them (a refused or reset connection may surface as OSError).
REDIS_ERRORS = (redis.RedisError, OSError)
CLOSE_INTERNAL = 1011  # a handler failed, as the server closes on an uncaught error
# One empty set for every socket that hides nobody (each frozenset() is a new 216-byte object).
NOBODY: frozenset[int] = frozenset()
INBOX_MAX = 1000  # channel-layer messages waiting for one socket, as the layer's capacity

_tasks: set[asyncio.Task] = set()


def _spawn(coro, context: contextvars.Context | None = None) -> None:
    """Run ``coro`` in a task kept referenced until it ends."""
    task = asyncio.get_running_loop().create_task(coro, context=context)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


@database_sync_to_async
def _visible_post_author(user, post_id: int) -> int | None:
    """The author of a post the user may see, or None (missing and invisible look the same)."""
    from apps.posts.models import Post

    return (
        Post.objects.visible_to(user).filter(id=post_id).values_list("author_id", flat=True).first()
    )


@database_sync_to_async
def _hidden_authors(user_id: int) -> frozenset[int]:
    from apps.social.selectors import hidden_author_ids

    return frozenset(hidden_author_ids(viewer_id=user_id)) or NOBODY


@database_sync_to_async
def _is_moderator(user, token) -> bool:
    from apps.moderation.roles import is_moderator

    return is_moderator(user, token)


async def _connection_allowed(scope) -> bool:
    """Count this connection against its address's ``socket_address`` rate limit."""
    from apps.core import ratelimit
    from apps.core.exceptions import ApplicationError

    client = scope.get("client") or ("unknown", 0)
    try:
        await ratelimit.limit_take_async("socket_address", key=ratelimit.address_key(client[0]))
    except ApplicationError:
        return False
    return True


def _author_of(event: dict) -> int | None:
    """The author of a post or comment event, for events sent without an ``author_id``."""
    for key in ("post", "comment"):
        item = event.get(key)
        if isinstance(item, dict) and isinstance(item.get("author"), dict):
            try:
                return int(item["author"]["id"])
            except (KeyError, TypeError, ValueError):
                return None
    return None


class StreamConsumer(AsyncJsonWebsocketConsumer):
    accepted = False
    present = False
    gone = False  # the socket closed
    layer_down = False  # the channel layer's read failed: closing with 1012
    connected = False  # connect() has run: channel-layer messages may be handled
    draining = False
    pending: collections.deque | None = None  # channel-layer messages not handled yet

    async def __call__(self, scope, receive, send) -> None:
        try:
            reader = inbox.reader(get_channel_layer(self.channel_layer_alias))
            if reader is None:  # a layer read per socket, as channels does it
                await super().__call__(scope, receive, send)
                return
            # channels' AsyncConsumer.__call__, with the channel layer read by the process's one
            # reader (``inbox``): this task waits on the socket only, and channel-layer messages
            # come through ``post``.
            self.scope = scope
            self.channel_layer = reader.layer
            self.base_send = send
            # Messages are handled in this socket's context (asgiref keys its thread-sensitive
            # executor on it), not in that of the socket which happened to start the reader.
            self.context = contextvars.copy_context()
            self.channel_name = reader.add(self)
            try:
                while True:
                    await self.dispatch(await receive())
            except StopConsumer:
                pass
            finally:
                self.gone = True
                if self.present:  # ended without a disconnect (cancelled): presence expires
                    self.present = False
                    multicast.unregister(self.user.pk, self)
                await reader.remove(self.channel_name)
        except REDIS_ERRORS as e:
            outage.lost("sockets", e)
            if self.present:
                self.present = False
                multicast.unregister(self.user.pk, self)
            try:  # before the handshake this refuses it; the page retries either way
                await send({"type": "websocket.close", "code": limits.CLOSE_RESTART})
            except Exception:  # the client is gone already
                pass

    def post(self, message: dict) -> None:
        """A channel-layer message for this socket, handled after those before it (and after
        ``connect``, as channels would)."""
        if self.pending is None:
            self.pending = collections.deque()
        elif len(self.pending) >= INBOX_MAX:  # as the layer's own buffer: drop the oldest
            self.pending.popleft()
        self.pending.append(message)
        self._drain_soon()

    def _drain_soon(self) -> None:
        if self.connected and not self.draining and self.pending:
            self.draining = True
            _spawn(self._drain(self.pending), self.context)

    async def _drain(self, pending: collections.deque) -> None:
        try:
            while pending and not self.gone:
                try:
                    await self.dispatch(pending.popleft())
                except REDIS_ERRORS as e:
                    self.layer_lost(e)
                    return
                except Exception:
                    if self.gone:  # the socket closed under the handler
                        return
                    logger.exception("could not handle a message for %s", self.channel_name)
                    await self.close(code=CLOSE_INTERNAL)
                    return
        finally:
            self.draining = False
            self.pending = None

    def layer_lost(self, exc: BaseException) -> None:
        """The channel layer's read failed (Redis is away): close with 1012 so the page comes
        back at once and registers again; groups and presence expire in Redis by themselves."""
        if self.layer_down or self.gone:
            return
        self.layer_down = True
        if self.present:
            self.present = False
            multicast.unregister(self.user.pk, self)
        _spawn(self._close_restart())

    async def _close_restart(self) -> None:
        try:  # before the handshake this refuses it; the page retries either way
            await self.base_send({"type": "websocket.close", "code": limits.CLOSE_RESTART})
        except Exception:  # the client is gone already
            pass

    async def accept(self, subprotocol=None, headers=None) -> None:
        await super().accept(subprotocol, headers)
        self.accepted = True

    async def connect(self) -> None:
        try:
            await self._refusable_connect()
        finally:
            self.connected = True
            self._drain_soon()

    async def _refusable_connect(self) -> None:
        try:
            await self._connect()
        except REDIS_ERRORS as e:
            # Redis is away: tell the page to come back at once rather than fail the handshake
            # (which it would retry with a growing backoff, past the end of a short outage).
            outage.lost("sockets", e)
            if self.present:
                self.present = False
                multicast.unregister(self.user.pk, self)
            if not self.accepted:
                await self.accept()
            await self.close(code=limits.CLOSE_RESTART)
            return
        if self.present:
            outage.back("sockets")

    async def _connect(self) -> None:
        self.user = self.scope.get("user")
        self.streams: set[str] = set()
        self.joined: set[str] = set()
        self.hidden: frozenset[int] = NOBODY
        self.post_authors: dict[int, int] = {}  # watched post → its author
        self.present = False
        self.bucket = limits.TokenBucket(limits.frames_per_second(), limits.frame_burst())
        if not await _connection_allowed(self.scope):
            await self.accept()  # accepted only to tell the client why, with the close code
            await self.close(code=limits.CLOSE_CONNECT_RATE)
            return
        if not self.authenticated:
            await self.accept()
            return
        # Groups are joined before the handshake completes, so nothing sent to this user after
        # the client sees the socket open can miss it.
        count = await presence.join(user_id=self.user.pk, channel=self.channel_name)
        if count < 0:
            await self.accept()  # accepted only to tell the client why, with the close code
            await self.close(code=limits.CLOSE_TOO_MANY_SOCKETS)
            return
        self.present = True
        await self._join(groups.user_group(self.user.pk))
        token = self.scope.get("token")
        if token is not None:
            await self._join(groups.token_group(token.pk))
        session = self.scope.get("session")
        if token is None and session is not None and session.session_key:
            await self._join(groups.session_group(session.session_key))
        self.hidden = await _hidden_authors(self.user.pk)
        await multicast.register(self.user.pk, self)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.layer_down:  # Redis is away: memberships and presence expire there
            self.joined = set()
            return
        if self.present:
            multicast.unregister(self.user.pk, self)
        try:
            for group in list(self.joined):
                await self.channel_layer.group_discard(group, self.channel_name)
        except REDIS_ERRORS as e:  # memberships expire with the channel layer's group expiry
            outage.lost("sockets", e)
        self.joined.clear()
        if self.present:
            self.present = False
            try:
                await presence.leave(user_id=self.user.pk, channel=self.channel_name)
            except REDIS_ERRORS as e:  # presence expires by itself; a close must not fail on it
                outage.lost("sockets", e)
            except Exception:
                logger.exception("could not release presence of %s", self.channel_name)

    async def _join(self, group: str) -> None:
        if group not in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.add(group)

    async def _leave(self, group: str) -> None:
        if group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
            self.joined.discard(group)

    @property
    def authenticated(self) -> bool:
        return self.user is not None and self.user.is_authenticated

    # --- client frames -------------------------------------------------------------------------
    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        if not self.bucket.take():
            await self.close(code=limits.CLOSE_RATE)
            return
        size = len(text_data) if text_data is not None else len(bytes_data or b"")
        if size > limits.max_frame_bytes():
            await self.close(code=limits.CLOSE_TOO_BIG)
            return
        if text_data is None or len(text_data) > MAX_FRAME_CHARS:
            await self._error(
                "invalid", f"Frames are JSON text of at most {MAX_FRAME_CHARS} bytes."
            )
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self._error("invalid", "Frames are JSON objects with a type.")
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs) -> None:
        if not isinstance(content, dict):
            await self._error("invalid", "Frames are JSON objects with a type.")
            return
        kind = content.get("type")
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind in ("subscribe", "unsubscribe"):
            streams = content.get("streams")
            if not isinstance(streams, list) or not all(isinstance(s, str) for s in streams):
                await self._error("invalid", "streams must be a list of names.")
                return
            if kind == "subscribe":
                await self._subscribe(streams[:MAX_STREAMS])
            else:
                await self._unsubscribe(streams)
        else:
            await self._error("invalid", "Unknown frame type.")

    async def _subscribe(self, streams: list[str]) -> None:
        accepted = []
        for stream in streams:
            if stream in self.streams:
                accepted.append(stream)
                continue
            if len(self.streams) >= MAX_STREAMS:
                await self._error("rate_limited", "Too many streams on one socket.", stream=stream)
                continue
            group = await self._group_for(stream)
            if group is None:
                await self._error("forbidden", "You may not read this stream.", stream=stream)
                continue
            await self._join(group)
            self.streams.add(stream)
            accepted.append(stream)
        await self.send_json({"type": "subscribed", "streams": accepted})

    async def _unsubscribe(self, streams: list[str]) -> None:
        for stream in streams:
            if stream not in self.streams:
                continue
            self.streams.discard(stream)
            if stream in _USER_STREAMS:
                continue
            if stream == "public":
                await self._leave(groups.PUBLIC)
            elif stream == "moderation":
                await self._leave(groups.MODERATION)
            elif match := _POST_STREAM.match(stream):
                self.post_authors.pop(int(match.group(1)), None)
                await self._leave(groups.post_group(int(match.group(1))))
        await self.send_json({"type": "unsubscribed", "streams": streams})

    async def _group_for(self, stream: str) -> str | None:
        """The group a stream is read from, or None if this socket may not read it."""
        if stream == "public":
            return groups.PUBLIC
        if stream in _USER_STREAMS:
            return groups.user_group(self.user.pk) if self.authenticated else None
        if stream == "moderation":
            if self.authenticated and await _is_moderator(self.user, self.scope.get("token")):
                return groups.MODERATION
            return None
        match = _POST_STREAM.match(stream)
        if match:
            post_id = int(match.group(1))
            author_id = await _visible_post_author(self.user, post_id)
            if author_id is not None and author_id not in self.hidden:
                self.post_authors[post_id] = author_id
                return groups.post_group(post_id)
        return None

    async def _error(self, code: str, message: str, **extra) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, **extra})

    # --- channel-layer handlers --------------------------------------------------------------
    def _wanted(self, stream: str, author_id: int | None) -> bool:
        """Whether this socket forwards an event: a stream it reads, not from a hidden author."""
        if stream not in self.streams and stream not in ALWAYS_DELIVERED:
            return False
        if self.hidden:
            if author_id is not None and int(author_id) in self.hidden:
                return False
            if stream.startswith("post:"):
                post_author = self.post_authors.get(int(stream[5:]))
                if post_author is not None and post_author in self.hidden:
                    return False
        return True

    async def vivid_event(self, message: dict) -> None:
        stream = message["stream"]
        if stream == INTERNAL:
            await self._internal(message.get("event") or {})
            return
        author_id = message.get("author_id")
        if author_id is None and "event" in message:
            author_id = _author_of(message["event"])
        if not self._wanted(stream, author_id):
            return
        if "text" in message:  # serialised once by the sender, for every socket
            await self.send(text_data=message["text"])
        else:
            await self.send_json(message["event"])

    def deliver_now(self, stream: str, author_id: int | None, message: dict) -> None:
        """A multicast for this socket's owner (``multicast``), checked like any other event
        and written at once: ``message`` is one ``websocket.send`` shared by every socket."""
        if self.present and not self.gone and self._wanted(stream, author_id):
            multicast.send_now(self.base_send, message)

    async def _internal(self, event: dict) -> None:
        """Events for the server's own use, never forwarded to the client."""
        if event.get("type") == "graph.changed" and self.authenticated:
            self.hidden = await _hidden_authors(self.user.pk)

    async def vivid_close(self, message: dict) -> None:
        await self.close(code=message.get("code", limits.CLOSE_AUTH))
