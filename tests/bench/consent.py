"""Revocation benchmark: a person withdraws their likeness consent; how long until every post that
relied on it is gone from every read path and ``post.deleted`` has gone out to the sockets.

Run from the repository root with PostgreSQL and Redis (the bench makes its own database
``<name>_bench_consent`` on ``DATABASE_URL``'s server)::

    .venv/bin/python tests/bench/consent.py [--revocations 50] [--posts 20]

Each round: a person allows everyone to use their likeness and a creator publishes ``--posts``
public posts of it; the person then sets their policy to "nobody" through
``PUT /api/v1/me/consent/likeness``. Measured from just before that request:

- ``request``: until the answer (the posts are taken down inside its transaction);
- ``gone``: every read path checked right after the answer (``GET /posts/<id>``, the public feed,
  the creator's profile feed, the media URL of each original): all of them must already say
  the post is gone (``read_paths_all_gone``);
- ``socket``: until the last ``post.deleted`` has arrived on the ``public`` group, received the
  way a web process receives it (a channel-layer channel in this process; the fan-out runs in a
  real Celery worker on the ``feed`` queue);
- ``total``: the later of the two. Target: p99 < 5 s.

Baseline, interleaved round by round: the creator deletes the same number of posts one by one
with ``DELETE /posts/<id>`` (the path that existed before consent), until the last
``post.deleted`` arrives. ``ratio`` is revocation p50 / baseline p50.

Not collected by pytest (``norecursedirs``). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
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

TARGET_P99_S = 5.0
TIMEOUT_S = 30.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 3),
        "p99": round(_pct(values, 0.99), 3),
        "max": round(max(values), 3),
    }


class Listener:
    """A channel in the ``public`` group, read on its own thread: when each post.deleted came."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.lock = threading.Lock()
        self.ready = threading.Event()
        threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True).start()
        if not self.ready.wait(10):
            raise RuntimeError("the channel layer did not answer")

    async def _run(self) -> None:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add("public", channel)
        self.ready.set()
        while True:
            message = await layer.receive(channel)
            event = json.loads(message["text"]) if "text" in message else message.get("event", {})
            if event.get("type") == "post.deleted":
                with self.lock:
                    self.seen.setdefault(event["post_id"], time.perf_counter())

    def wait(self, post_ids: list[str], timeout: float = TIMEOUT_S) -> float | None:
        """The time the last of ``post_ids`` was announced, or None after ``timeout``."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                if all(p in self.seen for p in post_ids):
                    return max(self.seen[p] for p in post_ids)
            time.sleep(0.005)
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--revocations", type=int, default=50)
    parser.add_argument("--posts", type=int, default=20, help="dependent posts per revocation")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("DATABASE_URL must name a PostgreSQL server")
    run = f"bc{os.getpid()}"
    media = tempfile.mkdtemp(prefix="vivid-bench-consent-")
    env = {
        "DATABASE_URL": bench_database(base, "consent"),
        "CHANNELS_PREFIX": f"vivid-{run}",
        "CACHE_PREFIX": f"vivid-{run}",
        "RATE_LIMITS_ENABLED": "0",  # a load, not a person
        "CELERY_PREFIX": f"vivid-{run}:",
        "MEDIA_ROOT": media,
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "apps.config.settings",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], check=True)

    import django

    django.setup()
    import logging

    logging.getLogger("django.request").setLevel(logging.ERROR)  # the 404s are the point
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "apps.config.celery:app", "worker",
            "-Q", "feed,default", "-P", "threads", "-c", "4", "--loglevel", "WARNING",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        result = _bench(args, worker)
    finally:
        worker.terminate()
        worker.wait(30)
    print(json.dumps(result, indent=2))


def _bench(args, worker) -> dict:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from rest_framework.test import APIClient

    from apps.accounts import services as accounts
    from apps.accounts.models import User
    from apps.config.celery import app
    from apps.consent import services as consent
    from apps.consent.models import ConsentSettings, LikenessUse
    from apps.generation.models import GenerationJob
    from apps.media.models import Asset
    from apps.posts.models import Post
    from apps.posts.services import trend_base
    from tests.conftest import png_bytes

    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=1):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the Celery worker did not start")
    listener = Listener()

    data = png_bytes()
    sha = hashlib.sha256(data).hexdigest()
    original = default_storage.save(f"bench/{sha}.png", ContentFile(data))

    def person(name: str) -> User:
        return User.objects.create(username=name[:30], email=f"{name}@example.com", password="!")

    def client(user: User) -> APIClient:
        _, raw = accounts.token_create(user=user)
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return c

    anon = APIClient()

    def posts_of(author: User, count: int, depicted: User | None) -> list[Post]:
        jobs = GenerationJob.objects.bulk_create(
            [
                GenerationJob(
                    owner=author, kind="image", status="succeeded", prompt="portrait",
                    backend="procedural", seed=0, params={},
                )
                for _ in range(count)
            ]
        )  # fmt: skip
        assets = Asset.objects.bulk_create(
            [
                Asset(
                    owner=author, job=job, kind="image", mime="image/png", sha256=sha,
                    original=original, width=8, height=8, bytes=len(data),
                )
                for job in jobs
            ]
        )  # fmt: skip
        if depicted is not None:
            event = ConsentSettings.objects.get(user=depicted).likeness_policy_event_id
            LikenessUse.objects.bulk_create(
                [
                    LikenessUse(job=j, person=depicted, requester=author, consent_event_id=event)
                    for j in jobs
                ]
            )
        posts = []
        for asset in assets:  # one by one: each gets its own time-sortable id
            post = Post(author=author, asset=asset, visibility="public")
            post.trend_score = trend_base(post.id)
            posts.append(post)
        return Post.objects.bulk_create(posts)

    def all_gone(author: User, posts: list[Post]) -> bool:
        wanted = {str(p.id) for p in posts}
        feed = {i["id"] for i in anon.get("/api/v1/feed/public?limit=100").json()["items"]}
        profile = anon.get(f"/api/v1/users/{author.username}/posts?limit=100").json()["items"]
        if wanted & feed or wanted & {i["id"] for i in profile}:
            return False
        for post in posts:
            if anon.get(f"/api/v1/posts/{post.id}").status_code != 404:
                return False
            if anon.get(f"/media/assets/{post.asset_id}/original").status_code != 404:
                return False
        return True

    creator = person(f"creator_{uuid.uuid4().hex[:8]}")
    creator_client = client(creator)
    k = args.posts
    rows: dict[str, list[float]] = {"request": [], "socket": [], "total": [], "baseline": []}
    all_gone_every_time = True
    visible_before = True
    lost = 0
    for i in range(args.revocations):
        depicted = person(f"p{i}_{uuid.uuid4().hex[:8]}")
        consent.likeness_consent_set(user=depicted, policy="everyone")
        depicted_client = client(depicted)
        posts = posts_of(creator, k, depicted)
        ids = [str(p.id) for p in posts]
        visible_before &= anon.get(f"/media/assets/{posts[0].asset_id}/original").status_code == 200

        started = time.perf_counter()
        response = depicted_client.put(
            "/api/v1/me/consent/likeness", {"policy": "nobody"}, format="json"
        )
        answered = time.perf_counter()
        assert response.status_code == 200, response.content
        all_gone_every_time &= all_gone(creator, posts)
        announced = listener.wait(ids)
        if announced is None:
            lost += 1
            announced = time.perf_counter()
        rows["request"].append(answered - started)
        rows["socket"].append(announced - started)
        rows["total"].append(max(answered, announced) - started)

        # Baseline: the creator deletes as many posts, one request each.
        own = posts_of(creator, k, None)
        started = time.perf_counter()
        for post in own:
            assert creator_client.delete(f"/api/v1/posts/{post.id}").status_code == 204
        announced = listener.wait([str(p.id) for p in own])
        if announced is None:
            lost += 1
            announced = time.perf_counter()
        rows["baseline"].append(announced - started)

    total = _summary(rows["total"])
    baseline = _summary(rows["baseline"])
    return {
        "revocations": args.revocations,
        "posts_per_revocation": k,
        "revocation_s": {
            "request": _summary(rows["request"]),
            "socket": _summary(rows["socket"]),
            "total": total,
        },
        "baseline_author_deletes_s": baseline,
        "ratio_p50_vs_baseline": round(total["p50"] / baseline["p50"], 3),
        "visible_before": visible_before,
        "read_paths_all_gone": all_gone_every_time,
        "events_lost": lost,
        "target_p99_s": TARGET_P99_S,
        "meets_target": total["p99"] < TARGET_P99_S and all_gone_every_time and not lost,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


if __name__ == "__main__":
    main()
