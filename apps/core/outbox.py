"""The transactional outbox: work a commit owes is recorded by that commit, then handed to Celery.

``transaction.on_commit(lambda: task.delay(...))`` has two holes. If the broker is down when the
callback runs, ``.delay`` raises after the write committed (the request answered 500 for a post
that exists: a ghost write) and the task is gone. If the process dies between commit and
``.delay``, the task is gone too. Here the task is a row (``OutboxMessage``) written in the same
transaction as the write, so it exists exactly when the write does; then:

- fast path: right after commit, the row is sent to the broker and marked sent (one INSERT in
  the transaction, one send and one UPDATE after it; ``tests/bench/outbox.py`` measures it);
- relay: ``relay()`` (Celery beat, every ``OUTBOX_RELAY_EVERY_S``) sends rows still unsent after
  ``OUTBOX_RELAY_AFTER_S``, locked with ``FOR UPDATE SKIP LOCKED`` so several relays never send
  the same row, and retries until the broker takes them.

A row can be sent twice (the fast path's mark-sent lost to a database restart, or a slow send
racing the relay), so every task sent this way must be safe to run twice: fan-out sends a hint
the page de-duplicates, media variants are content-addressed, a generation job runs once under
its lock and is a no-op when finished.

Sent rows are kept an hour (``purge()``), for looking into what was handed over.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.core.models import OutboxMessage

logger = logging.getLogger(__name__)

# A send that fails is not retried in the request: the relay does it.
_SEND_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.1, "interval_step": 0.2}


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


class _BrokerState:
    """One warning when sending starts failing and one line when it works again, per process
    (not a traceback per publish while the broker is down)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.down_since: float | None = None
        self.last_failure = -1e9

    def recently_failed(self, window_s: float = 1.0) -> bool:
        return time.monotonic() - self.last_failure < window_s

    def failed(self, exc: BaseException) -> None:
        self.last_failure = time.monotonic()
        with self._lock:
            if self.down_since is not None:
                return
            self.down_since = time.monotonic()
        logger.warning("broker unreachable, tasks wait in the outbox: %s", exc)

    def worked(self) -> None:
        if self.down_since is None:
            return
        with self._lock:
            since, self.down_since = self.down_since, None
        if since is not None:
            logger.warning("broker reachable again after %.1f s", time.monotonic() - since)


broker_state = _BrokerState()


def send_on_commit(task: Any, *args: Any, **kwargs: Any) -> OutboxMessage:
    """Record that ``task(*args, **kwargs)`` must run once the current transaction commits.

    ``task`` is a Celery task (or its registered name); arguments must be JSON. Call it inside
    the transaction of the write that owes the task. Nothing is sent if that transaction rolls
    back; once it commits, the task reaches the broker even if the broker is down right now.
    """
    name = task if isinstance(task, str) else task.name
    message = OutboxMessage.objects.create(task=name, args=list(args), kwargs=kwargs)
    transaction.on_commit(lambda: _send_fast(message))
    return message


def record(task: Any, *args: Any, **kwargs: Any) -> OutboxMessage:
    """Record that ``task(*args, **kwargs)`` is owed, like ``send_on_commit``, but send nothing at
    commit: the caller does the work itself after commit and then calls ``mark_sent``, or hands
    it over with ``send``. If neither happens (the process died, the work failed), the relay
    sends it ``OUTBOX_RELAY_AFTER_S`` later. Live delivery of a post uses this: a small audience
    is served by the process that committed it, without the queue (``apps.posts.fanout``)."""
    name = task if isinstance(task, str) else task.name
    return OutboxMessage.objects.create(task=name, args=list(args), kwargs=kwargs)


def send(message: OutboxMessage) -> None:
    """Hand a recorded message to the broker now and mark it sent (after commit; never raises:
    what fails is the relay's to finish)."""
    _send_fast(message)


def mark_sent(message_id: int) -> None:
    """The work a recorded message owed is done without the broker: the relay skips it."""
    _mark_sent(message_id)


def _publish(message: OutboxMessage) -> None:
    current_app.send_task(
        message.task,
        args=message.args,
        kwargs=message.kwargs,
        task_id=f"outbox-{message.id}",
        retry=True,
        retry_policy=_SEND_RETRY_POLICY,
    )


def _send_fast(message: OutboxMessage) -> None:
    """After commit: send now and mark sent. Never raises: the write has committed and its
    request must answer success; whatever fails here is the relay's to finish. While the broker
    has just failed, publishes do not each wait for it to fail again."""
    if broker_state.recently_failed():
        return
    try:
        _publish(message)
    except Exception as e:  # any broker failure leaves the row to the relay
        broker_state.failed(e)
        return
    broker_state.worked()
    try:
        _mark_sent(message.id)
    except Exception as e:  # sent but not marked: the relay sends it again
        logger.warning("outbox message %s sent but not marked sent: %s", message.id, e)


def _mark_sent(message_id: int) -> None:
    """One statement, and on PostgreSQL without waiting for its commit to reach the disk
    (``set_config(..., is_local => true)`` lasts for the statement's own transaction): a mark
    lost to a crash only makes the relay send the message again, and that wait was most of what
    the outbox added to a publish (tests/bench/outbox.py)."""
    if connection.vendor != "postgresql":
        OutboxMessage.objects.filter(id=message_id).update(sent_at=timezone.now())
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {OutboxMessage._meta.db_table} SET sent_at = %s WHERE id = %s"
            " AND set_config('synchronous_commit', 'off', true) IS NOT NULL",
            [timezone.now(), message_id],
        )


def relay(*, limit: int = 500, after_s: float | None = None) -> int:
    """Send the messages still unsent ``after_s`` seconds after they were written (their fast
    path failed, or their process died after commit). Stops at the first failed send (the
    broker is down: the next run tries again). Returns how many were sent."""
    if after_s is None:
        after_s = _setting("OUTBOX_RELAY_AFTER_S", 3.0)
    cutoff = timezone.now() - timedelta(seconds=after_s)
    sent: list[int] = []
    with transaction.atomic():
        pending = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True, created_at__lte=cutoff)
            .order_by("created_at")[:limit]
        )
        for message in pending:
            try:
                _publish(message)
            except Exception as e:
                broker_state.failed(e)
                OutboxMessage.objects.filter(id=message.id).update(
                    attempts=message.attempts + 1, last_error=str(e)[:500]
                )
                break
            broker_state.worked()
            sent.append(message.id)
        if sent:
            OutboxMessage.objects.filter(id__in=sent).update(sent_at=timezone.now())
    if sent:
        logger.info("outbox relay sent %d task(s)", len(sent))
    return len(sent)


def purge(*, keep_s: float = 3600) -> int:
    """Delete messages sent more than ``keep_s`` seconds ago."""
    deleted, _ = OutboxMessage.objects.filter(
        sent_at__lt=timezone.now() - timedelta(seconds=keep_s)
    ).delete()
    return deleted
