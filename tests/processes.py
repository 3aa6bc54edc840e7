"""Real server processes for tests: a Celery worker as its own OS process, on the test database.

The in-thread worker of ``conftest.celery_worker`` covers most tests; a test that kills a worker
or needs prefork semantics (a pool child dying, the main process requeueing its task) starts a
real ``celery worker`` here. It reads the same database, Redis prefixes and media directory as
the test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The URL of the database this test runs on (the test database, not the configured one)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] or ""
    if db["PASSWORD"]:
        auth += f":{db['PASSWORD']}"
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    """Environment for a Vivid process that shares this test's database, Redis and media."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="apps.config.settings",
        DATABASE_URL=database_url(),
        REDIS_URL=settings.REDIS_URL,
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        CONN_MAX_AGE="0",
        PYTHONUNBUFFERED="1",
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
