"""Database connections stay bounded per web process under concurrent load (ASGI).

With persistent connections (``CONN_MAX_AGE=60``) each executor thread of an ASGI process kept
its own, and two web processes held up to 93 of the server's 100 ("too many clients"). With the
pool (``DB_POOL_MAX_SIZE``) a process never holds more than its size, whatever the load.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connection

from apps.accounts import services as account_services
from tests.faults.stack import Stack, http

pytestmark = pytest.mark.django_db(transaction=True)

POOL = 3
CLIENTS = 24
REQUESTS = 8


@pytest.mark.fault(timeout=150)
def test_connections_per_web_process_stay_within_the_pool_under_load(tmp_path, make_user, publish):
    stack = Stack(tmp_path, {"REDIS_URL": settings.REDIS_URL, "DB_POOL_MAX_SIZE": str(POOL)})
    try:
        for name in ("web-a", "web-b"):
            stack.web(name)
        for name in ("web-a", "web-b"):
            stack.wait_web(name)
        author = make_user("author")
        for _ in range(3):
            publish(author)
        readers = []
        for i in range(CLIENTS):
            reader = make_user(f"reader{i}")
            readers.append(account_services.token_create(user=reader)[1])

        peaks: dict[str, int] = {}
        sampling = threading.Event()

        def sample() -> None:
            from django.db import connections

            with connections["default"].cursor() as cursor:
                while not sampling.is_set():
                    cursor.execute(
                        "SELECT application_name, count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND application_name LIKE 'fault-%%'"
                        " GROUP BY 1"
                    )
                    for name, count in cursor.fetchall():
                        peaks[name] = max(peaks.get(name, 0), count)
                    time.sleep(0.02)
            connections["default"].close()

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        def client(i: int) -> list[int]:
            web = ("web-a", "web-b")[i % 2]
            statuses = []
            for n in range(REQUESTS):
                path = "/api/v1/feed/public" if n % 2 else "/api/v1/me"
                status, _, _ = http("GET", f"{stack.url(web)}{path}", readers[i])
                statuses.append(status)
            return statuses

        with ThreadPoolExecutor(CLIENTS) as pool:
            statuses = [s for result in pool.map(client, range(CLIENTS)) for s in result]
        sampling.set()
        sampler.join(timeout=10)

        assert statuses.count(200) == CLIENTS * REQUESTS, sorted(set(statuses))
        assert set(peaks) == {"fault-web-a", "fault-web-b"}, peaks
        assert max(peaks.values()) <= POOL, peaks
        assert "too many clients" not in stack.logs(tail=100_000)
        # Held for the run's own test process too: nothing here leaked connections.
        assert connection.vendor == "postgresql"
    finally:
        stack.stop()
