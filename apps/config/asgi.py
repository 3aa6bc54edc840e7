"""The ASGI application: Django for HTTP, the realtime consumer for WebSockets at ``/ws/``, and
the lifespan protocol (at shutdown, the sockets' channel-layer reader stops and closes its
Redis connection: ``apps/realtime/inbox.py``)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")
django_asgi_app = get_asgi_application()

from asgiref.sync import markcoroutinefunction  # noqa: E402

from apps.media.bodylimit import BodyLimitMiddleware  # noqa: E402
from apps.realtime.routing import websocket_application  # noqa: E402

# Bodies over a route's cap are refused from Content-Length before Django reads them.
http_application = BodyLimitMiddleware(django_asgi_app)


@markcoroutinefunction
def application(scope, receive, send):
    """channels' ProtocolTypeRouter, returning the chosen application's coroutine instead of
    awaiting it: no frame of its own stays suspended for the whole life of every socket (about
    0.4 KiB each; docs/realtime.md, "Memory per idle socket"). Marked as a coroutine function
    so servers call it as ASGI 3."""
    if scope["type"] == "http":
        return http_application(scope, receive, send)
    if scope["type"] == "websocket":
        return websocket_application(scope, receive, send)
    if scope["type"] == "lifespan":
        return lifespan(scope, receive, send)
    raise ValueError(f"No application configured for scope type {scope['type']!r}")


async def lifespan(scope, receive, send) -> None:
    """Start-up needs nothing; shutdown stops this loop's channel-layer reader (its sockets are
    closed by then; this ends the read even if one was left)."""
    from apps.realtime import inbox

    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await inbox.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
