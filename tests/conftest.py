"""Fixtures shared by every test: people, API clients, posts, captured socket events, a worker."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connection
from PIL import Image
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.accounts.models import User
from apps.media.services import asset_create


@pytest.fixture(scope="session", autouse=True)
def _real_servers_answer(django_db_blocker) -> None:
    """Fail every test at once, with the reason, when the database or Redis is unreachable."""
    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as e:
        pytest.fail(f"Redis at {settings.REDIS_URL} does not answer: {e}", pytrace=False)
    with django_db_blocker.unblock():
        try:
            connection.ensure_connection()
        except Exception as e:
            pytest.fail(f"The database does not answer: {e}", pytrace=False)


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    # Password hashing is deliberately slow; tests hash many passwords and prove nothing by it.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Rate limits stay on, with counters of each test's own (all tests come from 127.0.0.1).
    settings.RATE_LIMITS_KEY_PREFIX = f"{settings.CACHES['default']['KEY_PREFIX']}:{tmp_path.name}"


_counter = iter(range(1, 10**9))


def png_bytes(size: tuple[int, int] = (8, 8)) -> bytes:
    """A small, valid PNG, different every call."""
    n = next(_counter)
    out = io.BytesIO()
    Image.new("RGB", size, (n * 37 % 256, n * 91 % 256, n * 53 % 256)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def make_user(db):
    def make(username: str | None = None, **fields: Any) -> User:
        username = username or f"user{next(_counter)}"
        user = account_services.user_create(
            username=username, email=f"{username}@example.com", password="correct horse battery 9"
        )
        for name, value in fields.items():
            setattr(user, name, value)
        if fields:
            user.save()
        return user

    return make


@pytest.fixture
def alice(make_user) -> User:
    return make_user("alice")


@pytest.fixture
def bob(make_user) -> User:
    return make_user("bob")


@pytest.fixture
def carol(make_user) -> User:
    return make_user("carol")


def client_for(user: User | None, scopes=("read", "write")) -> APIClient:
    client = APIClient()
    if user is not None:
        _, raw = account_services.token_create(user=user, scopes=scopes)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


@pytest.fixture
def api():
    """``api(user)`` is a client authenticated with a fresh read+write token for ``user``."""
    return client_for


@dataclass
class CapturedEvents:
    """What would go out on sockets: (group, event) pairs, in order."""

    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def to(self, group: str) -> list[dict[str, Any]]:
        return [event for g, event in self.sent if g == group]

    def types(self, group: str) -> list[str]:
        return [event["type"] for event in self.to(group)]

    @property
    def groups(self) -> set[str]:
        return {g for g, _ in self.sent}


@pytest.fixture
def events(monkeypatch) -> CapturedEvents:
    """Capture every channel-layer send made through ``apps.realtime.events`` (not delivered)."""
    from apps.realtime import events as events_module

    captured = CapturedEvents()
    lock = threading.Lock()

    def capture(group: str, message: dict[str, Any]) -> None:
        # Fan-out sends events already serialised (``text``); capture them as dicts all the same.
        event = json.loads(message["text"]) if "text" in message else message.get("event", message)
        with lock:
            captured.sent.append((group, event))

    def capture_many(groups, message: dict[str, Any], **kwargs: Any) -> int:
        names = list(groups)
        for group in names:
            capture(group, message)
        return len(names)

    monkeypatch.setattr(events_module, "send_now", capture)
    monkeypatch.setattr(events_module, "send_many", capture_many)

    def capture_users(user_ids, message: dict[str, Any]) -> int:
        return capture_many([f"user.{user_id}" for user_id in user_ids], message)

    monkeypatch.setattr(events_module, "send_to_users", capture_users)
    # Modules that imported send_now by name use the same capture.
    import apps.generation.services as gen
    import apps.posts.fanout as fanout
    import apps.posts.services as posts

    monkeypatch.setattr(gen, "send_now", capture)
    monkeypatch.setattr(fanout, "send_now", capture)
    monkeypatch.setattr(fanout, "send_many", capture_many)
    monkeypatch.setattr(fanout, "send_to_users", capture_users)
    # The in-process claim publishes inside its Redis script: send through send_to_users here.
    monkeypatch.setattr(fanout, "PUBLISH_IN_CLAIM", False)
    if hasattr(posts, "send_now"):
        monkeypatch.setattr(posts, "send_now", capture)
    return captured


@pytest.fixture
def celery_worker(transactional_db) -> Iterator[Any]:
    """A real Celery worker, in a thread, consuming every queue from the real Redis broker."""
    from celery.contrib.testing.worker import start_worker

    from apps.config.celery import app

    app.control.purge()  # tasks queued by earlier tests point at rows that are gone
    with start_worker(
        app,
        pool="threads",
        concurrency=2,
        queues=["generation", "media", "feed", "default"],
        perform_ping_check=False,
        shutdown_timeout=30,
        loglevel="WARNING",
    ) as worker:
        yield worker
    _settle_database_sessions()


def _settle_database_sessions(timeout: float = 30.0) -> None:
    """Let the worker's threads finish with the test database before pytest-django flushes it.

    The threads pool keeps one connection per thread, and a task or a backend thread may still
    be finishing a query when the worker stops; the flush's TRUNCATE then deadlocks with it.
    Wait until no other session of this database is busy, then close the ones left idle.
    """
    import time

    import psutil
    from django.db import connection

    # Only this process's sessions: other test runs may share the database server.
    ports = [c.laddr.port for c in psutil.Process().net_connections("tcp") if c.laddr]
    query = (
        "SELECT pid, state FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND client_port = ANY(%s)"
    )
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while True:
            cursor.execute(query, [ports])
            sessions = cursor.fetchall()
            busy = [pid for pid, state in sessions if state not in ("idle", None)]
            if not busy or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for pid, _state in sessions:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.fixture
def make_asset():
    def make(owner):
        return asset_create(owner=owner, data=png_bytes(), mime="image/png", width=8, height=8)

    return make


@pytest.fixture
def publish(api, make_asset):
    def do(author, visibility="public", caption="hello", **extra):
        asset = make_asset(author)
        response = api(author).post(
            "/api/v1/posts",
            {"asset_id": asset.id, "caption": caption, "visibility": visibility, **extra},
            format="json",
        )
        assert response.status_code == 201, response.content
        return response.json()

    return do


@pytest.fixture
def make_video_asset():
    """A real H.264 clip in the owner's Library (a moving gradient), with its probed facts."""
    import numpy as np

    from apps.media import video

    def make(owner, seconds: float = 2.0, size: tuple[int, int] = (320, 180)):
        width, height = size
        ramp = np.linspace(0, 255, width, dtype=np.float32)
        frames = (
            np.repeat(((ramp + i * 8) % 256).astype(np.uint8)[None, :, None], height, 0).repeat(
                3, 2
            )
            for i in range(round(seconds * video.FPS))
        )
        data = video.encode(frames, width=width, height=height, quality="draft")
        info = video.probe(data)
        return asset_create(
            owner=owner,
            data=data,
            mime="video/mp4",
            width=info.width,
            height=info.height,
            duration_s=info.duration_s,
        )

    return make
