"""The Celery app, started as ``celery -A apps.config.celery:app worker``.

Besides the app, two things that keep a worker alive and honest through broker outages:

- A fix for kombu's Redis transport (kombu 5.7.0, the newest release; the traceback of kombu
  issue #582, relatives celery #8030 and #10205). When Redis goes away while a worker holds
  unacknowledged tasks (``acks_late``: nearly always), the consumer's clean-up closes the
  connection's channels one by one; the first channel whose unacked tasks cannot be restored
  raises a connection error, which stops ``Transport.close_connection`` before it has closed the
  others, and ``Connection`` then drops the transport's client. Closing one of the channels left
  open (celery closes the task consumer next) rebuilds a Redis pool from that dropped client:
  ``AttributeError: 'NoneType' object has no attribute 'hostname'`` in ``_connparams``, which
  celery treats as unrecoverable and the worker exits (or, in some runs, lingers without
  consuming). ``_patch_kombu`` closes every channel even when one fails, and makes a channel of a
  closed connection fail with a connection error, which celery ignores and recovers from.
  tests/faults/test_worker_broker.py reproduces the crash without the fix.
- A heartbeat: beat sends ``vivid.worker_heartbeat`` to the queues every ``HEARTBEAT_S``; the
  worker that runs it stamps a Redis key per queue. ``manage.py worker_health`` (Kubernetes
  liveness, compose healthcheck) and ``manage.py serve`` read its age to catch a worker that is
  alive but no longer consumes, which no exit code reveals.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")

# Queues that take only short tasks, where a heartbeat is never stuck behind a long render.
HEARTBEAT_QUEUES = ("feed", "default")
HEARTBEAT_S = 15.0
HEARTBEAT_TASK = "vivid.worker_heartbeat"


def _patch_kombu() -> None:
    """Work around the kombu Redis-transport crash described above (idempotent)."""
    import redis
    from kombu.transport import redis as redis_transport
    from kombu.transport import virtual

    transport = virtual.Transport
    if getattr(transport.close_connection, "_vivid_patched", False):
        return
    close_connection = transport.close_connection

    def close_every_channel(self, connection):
        # Upstream pops and closes each channel and stops at the first error; start it again
        # until every channel is closed, then raise the first error as upstream would have.
        first_error: BaseException | None = None
        while True:
            try:
                close_connection(self, connection)
            except Exception as e:
                first_error = first_error or e
                if self._avail_channels or self.channels:
                    continue
            if first_error is not None:
                raise first_error
            return

    close_every_channel._vivid_patched = True  # type: ignore[attr-defined]
    transport.close_connection = close_every_channel

    connparams = redis_transport.Channel._connparams

    def connparams_of_open_connection(self, asynchronous=False):
        if self.connection is None or self.connection.client is None:
            # A connection error, which kombu and celery handle (``ignore_errors``, reconnect);
            # what is left unacknowledged in Redis comes back after the visibility timeout.
            raise redis.ConnectionError("the broker connection of this channel is closed")
        return connparams(self, asynchronous)

    redis_transport.Channel._connparams = connparams_of_open_connection


_patch_kombu()

app = Celery("vivid")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _caused_by_outage(exc: BaseException | None) -> bool:
    """Whether an exception comes from the broker or Redis being unreachable (through its
    causes, and a task's ``Reject``, whose reason is the error that made it give up)."""
    import kombu.exceptions
    import redis

    kinds = (
        ConnectionError,  # refused, reset (builtins)
        redis.ConnectionError,
        redis.TimeoutError,
        kombu.exceptions.OperationalError,
    )
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, kinds):
            return True
        reason = getattr(exc, "reason", None)
        if isinstance(reason, BaseException) and isinstance(reason, kinds):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


class _OutageLogs(logging.Filter):
    """Celery logs a traceback for each thing a broker or Redis outage makes fail (beat: each
    scheduled send, the outbox relay every 2 s; the worker: each reconnection attempt, each
    task retry the broker refused). On the process's log handlers: the first such record
    becomes one warning, the others keep their one line without the traceback, and a line says
    when things work again (the next task published or run)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.down_since: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or not _caused_by_outage(record.exc_info[1]):
            if self.down_since is not None and str(record.msg).startswith("Connected to"):
                self.down_since = None  # the consumer's own line says the outage ended
            return True
        with self._lock:
            first = self.down_since is None
            if first:
                self.down_since = time.monotonic()
        if first:
            record.msg, record.args = "broker or Redis unreachable: %s", (record.exc_info[1],)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        return True

    def worked(self, **kwargs) -> None:
        if self.down_since is None:
            return
        with self._lock:
            since, self.down_since = self.down_since, None
        if since is not None:
            logging.getLogger("celery").warning(
                "broker and Redis reachable again after %.1f s", time.monotonic() - since
            )


_outage_logs = _OutageLogs()


@signals.after_setup_logger.connect
def _quiet_outages(logger=None, **kwargs) -> None:
    for handler in (logger or logging.getLogger()).handlers:
        if _outage_logs not in handler.filters:
            handler.addFilter(_outage_logs)
    signals.after_task_publish.connect(_outage_logs.worked, weak=False)
    signals.task_success.connect(_outage_logs.worked, weak=False)


def heartbeat_key(queue: str) -> str:
    return f"worker-heartbeat:{queue}"


@app.task(name=HEARTBEAT_TASK, ignore_result=True, acks_late=False)
def worker_heartbeat(queue: str) -> float:
    """Stamp "a worker consumed ``queue`` now" where health checks read it (the Django cache,
    i.e. Redis, whatever the broker)."""
    from django.core.cache import cache

    now = time.time()
    cache.set(heartbeat_key(queue), now, timeout=None)
    return now


def heartbeat_age(queue: str) -> float | None:
    """Seconds since a worker last ran a heartbeat from ``queue``, or None if none ever did."""
    from django.core.cache import cache

    stamp = cache.get(heartbeat_key(queue))
    return None if stamp is None else max(0.0, time.time() - float(stamp))


def send_heartbeat(queue: str) -> None:
    """Send one heartbeat to ``queue`` (raises if the broker does not take it)."""
    app.send_task(
        HEARTBEAT_TASK,
        args=[queue],
        queue=queue,
        expires=HEARTBEAT_S * 4,
        retry=False,
    )


@signals.worker_ready.connect
def _comfyui_startup_check(sender=None, **kwargs) -> None:
    """A worker that runs generation jobs checks its ComfyUI servers and workflows as it starts
    and logs each problem (in a thread: a slow server must not hold the worker up)."""
    from django.conf import settings

    if not getattr(settings, "COMFYUI_URLS", None):
        return
    queues = {q.name for q in getattr(getattr(sender, "task_consumer", None), "queues", [])}
    if queues and "generation" not in queues:
        return
    from apps.generation.backends.comfyui.checks import comfyui_check_and_log

    threading.Thread(target=comfyui_check_and_log, name="comfyui-check", daemon=True).start()
