"""The WebSocket side of the ASGI application: authentication, then ``/ws/``.

``/ws/`` is the only socket path, so it is matched here rather than by channels' ``URLRouter``,
which would hold two more suspended coroutines and a copy of the scope for the whole life of
every socket (about 1 KiB each, measured with tracemalloc: docs/realtime.md, "Memory per idle
socket"). Any other path is refused at the handshake.
"""

from apps.realtime.auth import TokenOrSessionAuth
from apps.realtime.consumers import StreamConsumer

PATH = "/ws/"


def route(scope, receive, send):
    """The consumer's coroutine for ``/ws/``, returned rather than awaited here (one suspended
    frame fewer per socket); any other path is refused at the handshake (HTTP 403)."""
    if scope["path"].removeprefix(scope.get("root_path", "")) != PATH:
        return send({"type": "websocket.close"})
    return StreamConsumer()(scope, receive, send)


websocket_application = TokenOrSessionAuth(route)
