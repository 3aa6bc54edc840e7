"""Take-down benchmark: a moderator removes a post, or suspends its author; how long until it is
gone from every read path and ``post.deleted`` has reached every open socket that could show it.

Run from the repository root with PostgreSQL and Redis (the bench makes its own database
``<name>_bench_takedown`` on ``DATABASE_URL``'s server)::

    .venv/bin/python tests/bench/moderation_takedown.py [--runs 30]

Real components: a uvicorn web process serving the ASGI app, a Celery worker on the ``feed``
and ``default`` queues (the outbox relays the fan-out there), real WebSocket clients on loopback
(``websockets``): a follower's socket subscribed to ``home``, ``public`` and ``post:<id>``, an
anonymous visitor's socket on ``public`` and ``post:<id>``, and (suspensions) the author's own
socket, which must be closed with 4003.

Each round, for a fresh author with one public post and an open case about it (or them):
``POST /api/v1/moderation/cases/<id>/actions`` with ``remove`` (or ``suspend``), then measured
from just before that request:

- ``request``: until the answer;
- ``gone``: every read path checked right after the answer (``GET /posts/<id>``, the public
  feed, the follower's home feed, the author's profile feed, the tag feed, the post page, the
  media URL of the original) must already say the post is gone (``read_paths_all_gone``);
- ``socket``: until the last of the five ``post.deleted`` frames (three on the follower's
  socket, two on the visitor's) has arrived, and for a suspension the author's socket closed;
- ``total``: the later of the two. Target: p99 < 2 s.

Baseline, interleaved round by round: the author deletes their own post with
``DELETE /posts/<id>`` (the path that existed before moderation), until the same five frames
arrive. ``ratio`` is take-down total p50 / baseline p50.

Not collected by pytest (``norecursedirs``). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.databases import bench_database  # noqa: E402

PY = sys.executable
TARGET_P99_S = 2.0
TIMEOUT_S = 20.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 3),
        "p99": round(_pct(values, 0.99), 3),
        "max": round(max(values), 3),
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


class Sockets:
    """Real WebSocket clients on one asyncio loop (a thread); each frame's arrival is recorded."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.lock = threading.Lock()
        # (socket name, stream, post id) -> when post.deleted arrived; socket name -> close time
        self.deleted: dict[tuple[str, str, str], float] = {}
        self.closed: dict[str, tuple[float, int | None]] = {}
        self.sockets: dict[str, object] = {}
        self.readers: list[asyncio.Future] = []

    def run(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def open(self, name: str, token: str | None, streams: list[str]) -> None:
        self.run(self._open(name, token, streams))

    async def _open(self, name: str, token: str | None, streams: list[str]) -> None:
        from websockets.asyncio.client import connect

        headers = {"Authorization": f"Bearer {token}"} if token else None
        ws = await connect(self.url, additional_headers=headers, ping_interval=None)
        await ws.send(json.dumps({"type": "subscribe", "streams": streams}))
        while '"subscribed"' not in await ws.recv():
            pass
        self.sockets[name] = ws
        self.readers.append(asyncio.ensure_future(self._read(name, ws)))

    def subscribe(self, name: str, streams: list[str]) -> None:
        async def go():
            await self.sockets[name].send(json.dumps({"type": "subscribe", "streams": streams}))

        self.run(go())

    async def _read(self, name: str, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for text in ws:
                if '"post.deleted"' in text:
                    frame = json.loads(text)
                    with self.lock:
                        key = (name, frame["stream"], frame["post_id"])
                        self.deleted.setdefault(key, time.perf_counter())
        except ConnectionClosed:
            pass
        with self.lock:
            self.closed[name] = (time.perf_counter(), ws.close_code)

    def close(self, name: str) -> None:
        ws = self.sockets.pop(name, None)
        if ws is not None:
            self.run(ws.close())

    def wait(self, keys: list[tuple[str, str, str]], closed: str | None = None) -> float | None:
        """When the last of ``keys`` arrived (and ``closed`` closed), or None after a timeout."""
        deadline = time.perf_counter() + TIMEOUT_S
        while time.perf_counter() < deadline:
            with self.lock:
                if all(k in self.deleted for k in keys) and (not closed or closed in self.closed):
                    times = [self.deleted[k] for k in keys]
                    if closed:
                        times.append(self.closed[closed][0])
                    return max(times)
            time.sleep(0.002)
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30, help="rounds per kind of take-down")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("DATABASE_URL must name a PostgreSQL server")
    run = f"bt{os.getpid()}"
    workdir = Path(tempfile.mkdtemp(prefix="vivid-bench-takedown-"))
    env = {
        "DATABASE_URL": bench_database(base, "takedown"),
        "CHANNELS_PREFIX": f"vivid-{run}",
        "CACHE_PREFIX": f"vivid-{run}",
        "RATE_LIMITS_ENABLED": "0",  # a load, not a person
        "CELERY_PREFIX": f"vivid-{run}:",
        "MEDIA_ROOT": str(workdir / "media"),
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "apps.config.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    subprocess.run([PY, str(ROOT / "manage.py"), "migrate", "-v0"], check=True)

    import django

    django.setup()
    import logging

    logging.getLogger("django.request").setLevel(logging.ERROR)  # the 404s are the point
    logs = [(workdir / f"{n}.log").open("wb") for n in ("worker", "web")]
    worker = subprocess.Popen(
        [
            PY, "-m", "celery", "-A", "apps.config.celery:app", "worker",
            "-Q", "feed,default", "-P", "threads", "-c", "4", "--loglevel", "WARNING",
            "--without-heartbeat", "--without-mingle", "--without-gossip",
        ],
        cwd=ROOT, stdout=logs[0], stderr=subprocess.STDOUT,
    )  # fmt: skip
    port = _free_port()
    web = subprocess.Popen(
        [
            PY, "-m", "uvicorn", "apps.config.asgi:application", "--host", "127.0.0.1",
            "--port", str(port), "--lifespan", "off", "--log-level", "warning",
        ],
        cwd=ROOT, stdout=logs[1], stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_listening(port, web)
        result = _bench(args, worker, f"ws://127.0.0.1:{port}/ws/")
    finally:
        for proc in (web, worker):
            proc.terminate()
        for proc in (web, worker):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    print(json.dumps(result, indent=2))


def _bench(args, worker, ws_url: str) -> dict:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.db import transaction
    from django.test import Client
    from rest_framework.test import APIClient

    from apps.accounts import services as accounts
    from apps.accounts.models import User
    from apps.config.celery import app
    from apps.media.models import Asset
    from apps.moderation import cases
    from apps.moderation.roles import role_set
    from apps.posts.models import Post, PostTag
    from apps.posts.services import trend_base
    from apps.social.models import Follow
    from tests.conftest import png_bytes

    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=1):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the Celery worker did not start")

    data = png_bytes()
    sha = hashlib.sha256(data).hexdigest()
    original = default_storage.save(f"bench/{sha}.png", ContentFile(data))
    tag = f"t{uuid.uuid4().hex[:10]}"

    def person(name: str) -> User:
        return User.objects.create(username=name[:30], email=f"{name}@example.com", password="!")

    def token(user: User, scopes=("read", "write")) -> str:
        return accounts.token_create(user=user, scopes=scopes)[1]

    def client(raw: str) -> APIClient:
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return c

    moderator = person(f"mod_{uuid.uuid4().hex[:8]}")
    role_set(user=moderator, role="moderator")
    mod = client(token(moderator, ("read", "write", "moderate")))
    follower = person(f"fol_{uuid.uuid4().hex[:8]}")
    follower_token = token(follower)
    follower_api = client(follower_token)
    anon = APIClient()
    pages = Client()

    sockets = Sockets(ws_url)
    sockets.open("follower", follower_token, ["home", "public"])
    sockets.open("visitor", None, ["public"])

    def post_of(author: User) -> Post:
        asset = Asset.objects.create(
            owner=author, kind="image", mime="image/png", sha256=sha, original=original,
            width=8, height=8, bytes=len(data),
        )  # fmt: skip
        post = Post(author=author, asset=asset, visibility="public", caption=f"#{tag}")
        post.trend_score = trend_base(post.id)
        post.save()
        PostTag.objects.create(post=post, tag=tag)
        return post

    def ids(c: APIClient, path: str) -> set[str]:
        answer = c.get(path)
        return {i["id"] for i in answer.json()["items"]} if answer.status_code == 200 else set()

    def read_paths(author: User, post: Post) -> list[bool]:
        """Where the post shows, path by path."""
        pid = str(post.id)
        return [
            anon.get(f"/api/v1/posts/{pid}").status_code == 200,
            pid in ids(anon, "/api/v1/feed/public?limit=50"),
            pid in ids(follower_api, "/api/v1/feed/home?limit=50"),
            pid in ids(anon, f"/api/v1/users/{author.username}/posts"),
            pid in ids(anon, f"/api/v1/tags/{tag}/posts?limit=50"),
            pages.get(f"/p/{pid}").status_code == 200,
            anon.get(f"/media/assets/{post.asset_id}/original").status_code == 200,
        ]

    def round_(kind: str) -> tuple[float, float, float, bool, bool]:
        """(request, socket, total seconds, all gone after the answer, visible before)."""
        author = person(f"a_{uuid.uuid4().hex[:10]}")
        Follow.objects.create(follower=follower, followee=author)
        post = post_of(author)
        name = f"author-{author.pk}"
        if kind != "baseline":
            with transaction.atomic():
                case = cases.case_open_or_join(
                    target_type="user" if kind == "suspend" else "post",
                    target_id=author.pk if kind == "suspend" else post.id,
                    subject=author,
                    reason="spam",
                )
        author_token = token(author)
        sockets.open(name, author_token, ["home"])
        streams = [f"post:{post.id}"]
        sockets.subscribe("follower", streams)
        sockets.subscribe("visitor", streams)
        time.sleep(0.05)  # the subscriptions are registered (the server answers in order)
        visible = all(read_paths(author, post))
        pid = str(post.id)
        keys = [
            ("follower", "home", pid),
            ("follower", "public", pid),
            ("follower", f"post:{pid}", pid),
            ("visitor", "public", pid),
            ("visitor", f"post:{pid}", pid),
        ]
        started = time.perf_counter()
        if kind == "baseline":
            answer = client(author_token).delete(f"/api/v1/posts/{pid}")
            assert answer.status_code == 204, answer.content
        else:
            answer = mod.post(
                f"/api/v1/moderation/cases/{case.id}/actions",
                {"action": kind, "reason_code": "spam"},
                format="json",
            )
            assert answer.status_code == 201, answer.content
        answered = time.perf_counter()
        gone = not any(read_paths(author, post))
        arrived = sockets.wait(keys, closed=name if kind == "suspend" else None)
        if kind == "suspend" and sockets.closed.get(name, (0, None))[1] != 4003:
            arrived = None
        sockets.close(name)
        if arrived is None:
            return answered - started, float("inf"), float("inf"), gone, visible
        return (
            answered - started,
            arrived - started,
            max(answered, arrived) - started,
            gone,
            visible,
        )

    rows: dict[str, dict[str, list[float]]] = {
        k: {"request": [], "socket": [], "total": []} for k in ("remove", "suspend", "baseline")
    }
    all_gone, visible_before, lost = True, True, 0
    for _ in range(args.runs):
        for kind in ("remove", "suspend", "baseline"):
            request, sock, total, gone, visible = round_(kind)
            all_gone &= gone
            visible_before &= visible
            if total == float("inf"):
                lost += 1
                continue
            rows[kind]["request"].append(request)
            rows[kind]["socket"].append(sock)
            rows[kind]["total"].append(total)

    out: dict = {"runs": args.runs}
    for kind in ("remove", "suspend"):
        out[f"{kind}_s"] = {part: _summary(v) for part, v in rows[kind].items() if v}
    baseline = _summary(rows["baseline"]["total"])
    out["baseline_author_delete_s"] = baseline
    worst = max(out["remove_s"]["total"]["p99"], out["suspend_s"]["total"]["p99"])
    out.update(
        ratio_remove_p50_vs_baseline=round(out["remove_s"]["total"]["p50"] / baseline["p50"], 3),
        ratio_suspend_p50_vs_baseline=round(out["suspend_s"]["total"]["p50"] / baseline["p50"], 3),
        visible_before=visible_before,
        read_paths_all_gone=all_gone,
        events_lost=lost,
        target_p99_s=TARGET_P99_S,
        meets_target=worst < TARGET_P99_S and all_gone and visible_before and not lost,
        loadavg=[round(x, 2) for x in os.getloadavg()],
    )
    return out


if __name__ == "__main__":
    main()
