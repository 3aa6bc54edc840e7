"""Where an idle socket's memory goes: tracemalloc in a Vivid web process holding idle sockets.

Run from the repository root::

    .venv/bin/python tests/bench/realtime_memory.py [--idle 1000] [--top 15] [--debug]

Starts uvicorn in a child process with tracemalloc on (the same WebSocket options as
``manage.py serve``), opens one warm-up socket and snapshots, opens the other sockets (each
with its own token, subscribed to ``home``, as ``bench_memory`` in ``tests/bench/realtime.py``
does) and snapshots again, then prints the allocation sites that grew, per socket, as JSON.
Python allocations only, so the figures sit a little under the RSS growth ``bench_memory``
reports. ``--debug`` runs with ``DEBUG`` on (Django then keeps every query's text). Makes its own
database ``<name>_bench_realtime_memory`` when ``DATABASE_URL`` is PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import linecache
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench import realtime as rt  # noqa: E402


def serve(port: int, out: str) -> None:
    """The child: uvicorn with tracemalloc; SIGUSR1 writes the next snapshot to ``out``."""
    import uvicorn

    from apps.core.management.commands.serve import WS_OPTIONS

    tracemalloc.start(12)
    taken = [0]

    def snapshot(*_):
        import gc

        gc.collect()
        tracemalloc.take_snapshot().dump(f"{out}.{taken[0]}")
        taken[0] += 1

    signal.signal(signal.SIGUSR1, snapshot)
    options = dict(zip(WS_OPTIONS[::2], WS_OPTIONS[1::2], strict=True))
    config = uvicorn.Config(
        "apps.config.asgi:application",
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        ws_max_size=int(options["--ws-max-size"]),
        ws_per_message_deflate=options["--ws-per-message-deflate"] == "true",
        lifespan="off",
        log_level="warning",
        backlog=4096,
    )
    uvicorn.Server(config).run()


def _people(env: dict[str, str], idle: int) -> list[str]:
    from apps.accounts.models import AccessToken, User, hash_token
    from apps.core.ids import new_id

    ids = [new_id() for _ in range(idle)]
    User.objects.bulk_create(
        [User(id=i, username=f"m{n}", password=rt.PASSWORD_HASH) for n, i in enumerate(ids)]
    )
    raws = [f"vvd_mem_{n}_{uuid.uuid4().hex}" for n in range(idle)]
    AccessToken.objects.bulk_create(
        [
            AccessToken(user_id=i, prefix=r[:12], key_hash=hash_token(r), scopes=["read"])
            for i, r in zip(ids, raws, strict=True)
        ]
    )
    return raws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="vivid-bench-mem-") as tmp:
        workdir = Path(tmp)
        env = dict(os.environ)
        if env.get("DATABASE_URL", "").startswith("postgres"):
            base, _, name = env["DATABASE_URL"].rpartition("/")
            db_name = f"{name.split('?')[0]}_bench_realtime_memory"
            subprocess.run(
                [rt.PY, "-c", rt._CREATE_PG_DB, env["DATABASE_URL"], db_name], check=True
            )
            os.environ["DATABASE_URL"] = f"{base}/{db_name}"
        env = dict(os.environ)
        run = uuid.uuid4().hex[:8]
        if not env.get("DATABASE_URL", "").startswith("postgres"):
            env["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
        env.update(
            DJANGO_SETTINGS_MODULE="apps.config.settings",
            CHANNELS_PREFIX=f"bench-{run}",
            CACHE_PREFIX=f"bench-{run}",
            RATE_LIMITS_ENABLED="0",
            MEDIA_ROOT=str(workdir / "media"),
            VIVID_VAR_DIR=str(workdir / "var"),
            DEBUG="1" if args.debug else "0",
            REALTIME_MAX_SOCKETS_PER_USER="5",
        )
        rt._django(env)
        tokens = _people(env, args.idle)
        port = rt._free_port()
        out = str(workdir / "snap")
        log = (workdir / "web.log").open("wb")
        proc = subprocess.Popen(
            [rt.PY, __file__, "--serve", str(port), out],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        clients = rt.Clients()
        try:
            rt._wait_listening(port, proc)
            url = f"ws://127.0.0.1:{port}/ws/"
            clients.open([url], tokens[:1], subscribe=True)
            time.sleep(1)
            proc.send_signal(signal.SIGUSR1)
            time.sleep(3)
            clients.open([url] * (args.idle - 1), tokens[1:], subscribe=True)
            time.sleep(2)
            proc.send_signal(signal.SIGUSR1)
            deadline = time.monotonic() + 60
            while not Path(f"{out}.1").exists() and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(2)  # the dump is written
            clients.close_all()
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        before = tracemalloc.Snapshot.load(f"{out}.0")
        after = tracemalloc.Snapshot.load(f"{out}.1")
    per = args.idle - 1
    stats = after.compare_to(before, "lineno")
    sites = []
    for stat in stats[: args.top]:
        frame = stat.traceback[0]
        where = frame.filename.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
        sites.append(
            {
                "bytes_per_socket": round(stat.size_diff / per),
                "blocks_per_socket": round(stat.count_diff / per, 1),
                "site": f"{where}:{frame.lineno}",
                "line": linecache.getline(frame.filename, frame.lineno).strip(),
            }
        )
    print(
        json.dumps(
            {
                "benchmark": "realtime_memory",
                "idle_sockets": args.idle,
                "debug": args.debug,
                "traced_kib_per_socket": round(sum(s.size_diff for s in stats) / per / 1024, 2),
                "load_average": os.getloadavg(),
                "sites": sites,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
