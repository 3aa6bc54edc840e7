"""The one WebSocket consumer at ``/ws/``: authenticate, join server-named groups, forward events.

Protocol (../shared/API.md): ``subscribe`` / ``unsubscribe`` with stream names, ``ping``. Streams
map to groups: ``public`` → the public group; ``home`` and ``notifications`` arrive on the
user's own group; ``post:<id>`` → that post's group, only if the viewer may see the post.
A socket always gets its owner's ``generation.updated`` events.
"""

from __future__ import annotations

import json
import re

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.realtime import groups

MAX_STREAMS = 200
MAX_FRAME_CHARS = 16_384
_POST_STREAM = re.compile(r"^post:(\d{1,19})$")
# Streams that arrive on the user's own group; a subscription only switches their delivery on.
_USER_STREAMS = {"home", "notifications"}
ALWAYS_DELIVERED = {"generations"}


@database_sync_to_async
def _may_see_post(user, post_id: int) -> bool:
    from apps.posts.models import Post

    return Post.objects.visible_to(user).filter(id=post_id).exists()


class StreamConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.user = self.scope.get("user")
        self.streams: set[str] = set()
        self.joined: set[str] = set()
        await self.accept()
        if self.user is not None and self.user.is_authenticated:
            await self._join(groups.user_group(self.user.pk))
            token = self.scope.get("token")
            if token is not None:
                await self._join(groups.token_group(token.pk))

    async def disconnect(self, code: int) -> None:
        for group in list(self.joined):
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined.clear()

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

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
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
            if stream not in _USER_STREAMS:
                await self._leave(await self._group_for(stream))
        await self.send_json({"type": "unsubscribed", "streams": streams})

    async def _group_for(self, stream: str) -> str | None:
        """The group a stream is read from, or None if this socket may not read it."""
        if stream == "public":
            return groups.PUBLIC
        if stream in _USER_STREAMS:
            return groups.user_group(self.user.pk) if self.authenticated else None
        match = _POST_STREAM.match(stream)
        if match and await _may_see_post(self.user, int(match.group(1))):
            return groups.post_group(int(match.group(1)))
        return None

    async def _error(self, code: str, message: str, **extra) -> None:
        await self.send_json({"type": "error", "code": code, "message": message, **extra})

    # --- channel-layer handlers --------------------------------------------------------------
    async def vivid_event(self, message: dict) -> None:
        stream = message["stream"]
        if stream in self.streams or stream in ALWAYS_DELIVERED:
            await self.send_json(message["event"])

    async def vivid_close(self, message: dict) -> None:
        await self.close(code=message.get("code", 4001))
