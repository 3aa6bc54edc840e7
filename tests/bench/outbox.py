"""Outbox benchmark: what the transactional outbox adds to a publish, and how fast the relay drains.

Run from the repository root with PostgreSQL and Redis (the bench makes its own database
``<name>_bench_outbox`` on ``DATABASE_URL``'s server; Redis keys under a prefix of its own,
deleted at the end)::

    .venv/bin/python tests/bench/outbox.py [--publishes 300]

- ``publish``: ``post_publish`` called the way the API calls it, from the start of the call until
  it returns (transaction, commit and the hand-off to the broker after commit), with the
  fan-out task handed over two ways, interleaved in blocks of 10 in one run:
  ``outbox`` (today: an ``OutboxMessage`` row in the transaction, sent and marked sent after
  commit) and ``direct`` (the baseline it replaced: ``fanout_post_created.delay`` in
  ``on_commit``). ``ratio`` is outbox p50 / direct p50; ``added_ms`` the difference of p50s.
- ``relay``: ``--backlog`` unsent messages (the broker was down) handed to the broker by one
  ``outbox.relay()`` call: messages per second.

No worker consumes what is sent. Not collected by pytest (``norecursedirs``). Prints one JSON
object; timings are wall-clock and the load average is reported alongside.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.databases import bench_database  # noqa: E402

BLOCK = 10


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 3),
        "p99_ms": round(_pct(values, 0.99) * 1000, 3),
        "n": len(values),
    }


def _bench(args: argparse.Namespace) -> dict:
    from celery import current_app
    from django.db import transaction

    from apps.accounts.services import user_create
    from apps.core import outbox
    from apps.core.models import OutboxMessage
    from apps.media.services import asset_create
    from apps.posts import services
    from tests.conftest import png_bytes

    def direct(task, *task_args, **kwargs):
        """The hand-off the outbox replaced: the task straight to the broker after commit."""
        name = task if isinstance(task, str) else task.name
        transaction.on_commit(
            lambda: current_app.send_task(name, args=list(task_args), kwargs=kwargs)
        )

    stamp = f"{os.getpid()}{int(time.time()) % 100000}"
    author = user_create(
        username=f"bench{stamp}", email=f"bench{stamp}@example.com", password="bench pass 9"
    )
    asset = asset_create(owner=author, data=png_bytes(), mime="image/png", width=8, height=8)
    real = outbox.send_on_commit
    times: dict[str, list[float]] = {"outbox": [], "direct": []}

    def publish(mode: str) -> None:
        services.outbox.send_on_commit = real if mode == "outbox" else direct
        started = time.perf_counter()
        services.post_publish(
            author=author, asset_id=asset.id, caption="bench #outbox", visibility="public"
        )
        times[mode].append(time.perf_counter() - started)

    for _ in range(BLOCK):  # warm-up: connections, compiled queries
        publish("outbox")
        publish("direct")
    times = {"outbox": [], "direct": []}
    modes = ("outbox", "direct")
    for block in range(args.publishes // BLOCK):
        for mode in modes if block % 2 == 0 else modes[::-1]:
            for _ in range(BLOCK):
                publish(mode)
    services.outbox.send_on_commit = real
    unsent = OutboxMessage.objects.filter(sent_at__isnull=True).count()

    # The relay: a backlog left by a broker outage, handed over in one call.
    OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(task="apps.posts.tasks.fanout_post_created", args=[0])
            for _ in range(args.backlog)
        ]
    )
    started = time.perf_counter()
    relayed = 0
    while True:
        sent = outbox.relay(after_s=0)
        relayed += sent
        if not sent:
            break
    relay_s = time.perf_counter() - started

    o, d = _summary(times["outbox"]), _summary(times["direct"])
    return {
        "publish": {
            "outbox": o,
            "direct": d,
            "ratio": round(o["p50_ms"] / d["p50_ms"], 3),
            "added_ms": round(o["p50_ms"] - d["p50_ms"], 3),
            "outbox_left_unsent": unsent,
        },
        "relay": {
            "messages": relayed,
            "seconds": round(relay_s, 3),
            "per_second": round(relayed / relay_s),
        },
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--publishes", type=int, default=300, help="per mode")
    parser.add_argument("--backlog", type=int, default=2000)
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("DATABASE_URL must name a PostgreSQL server")
    run = f"bo{os.getpid()}"
    env = {
        "DATABASE_URL": bench_database(base, "outbox"),
        "CHANNELS_PREFIX": f"vivid-{run}",
        "CACHE_PREFIX": f"vivid-{run}",
        "RATE_LIMITS_ENABLED": "0",  # a load, not a person
        "CELERY_PREFIX": f"vivid-{run}:",
        "MEDIA_ROOT": tempfile.mkdtemp(prefix="vivid-bench-outbox-"),
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "apps.config.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], check=True)

    import django

    django.setup()
    import redis
    from django.conf import settings

    try:
        result = _bench(args)
    finally:
        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter(f"vivid-{run}*", count=1000):
            client.delete(key)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
