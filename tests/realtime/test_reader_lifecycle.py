"""The channel-layer reader of a process's sockets (``apps/realtime/inbox.py``) belongs to one
event loop: it ends with that loop, however the loop ends, and the next loop (a test's, a
reloaded server's) reads with a fresh one. A read left behind would hang a loop's teardown,
and, still blocked in Redis, would take messages meant for the sockets of the next loop."""

from __future__ import annotations

import asyncio
import threading

import pytest
import redis
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import ApplicationCommunicator
from django.conf import settings

from apps.config.asgi import application
from apps.realtime import inbox
from tests.realtime.sockets import token_socket

pytestmark = pytest.mark.django_db(transaction=True)

TEARDOWN_S = 15


async def _stack(user, prompt: str, *, close_socket: bool) -> inbox.Reader:
    """One socket on this loop gets its owner's generation update; returns the loop's reader."""
    from apps.generation.services import job_request

    ws = await token_socket(user)
    job = await sync_to_async(job_request)(owner=user, kind="image", prompt=prompt)
    event = await ws.receive_json_from(timeout=5)
    assert event["type"] == "generation.updated" and event["job"]["id"] == str(job.id)
    found = inbox._readers[asyncio.get_running_loop()]
    assert found.task is not None and not found.task.done()
    if close_socket:
        await ws.disconnect()
        assert not inbox.running()  # the last socket of the loop stopped the read
    return found


def _in_thread(target) -> list:
    """Run ``target`` in a thread of its own; fail unless it returns within ``TEARDOWN_S``."""
    out: list = []
    errors: list = []

    def run():
        try:
            out.append(target())
        except BaseException as e:  # reported below
            errors.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(TEARDOWN_S)
    assert not thread.is_alive(), f"the event loop did not end within {TEARDOWN_S} s"
    if errors:
        raise errors[0]
    return out


def _run_then_close_without_cancelling(coro):
    """A loop closed with its tasks still pending (no runner cancelled them)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def _nobody_reads(found: inbox.Reader) -> bool:
    """A message for the reader's key stays in Redis: no read of that key is left blocked."""
    layer = found.layer
    key = layer.prefix + found.key
    async_to_sync(layer.send)(f"{found.key}nobody", {"type": "vivid.event", "stream": "x"})
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        threading.Event().wait(layer.brpop_timeout / 5)
        return client.zcard(key) == 1
    finally:
        client.delete(key)


@pytest.mark.parametrize(
    "end",
    [
        pytest.param(asyncio.run, id="loop-run-and-tasks-cancelled"),
        pytest.param(_run_then_close_without_cancelling, id="loop-closed-tasks-pending"),
    ],
)
def test_a_reader_ends_with_its_loop_and_the_next_loop_reads_with_a_fresh_one(alice, end):
    readers = []
    for prompt in ("a red kite", "a blue kite"):  # two stacks in sequence, sockets left open
        readers += _in_thread(lambda p=prompt: end(_stack(alice, p, close_socket=False)))
    first, second = readers
    assert first is not second and first.loop is not second.loop
    for found in readers:
        assert found.task is None and (found.stopping is None or found.stopping.done())
    assert _nobody_reads(second)


def test_the_last_socket_of_a_loop_stops_the_read_and_a_later_socket_starts_it_again(alice):
    async def scenario():
        first = await _stack(alice, "fog", close_socket=True)
        again = await _stack(alice, "rain", close_socket=True)
        return first, again

    (first, again), *_ = _in_thread(lambda: asyncio.run(scenario()))
    assert first is again  # one reader per loop, its read started again by the later socket
    assert _nobody_reads(again)


def test_lifespan_shutdown_stops_the_read_of_sockets_still_open(alice):
    async def scenario():
        life = ApplicationCommunicator(application, {"type": "lifespan"})
        await life.send_input({"type": "lifespan.startup"})
        assert await life.receive_output(timeout=5) == {"type": "lifespan.startup.complete"}
        found = await _stack(alice, "snow", close_socket=False)
        await life.send_input({"type": "lifespan.shutdown"})
        assert await life.receive_output(timeout=5) == {"type": "lifespan.shutdown.complete"}
        assert not inbox.running()
        return found

    found, *_ = _in_thread(lambda: asyncio.run(scenario()))
    assert _nobody_reads(found)
