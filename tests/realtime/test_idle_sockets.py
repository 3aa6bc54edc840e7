"""Sockets that sit idle, and sockets sharing one process's channel-layer reader
(``apps/realtime/inbox.py``): an idle socket keeps everything it is owed, a late subscription
works, and closing some sockets leaves the others (and later ones) their events."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from apps.accounts import services as account_services
from apps.config.asgi import application
from apps.posts import services as post_services
from apps.social import services as social_services
from tests.realtime.sockets import connect, publish, subscribe, token_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_an_idle_socket_gets_its_generation_updates_and_the_close_of_a_revoked_token(
    alice,
):
    from apps.generation.services import job_request

    token, raw = await sync_to_async(account_services.token_create)(user=alice)
    ws = await connect([(b"authorization", f"Bearer {raw}".encode())])
    await asyncio.sleep(1)  # idle: never subscribed to anything
    job = await sync_to_async(job_request)(owner=alice, kind="image", prompt="fog over a lake")
    event = await ws.receive_json_from(timeout=5)
    assert event["type"] == "generation.updated" and event["job"]["id"] == str(job.id)
    await sync_to_async(account_services.token_revoke)(user=alice, token_id=token.id)
    assert await ws.receive_output(timeout=5) == {"type": "websocket.close", "code": 4001}


async def test_a_socket_that_subscribes_late_gets_events_like_the_others(alice, bob, carol):
    await sync_to_async(social_services.follow_create)(follower=bob, followee=alice)
    post = await publish(alice, "public")
    early, late = await token_socket(carol), await token_socket(bob)
    await subscribe(early, f"post:{post.id}")
    await asyncio.sleep(1)
    assert await late.receive_nothing(timeout=0.3)
    assert (await subscribe(late, "home", f"post:{post.id}"))["subscribed"] == [
        "home",
        f"post:{post.id}",
    ]
    await sync_to_async(post_services.comment_create)(user=alice, post_id=post.id, body="hello")
    for ws in (early, late):  # one group message for both sockets of this process
        event = await ws.receive_json_from(timeout=5)
        assert event["type"] == "comment.created" and event["comment"]["body"] == "hello"
    second = await publish(alice, "followers")
    event = await late.receive_json_from(timeout=5)
    assert event["type"] == "post.created" and event["post"]["id"] == str(second.id)
    assert await early.receive_nothing(timeout=0.5)  # carol does not follow alice
    await asyncio.gather(early.disconnect(), late.disconnect())


async def test_closing_some_sockets_leaves_the_others_and_later_ones_their_events(alice, bob):
    from apps.generation.services import job_request

    sockets = [await token_socket(alice) for _ in range(3)]
    await asyncio.gather(*(ws.disconnect() for ws in sockets[:2]))
    request = sync_to_async(job_request)
    job = await request(owner=alice, kind="image", prompt="a red kite")
    event = await sockets[2].receive_json_from(timeout=5)
    assert event["job"]["id"] == str(job.id)
    await sockets[2].disconnect()  # the process has no socket left
    again = await token_socket(alice)
    job = await request(owner=alice, kind="image", prompt="a blue kite")
    event = await again.receive_json_from(timeout=5)
    assert event["type"] == "generation.updated" and event["job"]["id"] == str(job.id)
    await again.disconnect()


async def test_a_socket_path_other_than_ws_is_refused():
    ws = WebsocketCommunicator(application, "/ws/elsewhere/")
    connected, _ = await ws.connect(timeout=5)
    assert not connected
