"""The rest of the /ws/ contract: visibility per event, moderators, limits, closing on logout,
presence-aware fan-out and catch-up after a connection is cut mid-stream."""

from __future__ import annotations

import asyncio
import time

import pytest
from asgiref.sync import sync_to_async

from apps.accounts import services as account_services
from apps.posts import fanout
from apps.posts import services as post_services
from apps.realtime import limits, presence
from apps.social import services as social_services
from tests.conftest import client_for
from tests.realtime.sockets import (
    closed_with,
    connect,
    publish,
    session_cookie,
    session_socket,
    subscribe,
    token_socket,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def _ids(ws, count: int, timeout: float = 5) -> list[str]:
    out = []
    for _ in range(count):
        event = await ws.receive_json_from(timeout=timeout)
        assert event["type"] == "post.created", event
        out.append(event["post"]["id"])
    return out


# --- visibility, per event ----------------------------------------------------------------------


async def test_a_blocked_or_muted_author_reaches_nobody_who_hides_them(alice, bob, carol):
    follow = sync_to_async(social_services.follow_create)
    await follow(follower=bob, followee=alice)
    await follow(follower=carol, followee=alice)
    bob_ws, carol_ws = await token_socket(bob), await token_socket(carol)
    for ws in (bob_ws, carol_ws):
        await subscribe(ws, "home", "public")

    # Alice blocks bob while his socket is open; carol mutes alice.
    await sync_to_async(social_services.block_create)(blocker=alice, blocked=bob)
    await sync_to_async(social_services.mute_create)(muter=carol, muted=alice)
    await asyncio.sleep(0.3)  # the graph.changed hint reaches the sockets
    await publish(alice, "public")
    assert await bob_ws.receive_nothing(timeout=0.7), "a blocked user got the blocker's post"
    assert await carol_ws.receive_nothing(timeout=0.3), "a muted author's post arrived"

    # Carol unmutes: the next post reaches her on both streams, and the internal hint never did.
    await sync_to_async(social_services.mute_delete)(muter=carol, muted=alice)
    await asyncio.sleep(0.3)
    post = await publish(alice, "public")
    streams = set()
    for _ in range(2):
        event = await carol_ws.receive_json_from(timeout=5)
        assert event["type"] == "post.created" and event["post"]["id"] == str(post.id)
        streams.add(event["stream"])
    assert streams == {"home", "public"}
    assert await carol_ws.receive_nothing(timeout=0.3)
    await asyncio.gather(bob_ws.disconnect(), carol_ws.disconnect())


async def test_comments_of_a_hidden_author_are_dropped_on_a_post_stream(alice, bob, carol):
    post = await publish(alice, "public")
    ws = await token_socket(bob)
    assert (await subscribe(ws, f"post:{post.id}"))["subscribed"] == [f"post:{post.id}"]
    await sync_to_async(social_services.mute_create)(muter=bob, muted=carol)
    await asyncio.sleep(0.3)
    comment = sync_to_async(post_services.comment_create)
    await comment(user=carol, post_id=post.id, body="muted words")
    assert await ws.receive_nothing(timeout=0.7)
    await comment(user=alice, post_id=post.id, body="thanks all")
    event = await ws.receive_json_from(timeout=5)
    assert event["type"] == "comment.created" and event["comment"]["body"] == "thanks all"
    await ws.disconnect()


async def test_a_deleted_post_is_followed_by_post_deleted(alice, bob):
    await sync_to_async(social_services.follow_create)(follower=bob, followee=alice)
    ws = await token_socket(bob)
    post = await publish(alice, "public")
    await subscribe(ws, "home", f"post:{post.id}")
    await sync_to_async(post_services.post_delete)(user=alice, post_id=post.id)
    await sync_to_async(fanout.post_deleted)(
        post_id=post.id, author_id=alice.pk, visibility="public"
    )
    got = {(e["stream"], e["post_id"]) for e in [await ws.receive_json_from(timeout=5)] * 1}
    got.add(((e := await ws.receive_json_from(timeout=5))["stream"], e["post_id"]))
    assert got == {("home", str(post.id)), (f"post:{post.id}", str(post.id))}
    await ws.disconnect()


async def test_moderation_stream_is_for_moderators_only(make_user, alice):
    from apps.moderation.roles import role_set

    moderator = await sync_to_async(make_user)("mod")
    await sync_to_async(role_set)(user=moderator, role="moderator")
    ws = await session_socket(await session_cookie(moderator))
    assert (await subscribe(ws, "moderation"))["subscribed"] == ["moderation"]
    others = [await token_socket(alice), await connect(), await token_socket(moderator)]
    for other in others:  # a token needs the moderate scope, which plain tokens lack
        result = await subscribe(other, "moderation")
        assert result["subscribed"] == [] and result["errors"][0]["code"] == "forbidden"
    for socket in (ws, *others):
        await socket.disconnect()


# --- limits, each with its close code -----------------------------------------------------------


async def test_too_many_frames_close_the_socket_with_4008(alice):
    ws = await token_socket(alice)
    for _ in range(limits.frame_burst() + 5):
        await ws.send_json_to({"type": "ping"})
    assert await closed_with(ws) == limits.CLOSE_RATE


async def test_a_frame_over_the_hard_limit_closes_with_1009(alice):
    ws = await connect()
    await ws.send_to(text_data="x" * (limits.max_frame_bytes() + 1))
    assert await closed_with(ws) == limits.CLOSE_TOO_BIG


async def test_sockets_per_user_are_limited_across_the_layer(settings, alice, bob):
    settings.REALTIME_MAX_SOCKETS_PER_USER = 2
    first, second = await token_socket(alice), await token_socket(alice)
    third = await token_socket(alice)
    assert await closed_with(third) == limits.CLOSE_TOO_MANY_SOCKETS
    assert await sync_to_async(presence.open_sockets)(alice.pk) == 2
    other = await token_socket(bob)  # another person is not affected
    await other.send_json_to({"type": "ping"})
    assert await other.receive_json_from(timeout=5) == {"type": "pong"}
    await first.disconnect()
    again = await token_socket(alice)  # a closed socket frees its place
    await again.send_json_to({"type": "ping"})
    assert await again.receive_json_from(timeout=5) == {"type": "pong"}
    for ws in (second, again, other):
        await ws.disconnect()


# --- sockets close when their credentials end -------------------------------------------------


async def test_logout_closes_that_sessions_sockets_within_two_seconds(alice):
    cookie, other_cookie = await session_cookie(alice), await session_cookie(alice)
    ws, other_device = await session_socket(cookie), await session_socket(other_cookie)
    await subscribe(ws, "home")
    await subscribe(other_device, "home")

    @sync_to_async
    def log_out():
        from django.test import Client

        client = Client()
        client.cookies["sessionid"] = cookie[1].decode().split("=", 1)[1]
        return client.post("/logout")

    started = time.monotonic()
    assert (await log_out()).status_code == 302
    assert await closed_with(ws) == limits.CLOSE_AUTH
    assert time.monotonic() - started < 2
    await other_device.send_json_to({"type": "ping"})
    assert await other_device.receive_json_from(timeout=5) == {"type": "pong"}
    await other_device.disconnect()
    # The logged-out session cannot open a signed-in socket again.
    again = await session_socket(cookie)
    assert (await subscribe(again, "home"))["subscribed"] == []
    await again.disconnect()


async def test_password_change_closes_every_socket_of_the_user(alice, bob):
    session_ws = await session_socket(await session_cookie(alice))
    token_ws, bob_ws = await token_socket(alice), await token_socket(bob)
    started = time.monotonic()
    await sync_to_async(account_services.user_password_change)(
        user=alice, old_password="correct horse battery 9", new_password="a new unusual phrase 7"
    )
    assert await closed_with(session_ws) == limits.CLOSE_AUTH
    assert await closed_with(token_ws) == limits.CLOSE_AUTH
    assert time.monotonic() - started < 2
    assert await bob_ws.receive_nothing(timeout=0.3)
    await bob_ws.disconnect()


async def test_suspension_closes_sockets_and_refuses_new_ones(alice):
    _, raw = await sync_to_async(account_services.token_create)(user=alice)
    header = (b"authorization", f"Bearer {raw}".encode())
    ws = await connect([header])
    await sync_to_async(account_services.user_suspend)(user=alice)
    assert await closed_with(ws) == limits.CLOSE_SUSPENDED
    from channels.testing import WebsocketCommunicator

    from apps.config.asgi import application

    refused = WebsocketCommunicator(application, "/ws/", headers=[header])
    connected, code = await refused.connect(timeout=5)
    assert not connected and code == limits.CLOSE_AUTH


# --- presence and fan-out -----------------------------------------------------------------------


async def test_fan_out_addresses_only_followers_who_are_online(events, make_user, alice):
    online, offline = await sync_to_async(make_user)(), await sync_to_async(make_user)()
    for follower in (online, offline):
        await sync_to_async(social_services.follow_create)(follower=follower, followee=alice)
    ws = await token_socket(online)
    assert await sync_to_async(presence.online_among)([online.pk, offline.pk]) == [online.pk]
    post = await publish(alice, "followers")
    home = [g for g, e in events.sent if e["type"] == "post.created"]
    assert home == [f"user.{online.pk}"], "sent to an offline follower, or to public"
    await ws.disconnect()
    assert await sync_to_async(presence.online_among)([online.pk]) == []
    events.sent.clear()
    await sync_to_async(fanout.post_created)(post_id=post.id)
    assert events.sent == []


async def test_catch_up_after_a_cut_mid_stream_has_no_gap_and_no_duplicate(alice, bob):
    """Bob's socket is cut while alice publishes; since= returns exactly what he missed."""
    await sync_to_async(social_services.follow_create)(follower=bob, followee=alice)
    ws = await token_socket(bob)
    await subscribe(ws, "home")
    published = [await publish(alice, "followers") for _ in range(3)]
    live = await _ids(ws, 3)
    cursor = live[-1]
    await ws.disconnect()  # cut, mid-stream
    published += [await publish(alice, v) for v in ("public", "followers", "public")]

    ws = await token_socket(bob)
    await subscribe(ws, "home")
    published += [await publish(alice, "public")]  # arrives live after the reconnect
    after = await _ids(ws, 1)
    api = await sync_to_async(client_for)(bob)
    caught_up, next_cursor = [], None
    while True:
        query = {"since": cursor, "limit": 2, **({"cursor": next_cursor} if next_cursor else {})}
        body = (await sync_to_async(api.get)("/api/v1/feed/home", query)).json()
        caught_up += [item["id"] for item in body["items"]]
        next_cursor = body["next_cursor"]
        if not next_cursor:
            break
    seen = live + [i for i in caught_up if i not in set(after)] + after
    assert sorted(seen) == sorted(str(p.id) for p in published)
    assert len(seen) == len(set(seen)), "a post arrived twice"
    await ws.disconnect()


@pytest.mark.parametrize("online_side_max", [50_000, 0], ids=["from-online", "from-followers"])
async def test_a_big_creators_fan_out_reaches_exactly_the_online_followers(
    events, monkeypatch, make_user, alice, online_side_max
):
    """More followers than one batch: either side of the intersection gives the same people."""
    monkeypatch.setattr(fanout, "BATCH", 2)
    monkeypatch.setattr(fanout, "ONLINE_SIDE_MAX", online_side_max)
    followers = [await sync_to_async(make_user)() for _ in range(5)]
    stranger = await sync_to_async(make_user)()
    for follower in followers:
        await sync_to_async(social_services.follow_create)(follower=follower, followee=alice)
    online = [followers[0], followers[3], followers[4]]
    sockets = [await token_socket(user) for user in [*online, stranger]]
    await publish(alice, "followers")
    addressed = sorted(g for g, e in events.sent if e["type"] == "post.created")
    assert addressed == sorted(f"user.{user.pk}" for user in online)
    for ws in sockets:
        await ws.disconnect()
