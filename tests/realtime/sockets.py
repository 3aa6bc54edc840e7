"""Helpers for socket tests through the real ASGI application and the real Redis channel layer."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.accounts import services as account_services
from apps.config.asgi import application
from apps.posts import fanout
from apps.posts import services as post_services
from tests.conftest import png_bytes

ORIGIN = (b"origin", b"http://127.0.0.1:8000")


async def connect(headers=()) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/", headers=list(headers))
    connected, code = await communicator.connect(timeout=5)
    assert connected, f"refused with {code}"
    return communicator


async def token_socket(user) -> WebsocketCommunicator:
    _, raw = await sync_to_async(account_services.token_create)(user=user)
    return await connect([(b"authorization", f"Bearer {raw}".encode())])


@sync_to_async
def session_cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def session_socket(cookie) -> WebsocketCommunicator:
    return await connect([cookie, ORIGIN])


async def subscribe(ws, *streams) -> dict:
    await ws.send_json_to({"type": "subscribe", "streams": list(streams)})
    frames = []
    while True:
        frame = await ws.receive_json_from(timeout=5)
        frames.append(frame)
        if frame["type"] == "subscribed":
            return {"subscribed": frame["streams"], "errors": frames[:-1]}


async def closed_with(ws, timeout: float = 2.0) -> int | None:
    """The close code the server sent within ``timeout`` seconds, skipping other frames.

    Then the client side goes away too, as a real server tells the application after a close.
    """
    while True:
        output = await ws.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            await ws.disconnect(code=output.get("code", 1000))
            return output.get("code")


@sync_to_async
def publish(author, visibility="public", *, fan_out: bool = True):
    """Publish as the service does, let this process's own delivery finish, then run what the
    feed-queue task runs (which sends nothing to whoever the first already reached)."""
    from apps.media.services import asset_create

    asset = asset_create(owner=author, data=png_bytes(), mime="image/png", width=8, height=8)
    post = post_services.post_publish(author=author, asset_id=asset.id, visibility=visibility)
    if fan_out:
        fanout.drain()
        fanout.post_created(post_id=post.id)
    return post
