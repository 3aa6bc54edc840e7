"""``manage.py worker_health``: exit 0 when Celery workers consume, 1 when they do not.

For Kubernetes ``livenessProbe`` / compose ``healthcheck`` of a worker: a worker process can be
alive and consume nothing (the issue saw one after a Redis restart), which no exit code shows.
Two checks, either or both:

- ``--max-age`` (default 90 s): a worker ran the heartbeat beat sends to each of ``--queue``
  (feed and default, every 15 s; apps/config/celery.py) within that many seconds. It needs beat
  running and says nothing about which worker; a probe on a deployment of workers.
- ``--ping``: this host's worker (``celery@<hostname>``, or ``--node``) answers a broadcast
  ping, which it reads through the same connection and event loop as its tasks.

While Redis (where heartbeats are kept) does not answer, the heartbeat check passes: the outage
is not the worker's fault and restarting it would not help.
"""

from __future__ import annotations

import socket
from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Exit 0 when Celery workers consume their queues (heartbeat age, optional ping)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--queue", action="append", help="Queue to check (repeatable).")
        parser.add_argument("--max-age", type=float, default=90.0, help="Seconds (default 90).")
        parser.add_argument("--ping", action="store_true", help="Ping this host's worker too.")
        parser.add_argument("--node", help="Worker node name to ping (default celery@<host>).")
        parser.add_argument("--no-heartbeat", action="store_true", help="Only ping.")

    def handle(self, *args: Any, **options: Any) -> None:
        from apps.config.celery import HEARTBEAT_QUEUES, app, heartbeat_age

        problems = []
        if not options["no_heartbeat"]:
            for queue in options["queue"] or HEARTBEAT_QUEUES:
                try:
                    age = heartbeat_age(queue)
                except Exception as e:  # Redis away: not the worker's fault
                    self.stdout.write(f"{queue}: heartbeat unknown (Redis: {e})")
                    continue
                if age is None or age > options["max_age"]:
                    shown = "never" if age is None else f"{age:.0f} s ago"
                    problems.append(f"{queue}: last heartbeat {shown}")
                else:
                    self.stdout.write(f"{queue}: heartbeat {age:.0f} s ago")
        if options["ping"] or options["node"]:
            node = options["node"] or f"celery@{socket.gethostname()}"
            replies = app.control.ping(destination=[node], timeout=5.0)
            if replies:
                self.stdout.write(f"{node}: pong")
            else:
                problems.append(f"{node}: no answer to ping")
        if problems:
            raise CommandError("; ".join(problems))
