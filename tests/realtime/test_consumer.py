"""The /ws/ protocol through the real ASGI application and the real Redis channel layer."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from apps.accounts import services as account_services
from apps.config.asgi import application
from apps.posts import services as post_services
from apps.social import services as social_services
from tests.realtime.sockets import ORIGIN, connect, publish, subscribe, token_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def nothing_arrives(ws, wait: float = 0.5) -> bool:
    return await ws.receive_nothing(timeout=wait)


async def test_ping_and_anonymous_public_only(alice):
    ws = await connect()
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from(timeout=5) == {"type": "pong"}
    result = await subscribe(ws, "public", "home", "notifications", "moderation")
    assert result["subscribed"] == ["public"]
    assert [(e["code"], e["stream"]) for e in result["errors"]] == [
        ("forbidden", "home"),
        ("forbidden", "notifications"),
        ("forbidden", "moderation"),
    ]
    await ws.disconnect()


async def test_garbage_frames_get_an_error_and_keep_the_socket(alice):
    ws = await connect()
    for frame in (
        "not json",
        '{"type": "dance"}',
        '{"type": "subscribe", "streams": "public"}',
        "[1]",
        "x" * 20000,
    ):
        await ws.send_to(text_data=frame)
        error = await ws.receive_json_from(timeout=5)
        assert error["type"] == "error" and error["code"] == "invalid", frame
    # none of that closed the socket
    await ws.send_json_to({"type": "ping"})
    assert await ws.receive_json_from(timeout=5) == {"type": "pong"}
    await ws.disconnect()


async def test_follower_gets_post_created_on_home_and_others_do_not(alice, bob, carol):
    await sync_to_async(social_services.follow_create)(follower=bob, followee=alice)
    bob_ws, carol_ws, anon_ws = await token_socket(bob), await token_socket(carol), await connect()
    assert (await subscribe(bob_ws, "home"))["subscribed"] == ["home"]
    await subscribe(carol_ws, "home")
    await subscribe(anon_ws, "public")

    post = await publish(alice, "followers")
    event = await bob_ws.receive_json_from(timeout=5)
    assert event["type"] == "post.created" and event["stream"] == "home"
    assert event["post"]["id"] == str(post.id) and event["cursor"] == str(post.id)
    assert await nothing_arrives(carol_ws)
    assert await nothing_arrives(anon_ws), "a followers-only post reached the public stream"

    public = await publish(alice, "public")
    assert (await anon_ws.receive_json_from(timeout=5))["post"]["id"] == str(public.id)
    for ws in (bob_ws, carol_ws, anon_ws):
        await ws.disconnect()


async def test_home_events_need_a_subscription(alice, bob):
    await sync_to_async(social_services.follow_create)(follower=bob, followee=alice)
    ws = await token_socket(bob)
    await publish(alice)
    assert await nothing_arrives(ws)
    await ws.disconnect()


async def test_post_stream_only_for_posts_one_may_see(alice, bob):
    secret = await publish(alice, "followers")
    open_post = await publish(alice, "public")
    ws = await token_socket(bob)
    result = await subscribe(ws, f"post:{secret.id}", f"post:{open_post.id}", "post:abc")
    assert result["subscribed"] == [f"post:{open_post.id}"]
    assert {e["stream"] for e in result["errors"]} == {f"post:{secret.id}", "post:abc"}

    await sync_to_async(post_services.reaction_add)(user=alice, post_id=open_post.id, kind="fire")
    event = await ws.receive_json_from(timeout=5)
    assert event["type"] == "reactions.updated" and event["reactions"]["fire"] == 1
    await ws.disconnect()


async def test_session_socket_needs_this_sites_origin(alice):
    client = Client()
    await sync_to_async(client.force_login)(alice)
    cookie = (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())

    ws = await connect([cookie, ORIGIN])
    assert (await subscribe(ws, "home"))["subscribed"] == ["home"]
    await ws.disconnect()

    for headers in ([cookie, (b"origin", b"https://evil.example")], [cookie]):
        foreign = WebsocketCommunicator(application, "/ws/", headers=headers)
        connected, _ = await foreign.connect(timeout=5)
        assert not connected
        await foreign.disconnect()


async def test_bad_token_is_refused_and_revoking_closes_the_socket(alice):
    bad = WebsocketCommunicator(application, "/ws/", headers=[(b"authorization", b"Bearer nope")])
    connected, code = await bad.connect(timeout=5)
    assert not connected and code == 4001

    token, raw = await sync_to_async(account_services.token_create)(user=alice)
    ws = await connect([(b"authorization", f"Bearer {raw}".encode())])
    await subscribe(ws, "home")
    await sync_to_async(account_services.token_revoke)(user=alice, token_id=token.id)
    output = await ws.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": 4001}


async def test_generation_updates_reach_only_the_owner(alice, bob):
    from apps.generation.services import job_request

    alice_ws, bob_ws = await token_socket(alice), await token_socket(bob)
    job = await sync_to_async(job_request)(owner=alice, kind="image", prompt="stars over dunes")
    event = await alice_ws.receive_json_from(timeout=5)
    assert event["type"] == "generation.updated" and event["job"]["id"] == str(job.id)
    assert event["job"]["status"] == "queued"
    assert await nothing_arrives(bob_ws)
    await asyncio.gather(alice_ws.disconnect(), bob_ws.disconnect())


async def test_publish_through_the_api_reaches_a_follower_via_the_feed_worker(
    celery_worker, api, alice, bob, make_asset
):
    """The whole path: API → commit → feed-queue task in a real worker → Redis → bob's socket."""
    await sync_to_async(social_services.follow_create)(follower=bob, followee=alice)
    ws = await token_socket(bob)
    await subscribe(ws, "home")
    asset = await sync_to_async(make_asset)(alice)
    client = await sync_to_async(api)(alice)
    response = await sync_to_async(client.post)(
        "/api/v1/posts", {"asset_id": asset.id, "visibility": "public"}, format="json"
    )
    assert response.status_code == 201
    event = await ws.receive_json_from(timeout=15)
    assert event["type"] == "post.created" and event["post"]["id"] == response.json()["id"]
    await ws.disconnect()


async def test_a_rolled_back_publish_sends_nothing(alice, bob, make_asset):
    from django.db import transaction

    await sync_to_async(social_services.follow_create)(follower=bob, followee=alice)
    ws = await token_socket(bob)
    await subscribe(ws, "home")
    asset = await sync_to_async(make_asset)(alice)

    @sync_to_async
    def publish_then_fail():
        with pytest.raises(RuntimeError), transaction.atomic():
            post_services.post_publish(author=alice, asset_id=asset.id, visibility="public")
            raise RuntimeError("something later in the request failed")

    await publish_then_fail()
    assert await nothing_arrives(ws, wait=1.5)
    await ws.disconnect()
