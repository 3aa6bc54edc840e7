"""Live delivery of a new post, as followers with an open page see it.

A small audience gets the post from the web process that committed it, with no feed worker
running; a large one through the feed queue. When the in-process delivery fails, or runs again
after it delivered, every follower's socket still has the post exactly once, and the same
visibility rules hold on either path.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from contextlib import contextmanager

import pytest
import redis
from asgiref.sync import sync_to_async
from celery.contrib.testing.worker import start_worker
from django.conf import settings

from apps.config.celery import app
from apps.core import outbox
from apps.core.models import OutboxMessage
from apps.posts import fanout
from apps.social import services as social_services
from tests.processes import free_port
from tests.realtime.sockets import connect, publish, subscribe, token_socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

FEED_TASK = "apps.posts.tasks.fanout_post_created"


def _use_prefix(prefix: str) -> None:
    from kombu import pools

    app.conf.broker_transport_options = {
        **app.conf.broker_transport_options,
        "global_keyprefix": prefix,
    }
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def feed_queue():
    """The broker's queues under a prefix of this test's own (no other test's worker takes its
    tasks); returns how many tasks wait on the feed queue."""
    previous = app.conf.broker_transport_options.get("global_keyprefix", "")
    prefix = f"test-live-{uuid.uuid4().hex[:8]}:"
    _use_prefix(prefix)
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        yield lambda: client.llen(f"{prefix}feed")
    finally:
        _use_prefix(previous)
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


@contextmanager
def feed_worker():
    with start_worker(
        app,
        pool="threads",
        concurrency=2,
        queues=["feed"],
        perform_ping_check=False,
        shutdown_timeout=30,
        loglevel="WARNING",
    ):
        yield


async def _follow(*followers, of):
    for follower in followers:
        await sync_to_async(social_services.follow_create)(follower=follower, followee=of)


async def _home(user):
    ws = await token_socket(user)
    await subscribe(ws, "home")
    return ws


async def _created(ws, post, timeout: float = 5) -> None:
    event = await ws.receive_json_from(timeout=timeout)
    assert event["type"] == "post.created" and event["post"]["id"] == str(post.id), event


@sync_to_async
def _owed(post) -> OutboxMessage:
    fanout.drain()
    return OutboxMessage.objects.get(task=FEED_TASK, args=[post.id])


async def test_a_small_audience_gets_the_post_with_no_worker_running(feed_queue, alice, bob, carol):
    await _follow(bob, of=alice)
    bob_ws, carol_ws = await _home(bob), await _home(carol)

    post = await publish(alice, "followers", fan_out=False)
    await _created(bob_ws, post)
    assert await bob_ws.receive_nothing(timeout=0.5), "the post arrived twice"
    assert await carol_ws.receive_nothing(timeout=0.3), "a followers-only post reached a stranger"
    owed = await _owed(post)
    assert owed.sent_at is not None, "delivered but still owed: the relay would send it again"
    assert feed_queue() == 0, "the post went through the feed queue"
    await asyncio.gather(bob_ws.disconnect(), carol_ws.disconnect())


async def test_a_large_audience_goes_through_the_feed_queue(
    settings, feed_queue, alice, bob, carol
):
    settings.REALTIME_INLINE_MAX = 1  # two online followers are "large" here
    await _follow(bob, carol, of=alice)
    sockets = [await _home(bob), await _home(carol)]

    post = await publish(alice, "followers", fan_out=False)
    await sync_to_async(fanout.drain)()
    for ws in sockets:
        assert await ws.receive_nothing(timeout=0.5), "delivered without the queue"
    assert feed_queue() == 1
    with feed_worker():
        for ws in sockets:
            await _created(ws, post, timeout=15)
        for ws in sockets:
            assert await ws.receive_nothing(timeout=0.5), "the post arrived twice"
    for ws in sockets:
        await ws.disconnect()


async def test_a_failed_in_process_delivery_falls_back_to_the_queue_and_arrives_once(
    monkeypatch, feed_queue, alice, bob
):
    await _follow(bob, of=alice)
    bob_ws = await _home(bob)
    # Redis refuses this process's claim-and-publish call (the one connection the in-process
    # delivery uses after commit): nothing is sent, nobody stays claimed.
    dead = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    monkeypatch.setattr(fanout, "_redis_client", (os.getpid(), dead))

    post = await publish(alice, "followers", fan_out=False)
    await sync_to_async(fanout.drain)()
    assert await bob_ws.receive_nothing(timeout=0.5)
    assert feed_queue() == 1, "the failed post was not handed to the queue"

    monkeypatch.setattr(fanout, "_redis_client", None)  # Redis is back for the worker
    claims = redis.Redis.from_url(settings.REDIS_URL).smembers(fanout._claim_key(post.id))
    assert not claims, "a failed delivery left people claimed"
    with feed_worker():
        await _created(bob_ws, post, timeout=15)
        assert await bob_ws.receive_nothing(timeout=1.0), "the post arrived twice"
    await bob_ws.disconnect()


async def test_a_delivery_whose_reply_was_lost_is_not_sent_again_by_the_queue(
    monkeypatch, feed_queue, alice, bob
):
    """The claim-and-publish call reached Redis and ran, then the connection broke before
    the reply: the process cannot tell, hands the post to the queue, and the worker finds
    the follower claimed."""
    await _follow(bob, of=alice)
    bob_ws = await _home(bob)
    real = fanout._redis()

    class ReplyLost:
        def __getattr__(self, name):
            return getattr(real, name)

        def pipeline(self, *args, **kwargs):
            pipe = real.pipeline(*args, **kwargs)
            execute = pipe.execute

            def execute_then_break(*a, **kw):
                execute(*a, **kw)
                raise redis.ConnectionError("Connection closed by server.")

            pipe.execute = execute_then_break
            return pipe

    monkeypatch.setattr(fanout, "_redis_client", (os.getpid(), ReplyLost()))
    post = await publish(alice, "followers", fan_out=False)
    await _created(bob_ws, post)
    await sync_to_async(fanout.drain)()
    assert feed_queue() == 1, "the unconfirmed post was not handed to the queue"

    monkeypatch.setattr(fanout, "_redis_client", None)
    with feed_worker():
        for _ in range(150):
            if feed_queue() == 0:
                break
            await asyncio.sleep(0.1)
        assert feed_queue() == 0, "the worker did not take the task"
    # The worker stopped only after the task finished.
    assert await bob_ws.receive_nothing(timeout=1.0), "the post arrived twice"
    await bob_ws.disconnect()


async def test_a_resend_after_an_in_process_delivery_sends_nothing_twice(
    feed_queue, alice, bob, carol
):
    """The process delivered, then died before marking the post done: the relay sends the task
    and the worker runs it; it reaches only the follower who came online meanwhile."""
    await _follow(bob, carol, of=alice)
    bob_ws = await _home(bob)
    post = await publish(alice, "followers", fan_out=False)
    await _created(bob_ws, post)
    owed = await _owed(post)
    await sync_to_async(OutboxMessage.objects.filter(id=owed.id).update)(sent_at=None)

    carol_ws = await _home(carol)
    assert await sync_to_async(outbox.relay)(after_s=0) >= 1
    assert feed_queue() == 1
    with feed_worker():
        await _created(carol_ws, post, timeout=15)
        assert await bob_ws.receive_nothing(timeout=1.0), "the resend reached bob again"
        assert await carol_ws.receive_nothing(timeout=0.3), "the post arrived twice"
    assert await sync_to_async(fanout.post_created)(post_id=post.id) == 0
    await asyncio.gather(bob_ws.disconnect(), carol_ws.disconnect())


async def test_the_second_pass_after_a_redis_restart_reaches_every_page_online(
    feed_queue, make_user, alice, bob, carol
):
    """Right after a Redis restart a page may be claimed and sent to while its socket (or its
    process's subscription) is still coming back; the pass that follows the rebuild window
    goes to everyone online again, still only to those the post is for."""
    await _follow(bob, carol, of=alice)
    await sync_to_async(social_services.block_create)(blocker=alice, blocked=carol)
    bob_ws = await _home(bob)
    carol_ws = await _home(carol)
    post = await publish(alice, "followers", fan_out=False)
    await _created(bob_ws, post)
    assert await sync_to_async(fanout.post_created)(post_id=post.id) == 0
    assert await bob_ws.receive_nothing(timeout=0.5)
    assert await sync_to_async(fanout.post_created)(post_id=post.id, resend=True) >= 1
    await _created(bob_ws, post)
    assert await carol_ws.receive_nothing(timeout=0.5), "a blocked follower got the post"
    await asyncio.gather(bob_ws.disconnect(), carol_ws.disconnect())


async def test_in_process_delivery_keeps_the_visibility_rules(make_user, alice, bob, carol):
    """A blocked person gets nothing, not even on the public stream; a followers-only post
    reaches followers only; a private post only its author; visitors only public posts."""
    dave = await sync_to_async(make_user)()
    await _follow(bob, carol, dave, of=alice)
    await sync_to_async(social_services.block_create)(blocker=alice, blocked=bob)
    sockets = {}
    for name, user in {"alice": alice, "bob": bob, "carol": carol, "dave": dave}.items():
        sockets[name] = await token_socket(user)
        await subscribe(sockets[name], "home", "public")
    sockets["visitor"] = await connect()
    await subscribe(sockets["visitor"], "public")

    async def received() -> dict[str, set[tuple[str, str]]]:
        await sync_to_async(fanout.drain)()
        got: dict[str, set[tuple[str, str]]] = {}
        for name, ws in sockets.items():
            got[name] = set()
            while not await ws.receive_nothing(timeout=0.3):
                event = await ws.receive_json_from(timeout=1)
                got[name].add((event["stream"], event["post"]["id"]))
        return got

    public = await publish(alice, "public", fan_out=False)
    followers = await publish(alice, "followers", fan_out=False)
    private = await publish(alice, "private", fan_out=False)
    p, f, x = str(public.id), str(followers.id), str(private.id)
    assert await received() == {
        "alice": {("home", p), ("public", p), ("home", f), ("home", x)},
        "bob": set(),
        "carol": {("home", p), ("public", p), ("home", f)},
        "dave": {("home", p), ("public", p), ("home", f)},
        "visitor": {("public", p)},
    }
    for ws in sockets.values():
        await ws.disconnect()
