"""Real server processes for tests: a Celery worker as its own OS process, on the test database.

The in-thread worker of ``conftest.celery_worker`` covers most tests; a test that kills a worker
or needs prefork semantics (a pool child dying, the main process requeueing its task) starts a
real ``celery worker`` here. It reads the same database, Redis prefixes and media directory as
the test.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The test database (created by pytest-django) as a URL the server processes can read."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        name = str(db["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            pytest.fail("Server processes need the SQLite test database in a file, not in memory.")
        return f"sqlite:///{Path(name).resolve()}"
    if "postgresql" in db["ENGINE"]:
        auth = quote(db["USER"] or "", safe="")
        if db.get("PASSWORD"):
            auth += ":" + quote(db["PASSWORD"], safe="")
        host = db["HOST"] or "localhost"
        port = f":{db['PORT']}" if db.get("PORT") else ""
        return f"postgres://{auth}@{host}{port}/{quote(db['NAME'], safe='')}"
    pytest.fail(f"Server processes do not know how to share a {db['ENGINE']} database.")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_env(**extra: str) -> dict[str, str]:
    """Environment for a Vivid process that shares this test's database, Redis (with the run's
    key prefixes, inherited from tests/embedded.py) and media."""
    env = dict(os.environ)
    # Set in this process for Playwright's sync API only; a server must keep Django's check.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(
        DJANGO_SETTINGS_MODULE="apps.config.settings",
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        CONN_MAX_AGE="0",
        DB_POOL_MAX_SIZE="8",  # the production default (the test process runs without a pool)
        PYTHONUNBUFFERED="1",
        # Every server a test starts sees the whole run's traffic from one address (127.0.0.1),
        # many people's sockets and writes a minute: per-address limits would measure the
        # suite, not a person. The limits are tested in-process (tests/accounts/).
        RATE_LIMITS_ENABLED="0",
    )
    env.update(extra)
    return env


def children_of(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(p) for p in text]
    return found


@contextmanager
def celery_worker_process(
    *, queues: list[str], concurrency: int = 1, name: str = "proc", **env: str
) -> Iterator[subprocess.Popen]:
    """A prefork ``celery worker`` subprocess; stopped (and reaped) when the block ends."""
    from apps.config.celery import app

    node = f"{name}-{os.getpid()}@localhost"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "apps.config.celery:app", "worker",
            "--pool=prefork", f"--concurrency={concurrency}", "--loglevel=WARNING",
            f"--queues={','.join(queues)}", f"--hostname={node}", "--without-gossip",
            "--without-mingle", "--without-heartbeat",
        ],
        cwd=ROOT,
        env=process_env(**env),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[node], timeout=0.5):
            if process.poll() is not None:
                raise RuntimeError(f"the worker exited with {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("the worker did not start within 60 s")
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
