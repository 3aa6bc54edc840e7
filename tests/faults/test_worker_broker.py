"""A worker holding unacknowledged tasks survives the loss of its Redis broker.

kombu 5.7's Redis transport crashes a worker whose Redis disappears while it holds unacknowledged
tasks (acks_late): see apps/config/celery.py. This drives kombu through the same steps as
celery's consumer after a connection error (``collect``, then closing the task consumer's
channel) against a private Redis that is killed in between.
"""

from __future__ import annotations

import pytest
from kombu import Connection, Exchange, Producer, Queue

import apps.config.celery  # noqa: F401  (applies the kombu fix, as every worker does)
from tests.faults.servers import PrivateRedis


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def test_closing_channels_after_redis_died_with_unacked_tasks_raises_only_connection_errors(
    private_redis,
):
    connection = Connection(private_redis.url)
    publisher = connection.channel()
    consumers = []
    received = []
    for name in ("generation", "feed"):
        queue = Queue(name, Exchange(name), name)
        Producer(publisher).publish({"task": name}, exchange=queue.exchange, routing_key=name,
                                    declare=[queue])  # fmt: skip
        channel = connection.channel()
        consumer = connection.Consumer(
            queue, channel=channel, callbacks=[lambda body, message: received.append(message)],
            accept=["json"],
        )  # fmt: skip
        consumer.consume()
        consumers.append(consumer)
    while len(received) < 2:
        connection.drain_events(timeout=5)
    assert all(message.acknowledged is False for message in received)

    private_redis.kill()
    # What celery's consumer does on a connection error: collect the connection, then close
    # the task consumer's channel (errors of the broker's own kind are ignored there).
    connection.collect(socket_timeout=1)
    for consumer in consumers:
        try:
            consumer.channel.close()
        except connection.connection_errors:
            pass  # ignored by celery's ``ignore_errors``; an AttributeError would not be

    # Both channels are closed and the connection can be made again once Redis is back.
    assert all(consumer.channel.closed for consumer in consumers)
    private_redis.start()
    with Connection(private_redis.url) as again:
        again.ensure_connection(max_retries=3)
        assert again.connected
