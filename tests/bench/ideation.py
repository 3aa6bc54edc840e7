"""Ideation benchmark: how long a 16-draft grid takes, from the request to the 16th picture stored
and shown, with the real worker on this machine.

Run from the repository root with PostgreSQL and Redis (the bench makes its own database
``<name>_bench_ideation`` on ``DATABASE_URL``'s server)::

    .venv/bin/python tests/bench/ideation.py [--rounds 3] [--count 16] [--pool prefork]

Each round POSTs ``{kind: image, quality: draft, count: 16}`` to ``/api/v1/generations`` (the API
in this process, the job run by a real Celery worker process consuming every queue, concurrency
2, as ``platform/Procfile`` runs it; ``--pool threads`` as the browser tests run it; ``--queues
generation`` leaves the drafts' WebP/AVIF variants unmade, to see what making them meanwhile
costs) and listens to the creator's socket group the way a web process does.
Measured from just before the POST:

- ``first_shown``: the first ``generation.updated`` carrying a picture (the first tile fills);
- ``all_stored``: the 16th asset row committed (its ``created_at``, same clock);
- ``grid_shown``: the event carrying all 16 pictures (the grid is complete on the page);
- ``succeeded``: the event saying the job succeeded. Target: ``grid_shown`` p50 < 5 s.

Baselines measured in the same run, in this process: ``raw_sequential`` renders and encodes the
same 16 drafts one after the other with the procedural painter alone (no jobs, storage,
provenance, credentials or sockets), ``raw_backend`` does it through the backend's
``generate_each`` (two render threads, as the worker does); ``single_draft_job`` is one draft
requested alone end to end (x16 gives what 16 separate requests would cost back to back).
``ratios`` divide the grid's figures by those baselines.

Not collected by pytest (``norecursedirs``). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.databases import bench_database  # noqa: E402

PROMPT = "golden hour mountains above a calm lake, drifting clouds"
TARGET_GRID_S = 5.0
TIMEOUT_S = 120.0


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


class Listener:
    """A channel in the creator's group, read on its own thread: when each job update came."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.updates: list[tuple[float, dict]] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True).start()
        if not self.ready.wait(10):
            raise RuntimeError("the channel layer did not answer")

    async def _run(self) -> None:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(self.group, channel)
        self.ready.set()
        while True:
            message = await layer.receive(channel)
            event = json.loads(message["text"]) if "text" in message else message.get("event", {})
            if event.get("type") == "generation.updated":
                with self.lock:
                    self.updates.append((time.time(), event["job"]))

    def first(self, job_id: str, test, timeout: float = TIMEOUT_S) -> float | None:
        """When the first update of ``job_id`` passing ``test`` arrived, or None."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for at, job in self.updates:
                    if job["id"] == job_id and test(job):
                        return at
            time.sleep(0.005)
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=16)
    parser.add_argument(
        "--pool", default="prefork", choices=["prefork", "threads"], help="the worker's pool"
    )
    parser.add_argument(
        "--queues",
        default="generation,media,feed,default",
        help="the worker's queues; 'generation' alone leaves the drafts' variants (media) unmade,"
        " to see what they add",
    )
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("DATABASE_URL must name a PostgreSQL server")
    run = f"bi{os.getpid()}"
    media = tempfile.mkdtemp(prefix="vivid-bench-ideation-")
    env = {
        "DATABASE_URL": bench_database(base, "ideation"),
        "CHANNELS_PREFIX": f"vivid-{run}",
        "CACHE_PREFIX": f"vivid-{run}",
        "RATE_LIMITS_ENABLED": "0",  # a load, not a person
        "CELERY_PREFIX": f"vivid-{run}:",
        "MEDIA_ROOT": media,
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "apps.config.settings",
        "LOG_LEVEL": "WARNING",
        "GENERATION_DAILY_BUDGET": "1000000",
    }
    os.environ.update(env)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], check=True)

    import django

    django.setup()
    worker = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", "apps.config.celery:app", "worker",
            "-Q", args.queues, "-P", args.pool, "-c", "2",
            "--loglevel", "WARNING", "--without-heartbeat", "--without-mingle",
            "--without-gossip",
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
    from rest_framework.test import APIClient

    from apps.accounts import services as accounts
    from apps.accounts.models import User
    from apps.config.celery import app
    from apps.generation.backends.base import GenerationRequest
    from apps.generation.backends.registry import backend_get
    from apps.generation.models import GenerationJob
    from apps.generation.services import dimensions
    from apps.realtime import groups

    deadline = time.monotonic() + 60
    while not app.control.ping(timeout=1):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the Celery worker did not start")

    user = User.objects.create(
        username=f"ideate{os.getpid()}"[:30], email=f"i{os.getpid()}@example.com", password="!"
    )
    _, raw = accounts.token_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    listener = Listener(groups.user_group(user.pk))
    width, height = dimensions("image", "1:1", "draft")
    count = args.count

    def job(n: int, seed: int) -> dict[str, float]:
        body = {"kind": "image", "prompt": PROMPT, "quality": "draft", "count": n, "seed": seed}
        t0 = time.time()
        response = client.post("/api/v1/generations", body, format="json")
        if response.status_code != 202:
            raise RuntimeError(f"POST /generations answered {response.status_code}")
        job_id = response.json()["id"]
        done = listener.first(job_id, lambda j: j["status"] in ("succeeded", "failed"))
        if done is None:
            raise RuntimeError(f"job {job_id} did not finish in {TIMEOUT_S} s")
        row = GenerationJob.objects.get(id=job_id)
        if row.status != "succeeded":
            raise RuntimeError(f"job {job_id} {row.status}: {row.error}")
        stored = [a.created_at.timestamp() for a in row.assets.order_by("id")]
        return {
            "first_shown": listener.first(job_id, lambda j: len(j["assets"]) >= 1) - t0,
            "all_stored": max(stored) - t0,
            "grid_shown": listener.first(job_id, lambda j: len(j["assets"]) >= n) - t0,
            "succeeded": done - t0,
        }

    job(1, 1)  # warm up the worker (imports, connections)
    rounds = [job(count, 1000 + 100 * r) for r in range(args.rounds)]
    singles = [job(1, 5000 + r)["succeeded"] for r in range(max(3, args.rounds))]

    backend = backend_get("procedural")
    from apps.generation.backends.procedural import encode_png, render_scene

    raw_sequential, raw_backend = [], []
    for r in range(args.rounds):
        seed = 1000 + 100 * r
        t0 = time.perf_counter()
        for i in range(count):
            encode_png(render_scene(PROMPT, "", seed + i, width, height, "draft"))
        raw_sequential.append(time.perf_counter() - t0)
        request = GenerationRequest(
            kind="image",
            prompt=PROMPT,
            seed=seed,
            width=width,
            height=height,
            quality="draft",
            count=count,
        )
        t0 = time.perf_counter()
        files = list(backend.generate_each(request, lambda _f: None))
        raw_backend.append(time.perf_counter() - t0)
        assert len(files) == count

    grid = {k: _summary([r[k] for r in rounds]) for k in rounds[0]}
    shown = grid["grid_shown"]["p50"]
    single = statistics.median(singles)
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg": [round(x, 2) for x in os.getloadavg()],
        },
        "request": {
            "count": count,
            "size": f"{width}x{height}",
            "rounds": args.rounds,
            "worker_pool": args.pool,
            "worker_queues": args.queues,
        },
        "grid": grid,
        "baselines": {
            "raw_sequential": _summary(raw_sequential),
            "raw_backend": _summary(raw_backend),
            "single_draft_job": _summary(singles),
            "single_draft_job_x16": round(single * count, 3),
        },
        "ratios": {
            "grid_shown_vs_raw_sequential": round(shown / statistics.median(raw_sequential), 2),
            "grid_shown_vs_raw_backend": round(shown / statistics.median(raw_backend), 2),
            "grid_shown_vs_single_jobs_x16": round(shown / (single * count), 2),
        },
        "targets": {
            "grid_shown_p50_s": TARGET_GRID_S,
            "met": shown < TARGET_GRID_S,
        },
    }


if __name__ == "__main__":
    main()
