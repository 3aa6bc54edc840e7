"""A removal and a suspension reach open sockets: the real ASGI app, the real Redis channel layer
and a real worker running the outbox's fan-out."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from apps.moderation import actions, cases
from apps.moderation.models import Case
from apps.moderation.roles import role_set
from apps.realtime.limits import CLOSE_SUSPENDED
from apps.social import services as social
from tests.realtime.sockets import closed_with, connect, publish, subscribe, token_socket

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


@sync_to_async
def decide(moderator, reporter, target_type: str, target_id: int, action: str) -> None:
    cases.report_create(
        reporter=reporter, target_type=target_type, target_id=str(target_id), reason="spam"
    )
    case = Case.objects.get(target_type=target_type, target_id=target_id, status="open")
    actions.action_take(moderator=moderator, case_id=case.id, action=action, reason_code="spam")


@pytest.mark.parametrize("action", ["remove", "suspend"])
async def test_open_sockets_hear_the_post_is_gone(
    action, celery_worker, make_user, alice, bob, carol
):
    moderator = await sync_to_async(make_user)("mod")
    await sync_to_async(role_set)(user=moderator, role="moderator")
    await sync_to_async(social.follow_create)(follower=bob, followee=alice)
    post = await publish(alice)
    follower = await token_socket(bob)
    await subscribe(follower, "home", "public", f"post:{post.id}")
    visitor = await connect()
    await subscribe(visitor, "public", f"post:{post.id}")
    author = await token_socket(alice)
    await subscribe(author, "home")
    await asyncio.sleep(0.3)  # presence of the new sockets is recorded

    target = ("user", alice.pk) if action == "suspend" else ("post", post.id)
    await decide(moderator, carol, *target, action)

    pid = str(post.id)
    assert await deleted_events(follower, 3) == {
        ("home", pid),
        ("public", pid),
        (f"post:{post.id}", pid),
    }
    assert await deleted_events(visitor, 2) == {("public", pid), (f"post:{post.id}", pid)}
    if action == "suspend":
        assert await closed_with(author, timeout=5) == CLOSE_SUSPENDED
    else:
        assert await deleted_events(author, 1) == {("home", pid)}
        await author.disconnect()
    await asyncio.gather(follower.disconnect(), visitor.disconnect())
