"""Multicast frames are written to each socket without a task of its own
(``multicast.send_now``): a socket that can take the frame gets it at once, and one whose
client reads too slowly waits alone, its frames still in order."""

from __future__ import annotations

import asyncio

import pytest

from apps.realtime import multicast

pytestmark = pytest.mark.asyncio


async def test_a_writable_socket_gets_the_frame_at_once_and_a_full_one_waits_in_order():
    writable = asyncio.Event()
    out: list[tuple[str, str]] = []

    async def full(message):  # as uvicorn's send while the client's buffer is full
        await writable.wait()
        out.append(("full", message["text"]))

    async def ready(message):
        out.append(("ready", message["text"]))

    multicast.send_now(full, {"type": "websocket.send", "text": "1"})
    multicast.send_now(full, {"type": "websocket.send", "text": "2"})
    multicast.send_now(ready, {"type": "websocket.send", "text": "3"})
    assert out == [("ready", "3")]  # written before send_now returned
    writable.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert out == [("ready", "3"), ("full", "1"), ("full", "2")]


async def test_a_socket_closed_already_raises_at_once_and_one_closing_while_waiting_does_not():
    gone = asyncio.Event()

    async def closed(message):
        raise ConnectionResetError("the client went away")

    async def closing(message):
        await gone.wait()
        raise ConnectionResetError("the client went away while its buffer was full")

    with pytest.raises(ConnectionResetError):
        multicast.send_now(closed, {"type": "websocket.send", "text": "x"})
    multicast.send_now(closing, {"type": "websocket.send", "text": "y"})
    gone.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert not multicast._sending  # the waiting send ended (its error logged, not raised)
