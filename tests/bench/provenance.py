"""Provenance benchmark: what the signed record (and the content credential) adds to a job, and
whether record writers of different creators scale (one chain per creator, no global lock).

Run from the repository root with PostgreSQL and Redis (the bench makes its own database
``<name>_bench_provenance`` on ``DATABASE_URL``'s server)::

    .venv/bin/python tests/bench/provenance.py [--jobs 12] [--records 300]

1. ``job``: a draft image job (the procedural backend, 512x512, one image) run by
   ``generation.services.job_run`` in this process, three ways interleaved round by round with
   the same seed: ``bare`` (no record, no credential: the path before provenance), ``record``
   (the record written in the job's transaction) and ``record_c2pa`` (the record, then the C2PA
   credential signed into the original). Reported: the medians and the overhead of each over
   ``bare``. Target: at most 10 %.
2. ``writers``: records written per second by 1 process, then by 4 processes at once, each
   writing for its own creator (its own chain), every record in its own transaction as the
   worker does. ``four_over_one`` is the throughput ratio. Target: at least 3.
   ``same_chain`` is 4 processes on one creator's chain, for contrast: they queue on its head.
   ``without_commit_flush`` repeats 1 vs 4 with ``synchronous_commit = off`` in the writers'
   sessions (diagnosis only): when the database server's WAL flush, shared by every client of
   the server, is what limits the rate, the two differ. ``lock_waits``: the share of sampled
   database sessions waiting on a lock (none expected across chains).
   The kernel's scheduler autogroups (Linux, on by default) give each *session* one CPU share:
   four writers started from one shell on a busy machine then get no more CPU than one, and
   ``--own-sessions`` starts each writer in a session of its own, as separate workers run.

Not collected by pytest (``norecursedirs``). Wall-clock timings on a shared machine: the load
average is reported alongside. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Not this folder: its c2pa.py (the credentials benchmark) would shadow the c2pa package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if p and Path(p).resolve() != _HERE]

from tests.bench.databases import bench_database  # noqa: E402

TARGET_OVERHEAD = 0.10
TARGET_SCALING = 3.0


def _setup() -> None:
    import django

    django.setup()


def _user(name: str):
    from apps.accounts.models import User

    user, _ = User.objects.get_or_create(username=name, defaults={"email": f"{name}@example.com"})
    return user


# --- 1. a draft image job, with and without its record ---------------------------------------


def _run_job(owner, seed: int, mode: str) -> float:
    from django.utils import timezone

    from apps.generation import services
    from apps.generation.models import GenerationJob
    from apps.provenance import embedding
    from apps.provenance import services as provenance

    job = GenerationJob.objects.create(
        owner=owner,
        kind="image",
        prompt="golden hour mountains above a calm lake",
        backend="procedural",
        seed=seed,
        params={
            "aspect_ratio": "1:1",
            "quality": "draft",
            "count": 1,
            "width": 512,
            "height": 512,
            "duration_s": None,
        },
        enqueued_at=timezone.now(),
    )
    real_write, real_sign = provenance.record_write, embedding.original_credential
    if mode == "bare":
        provenance.record_write = lambda **kw: None
    if mode != "record_c2pa":
        embedding.original_credential = lambda **kw: False
    try:
        start = time.perf_counter()
        services.job_run(job_id=job.id)
        elapsed = time.perf_counter() - start
    finally:
        provenance.record_write, embedding.original_credential = real_write, real_sign
    job.refresh_from_db()
    if job.status != "succeeded":
        raise RuntimeError(f"job {job.id} {job.status}: {job.error}")
    return elapsed


def bench_jobs(rounds: int) -> dict:
    owner = _user(f"bench-jobs-{os.getpid()}")
    modes: tuple[str, ...] = ("bare", "record", "record_c2pa")
    c2pa_error = None
    try:
        _run_job(owner, 1, "record_c2pa")  # warm: imports, the signing key, the certificate
    except Exception as e:  # content credentials not available here: measure the record alone
        c2pa_error = f"{type(e).__name__}: {e}"
        modes = ("bare", "record")
        _run_job(owner, 1, "record")
    times: dict[str, list[float]] = {m: [] for m in modes}
    for i in range(rounds):
        order = modes if i % 2 == 0 else tuple(reversed(modes))
        for mode in order:
            times[mode].append(_run_job(owner, 1000 + i, mode))
    medians = {m: round(statistics.median(v), 4) for m, v in times.items()}
    bare = medians["bare"]
    overhead = {m: round((medians[m] - bare) / bare, 4) for m in modes if m != "bare"}
    return {
        "rounds": rounds,
        "median_s": medians,
        "overhead_over_bare": overhead,
        "target_overhead": TARGET_OVERHEAD,
        "met": all(v <= TARGET_OVERHEAD for v in overhead.values()),
        **({"c2pa_unavailable": c2pa_error} if c2pa_error else {}),
    }


# --- 2. records per second, 1 writer and 4 ------------------------------------------------------


def _prepare_writer(name: str, count: int) -> tuple[int, int, list[int]]:
    """A creator with a finished job and ``count`` assets of it without records."""
    from apps.generation.models import GenerationJob
    from apps.media.models import Asset

    owner = _user(name)
    job = GenerationJob.objects.create(
        owner=owner,
        kind="image",
        prompt="a bench of records",
        backend="procedural",
        seed=1,
        params={"quality": "draft", "width": 8, "height": 8, "count": 1},
        status="succeeded",
    )
    assets = Asset.objects.bulk_create(
        [
            Asset(
                owner=owner,
                job=job,
                kind="image",
                mime="image/png",
                sha256=secrets.token_hex(32),
                original=f"bench/{secrets.token_hex(8)}.png",
                width=8,
                height=8,
                bytes=100,
                phash=secrets.token_hex(8),
            )
            for _ in range(count)
        ]
    )
    return owner.id, job.id, [a.id for a in assets]


def _writer(
    job_id: int, asset_ids: list[int], durable: bool, own_session: bool, ready, start, done
) -> None:
    if own_session:  # its own scheduler autogroup: CPU shared per process, not per session
        os.setsid()
    _setup()
    from django.db import connection, transaction

    from apps.generation.models import GenerationJob
    from apps.media.models import Asset
    from apps.provenance.services import record_write

    job = GenerationJob.objects.get(id=job_id)
    assets = list(Asset.objects.filter(id__in=asset_ids).order_by("id"))
    connection.ensure_connection()
    if not durable:  # diagnosis only: commits stop waiting for the WAL to reach the disk
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit TO off")
    ready.put(os.getpid())
    start.wait()
    cpu = time.process_time()
    for asset in assets:
        with transaction.atomic():
            record_write(asset=asset, job=job)
    done.put((time.perf_counter(), time.process_time() - cpu))
    connection.close()


def _writers_round(
    jobs_assets: list[tuple[int, list[int]]], durable: bool = True
) -> tuple[float, float, float]:
    """Records per second of these writers (one process each), started together, and the
    writers' own CPU milliseconds per record (the database's are on top)."""
    ctx = mp.get_context("spawn")
    ready, start, done = ctx.Queue(), ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(j, a, durable, OWN_SESSIONS, ready, start, done))
        for j, a in jobs_assets
    ]
    for p in procs:
        p.start()
    for _ in procs:  # each has set Django up, connected and loaded its rows
        ready.get(timeout=300)
    sampler = LockWaits()
    t0 = time.perf_counter()
    start.set()
    ends = [done.get(timeout=600) for _ in procs]
    waiting = sampler.stop()
    for p in procs:
        p.join()
        if p.exitcode:
            raise RuntimeError(f"a writer failed ({p.exitcode})")
    total = sum(len(a) for _, a in jobs_assets)
    cpu_ms = 1000 * sum(c for _, c in ends) / total
    return total / (max(t for t, _ in ends) - t0), cpu_ms, waiting


class LockWaits:
    """Samples the bench database's sessions every 20 ms while writers run: the share of
    samples in which a session waits on a heavyweight lock (a row or table lock)."""

    def __init__(self) -> None:
        import threading

        self.seen = self.locked = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            while not self.done.is_set():
                for (wait_type,) in conn.execute(
                    "SELECT wait_event_type FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND state <> 'idle'"
                ):
                    self.seen += 1
                    self.locked += wait_type == "Lock"
                time.sleep(0.02)

    def stop(self) -> float:
        self.done.set()
        self.thread.join()
        return round(self.locked / self.seen, 3) if self.seen else 0.0


OWN_SESSIONS = False  # --own-sessions; passed to each writer


def bench_writers(records: int) -> dict:
    from django.db import connection

    run = os.getpid()
    one = [_prepare_writer(f"bench-w1-{run}", records)]
    four = [_prepare_writer(f"bench-w4-{run}-{i}", records) for i in range(4)]
    # Four processes on one chain: one creator's assets split four ways.
    _, job, shared = _prepare_writer(f"bench-same-{run}", records * 4)
    same = [(job, shared[i::4]) for i in range(4)]
    connection.close()
    rate1, cpu1, _ = _writers_round([(j, a) for _, j, a in one])
    rate4, cpu4, locked4 = _writers_round([(j, a) for _, j, a in four])
    rate_same, _, locked_same = _writers_round(same)
    # The same two runs with commits not waiting for the disk: whether what limits the rate is
    # the database server's WAL flush (shared by every client of the server) or the writers.
    fast = [_prepare_writer(f"bench-a{i}-{run}", records) for i in range(5)]
    connection.close()
    async1, _, _ = _writers_round([(j, a) for _, j, a in fast[:1]], durable=False)
    async4, _, _ = _writers_round([(j, a) for _, j, a in fast[1:]], durable=False)
    return {
        "records_per_writer": records,
        "writer_cpu_ms_per_record": {"one": round(cpu1, 2), "four": round(cpu4, 2)},
        "one_writer_per_s": round(rate1, 1),
        "four_writers_per_s": round(rate4, 1),
        "four_over_one": round(rate4 / rate1, 2),
        # Share of the writers' database sessions seen waiting on a row or table lock.
        "lock_waits": {"four_chains": locked4, "same_chain": locked_same},
        "same_chain_four_per_s": round(rate_same, 1),
        "same_chain_over_one": round(rate_same / rate1, 2),
        "without_commit_flush": {
            "one_writer_per_s": round(async1, 1),
            "four_writers_per_s": round(async4, 1),
            "four_over_one": round(async4 / async1, 2),
        },
        "own_sessions": OWN_SESSIONS,
        "target_four_over_one": TARGET_SCALING,
        "met": rate4 / rate1 >= TARGET_SCALING,
    }


def _autogroup() -> bool | None:
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return None


def _verify_all() -> dict[str, int]:
    """Problems the verifier finds in the provenance log after the run, by kind (none expected)."""
    from collections import Counter

    from apps.core import ledger

    return dict(Counter(p.kind for p in ledger.verify_all(logs=["provenance"])))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=12, help="rounds of the job comparison")
    parser.add_argument("--records", type=int, default=300, help="records per writer")
    parser.add_argument(
        "--own-sessions",
        action="store_true",
        help="start each writer in its own session: with the kernel's scheduler autogroups "
        "(on by default), processes of one session share one CPU share, so four writers "
        "started from one shell get no more CPU than one",
    )
    parser.add_argument("--skip-jobs", action="store_true", help="only the writers")
    args = parser.parse_args()
    if args.own_sessions:
        global OWN_SESSIONS
        OWN_SESSIONS = True

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("DATABASE_URL must name a PostgreSQL server")
    run = f"bp{os.getpid()}"
    env = {
        "DATABASE_URL": bench_database(base, "provenance"),
        "CHANNELS_PREFIX": f"vivid-{run}",
        "CACHE_PREFIX": f"vivid-{run}",
        "RATE_LIMITS_ENABLED": "0",  # a load, not a person
        "CELERY_PREFIX": f"vivid-{run}:",
        "MEDIA_ROOT": tempfile.mkdtemp(prefix="vivid-bench-provenance-"),
        # One key for the bench database across runs: earlier runs' records still verify.
        "LEDGER_KEYS_DIR": str(Path(tempfile.gettempdir()) / "vivid-bench-provenance-keys"),
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "apps.config.settings",
        "LOG_LEVEL": "WARNING",
        "DB_POOL_MAX_SIZE": "0",
    }
    os.environ.update(env)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], check=True)
    _setup()

    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg": [round(x, 2) for x in os.getloadavg()],
            "sched_autogroup": _autogroup(),
        },
        "job": None if args.skip_jobs else bench_jobs(args.jobs),
        "writers": bench_writers(args.records),
    }
    result["chain_problems"] = _verify_all()
    result["machine"]["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
