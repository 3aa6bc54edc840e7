"""A withdrawn consent reaches open sockets: the real ASGI app, the real Redis channel layer and
a real worker running the feed queue's fan-out."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from apps.consent import services as consent
from apps.posts import services as post_services
from apps.social import services as social
from tests.realtime.sockets import connect, subscribe, token_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def deleted_events(ws, want: int, timeout: float = 15) -> set[tuple[str, str]]:
    """(stream, post_id) of the next ``want`` post.deleted frames (other frames skipped)."""
    got: set[tuple[str, str]] = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(got) < want:
        frame = await ws.receive_json_from(timeout=max(deadline - loop.time(), 0.1))
        if frame["type"] == "post.deleted":
            got.add((frame["stream"], frame["post_id"]))
    return got


async def test_open_sockets_hear_that_the_post_is_gone(celery_worker, alice, bob, carol, draft):
    await sync_to_async(consent.likeness_consent_set)(user=bob, policy="everyone")
    await sync_to_async(social.follow_create)(follower=carol, followee=alice)
    _, asset = await sync_to_async(draft)(alice, bob)
    post = await sync_to_async(post_services.post_publish)(
        author=alice, asset_id=asset.id, visibility="public"
    )
    follower = await token_socket(carol)
    await subscribe(follower, "home", "public", f"post:{post.id}")
    visitor = await connect()
    await subscribe(visitor, "public", f"post:{post.id}")
    await asyncio.sleep(0.3)  # presence of the new sockets is recorded

    await sync_to_async(consent.likeness_consent_set)(user=bob, policy="nobody")

    pid = str(post.id)
    assert await deleted_events(follower, 3) == {
        ("home", pid),
        ("public", pid),
        (f"post:{post.id}", pid),
    }
    assert await deleted_events(visitor, 2) == {("public", pid), (f"post:{post.id}", pid)}
    await asyncio.gather(follower.disconnect(), visitor.disconnect())
