"""``manage.py worker_health``: a worker that takes its heartbeats is healthy; none is not."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command

from apps.config.celery import heartbeat_age, heartbeat_key, send_heartbeat
from tests.helpers import wait_for


def test_a_consuming_worker_passes_and_a_silent_queue_fails(celery_worker):
    cache.delete(heartbeat_key("feed"))
    with pytest.raises(CommandError, match="feed: last heartbeat never"):
        call_command("worker_health", queue=["feed"])

    send_heartbeat("feed")
    wait_for(lambda: heartbeat_age("feed") is not None, timeout=15)
    call_command("worker_health", queue=["feed"], max_age=30)

    # A heartbeat older than the limit: the workers stopped consuming.
    cache.set(heartbeat_key("feed"), time.time() - 120, timeout=None)
    with pytest.raises(CommandError, match="feed: last heartbeat 120 s ago"):
        call_command("worker_health", queue=["feed"], max_age=90)
