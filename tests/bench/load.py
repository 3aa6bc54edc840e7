"""Capacity: how many requests a second one machine serves with p99 under 250 ms, people holding
live sockets while they browse, react, comment, follow, generate drafts and publish.

Run from the repository root with PostgreSQL (and Redis; without ``REDIS_URL`` an embedded
Valkey is started)::

    .venv/bin/python tests/bench/load.py [--steps 10,20,40,80] [--step-s 60] [--all-steps]

This file is two things. Run as a script it is the driver: it makes the scratch database
``<name>_bench_load`` beside ``DATABASE_URL``'s (seeded once with ``manage.py seed --scale
medium``: 1,000 people, 100,000 posts, and kept for later runs), starts ``manage.py serve`` (one
uvicorn web process, one Celery worker for every queue, beat) in production mode (``DEBUG`` off,
collected static files, as an operator runs it), then runs Locust headless once per step with
more people each time, and samples the web process with py-spy during each step. Imported by
Locust it is the locustfile: the ``Person`` below.

A person signs in once (a token for the API and the socket, a session cookie for pages, both
made by the driver: the load is not sign-ins) and holds one WebSocket on ``/ws/`` subscribed to
``home`` and ``notifications``, answering nothing but sending the page's ``ping`` every 25 s as
the browser does. Between actions a person thinks 2-8 s. Most actions read: the home and public
feeds and post and profile pages, through the API and as HTML pages; some react, comment or
follow; a few ask for four drafts from the embedded ``procedural`` backend, wait (as the Create
page does) for their socket's ``generation.updated`` saying the job is done, and publish one of
its images.

The sockets are ``websockets.sync`` clients (``websocket-client``, which Locust's own examples
use, is not a dependency): under Locust's gevent monkey-patching their reader thread is a
greenlet and their socket cooperative (50 such sockets, each echoing a frame every 0.2 s, left a
10 ms timer greenlet on time), so each person's socket lives beside its HTTP client.

Prints one JSON object: per step the people, sockets held, requests/s, p50/p95/p99, errors
(HTTP failures, sockets that failed to open or were closed by the server), the CPU each process
used (web, worker, beat, this database's PostgreSQL backends, Locust, py-spy) and the load
average before and after; ``capacity``: the busiest step with p99 ≤ 250 ms and no error;
``profile_at_capacity``: where the web process's threads were at that step (py-spy samples: a
PostgreSQL round trip, the event loop, which module's Python code, the hottest functions);
``baseline_bare_server``: the same people against an ASGI app that answers at once (what the
machine, uvicorn and Locust cost without Vivid), and ``vs_baseline``, Vivid's latencies over it.

Everything runs on the one machine: Locust's own CPU comes out of the same cores as the server's,
and on a shared machine other work does too, so the figure is a floor. Not collected by pytest.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

P99_TARGET_MS = 250.0
FIXTURE_ENV = "VIVID_LOAD_FIXTURE"
SOCKET_REPORT_ENV = "VIVID_LOAD_SOCKETS"
DRAFTS_ENV = "VIVID_LOAD_DRAFTS"
THINK_S = (2.0, 8.0)
LOCUST_START_S = 3.0  # from starting Locust to its first person
PROFILE_HZ = 25  # py-spy at 100 Hz took half a core from the machine it measures
PING_EVERY_S = 25.0  # frontend/static/js/live.js
JOB_WAIT_S = 60.0  # a person waits this long on Create for the drafts
PROMPTS = [
    "a misty pine forest at dawn, watercolor",
    "neon city street at night in the rain",
    "desert dunes under a violet sunset",
    "a lighthouse on a stormy coast, oil painting",
    "snowy mountains above a quiet lake, minimal",
    "aurora over a frozen fjord",
]
COMMENTS = ["Lovely light.", "The colours!", "How did you get this sky?", "Saved.", "Wow"]
REACTIONS = ["like", "love", "haha", "wow", "fire"]


# --- the baseline: the same people against a server that does nothing ------------------------


async def bare_app(scope, receive, send) -> None:
    """ASGI app answering every request with a small JSON body and every socket's subscribe and
    ping, at once: what the machine, uvicorn and Locust cost without Vivid."""
    if scope["type"] == "http":
        while (await receive()).get("more_body"):
            pass
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"items": []}'})
    elif scope["type"] == "websocket":
        while True:
            event = await receive()
            if event["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
            elif event["type"] == "websocket.receive":
                kind = json.loads(event.get("text") or "{}").get("type")
                answer = {"subscribe": "subscribed", "ping": "pong"}.get(kind)
                if answer:
                    await send({"type": "websocket.send", "text": json.dumps({"type": answer})})
            else:
                return


# --- the driver -------------------------------------------------------------------------------


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _fixture(people: int, path: Path) -> dict:
    """Tokens and session cookies for ``people`` seeded people, and posts to look at."""
    from django.conf import settings
    from django.test import Client

    from apps.accounts.models import AccessToken, User
    from apps.accounts.services import token_create
    from apps.posts.models import Post

    AccessToken.objects.filter(name="load").delete()  # an earlier run's
    users = list(User.objects.filter(following__isnull=False).distinct().order_by("id")[:people])
    out = []
    for user in users:
        _, token = token_create(user=user, scopes=["read", "write"], name="load")
        client = Client()
        client.force_login(user)
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        out.append({"username": user.username, "token": token, "session": session})
    posts = Post.objects.visible_to(None).order_by("-id").values_list("id", flat=True)[:2000]
    fixture = {
        "people": out,
        "posts": [str(p) for p in posts],
        "usernames": list(User.objects.values_list("username", flat=True)[:1000]),
        "session_cookie": settings.SESSION_COOKIE_NAME,
    }
    path.write_text(json.dumps(fixture))
    return fixture


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *_children(int(child))]
    return found


def _web_pid(serve_pid: int) -> int:
    for pid in _children(serve_pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        if b"uvicorn" in argv:
            return pid
    raise RuntimeError("manage.py serve started no uvicorn process")


def _serve_processes(serve_pid: int) -> dict[str, list[int]]:
    """The processes ``manage.py serve`` started, with their own children, by role."""
    roles: dict[str, list[int]] = {"web": [], "worker": [], "beat": []}
    for pid in (
        int(p)
        for task in Path(f"/proc/{serve_pid}/task").iterdir()
        for p in (task / "children").read_text().split()
    ):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except FileNotFoundError:
            continue
        role = "web" if b"uvicorn" in argv else "beat" if b"beat" in argv else "worker"
        roles[role] += [pid, *_children(pid)]
    return roles


def _postgres_backends(url: str) -> list[int]:
    """The PostgreSQL server processes serving the bench's database now (the pools keep them)."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [pid for (pid,) in rows]


def _cpu_s(pids: list[int]) -> float:
    """User and system CPU seconds used so far by these processes."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _warm(port: int, fixture: dict) -> None:
    """Every page and endpoint once, so templates and code paths are loaded before measuring."""
    import urllib.request

    person = fixture["people"][0]
    headers = {
        "Authorization": f"Bearer {person['token']}",
        "Cookie": f"{fixture['session_cookie']}={person['session']}",
        "X-Forwarded-Proto": "https",
    }
    post, name = fixture["posts"][0], fixture["usernames"][1]
    for path in [
        "/api/v1/feed/home?limit=20",
        "/api/v1/feed/public?limit=20",
        f"/api/v1/posts/{post}",
        f"/api/v1/users/{name}",
        f"/api/v1/users/{name}/posts?limit=20",
        f"/api/v1/posts/{post}/comments",
        "/",
        "/?tab=public",
        f"/p/{post}",
        f"/u/{name}",
    ]:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()


def _stats(csv_prefix: Path) -> dict:
    """Locust's summary CSV: the aggregate and each request name."""
    import csv

    rows = list(csv.DictReader((csv_prefix.parent / f"{csv_prefix.name}_stats.csv").open()))

    def row(r: dict) -> dict:
        count = int(r["Request Count"])
        return {
            "requests": count,
            "failures": int(r["Failure Count"]),
            "rps": round(float(r["Requests/s"]), 1),
            "p50_ms": float(r["50%"]) if count else None,
            "p95_ms": float(r["95%"]) if count else None,
            "p99_ms": float(r["99%"]) if count else None,
        }

    total = next(r for r in rows if r["Name"] == "Aggregated")
    return {
        **row(total),
        "by_request": {
            f"{r['Type']} {r['Name']}": row(r) for r in rows if r["Name"] != "Aggregated"
        },
    }


def _failures(csv_prefix: Path) -> list[dict]:
    import csv

    path = csv_prefix.parent / f"{csv_prefix.name}_failures.csv"
    if not path.exists():
        return []
    return [
        {
            "request": f"{r['Method']} {r['Name']}",
            "error": r["Error"][:200],
            "n": int(r["Occurrences"]),
        }
        for r in csv.DictReader(path.open())
    ][:10]


def _run_step(
    env: dict,
    workdir: Path,
    port: int,
    web_pid: int | None,
    people: int,
    args,
    name: str = "",
    roles: dict[str, list[int]] | None = None,
) -> tuple[dict, Path]:
    """One Locust run of ``people`` for ``args.step_s`` measured seconds (after they have all
    started), with py-spy on ``web_pid`` in the middle of it."""
    import resource
    import subprocess
    import time

    ramp_s = max(1, -(-people // args.spawn_rate))
    name = name or str(people)
    prefix = workdir / f"step-{name}"
    sockets = workdir / f"sockets-{name}.json"
    profile = workdir / f"profile-{name}.txt"
    load_before = _loadavg()
    locust = subprocess.Popen(
        [
            *(sys.executable, "-m", "locust", "-f", str(Path(__file__).resolve())),
            *("--headless", "--host", f"http://127.0.0.1:{port}"),
            *("--users", str(people), "--spawn-rate", str(args.spawn_rate)),
            *("--run-time", f"{ramp_s + args.step_s}s", "--reset-stats"),
            *("--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"),
            *("--stop-timeout", "10", "--exit-code-on-error", "0"),
        ],
        cwd=ROOT,
        env={**env, SOCKET_REPORT_ENV: str(sockets)},
        stdout=subprocess.DEVNULL,
        stderr=(workdir / f"locust-{name}.log").open("wb"),
    )

    def until(t: float) -> None:
        try:
            locust.wait(timeout=max(0.0, t - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            pass

    # CPU of each process over the measured window; py-spy on the web process in its middle.
    started = time.monotonic()
    roles = dict(roles or {})
    profile_s = min(args.profile_s, args.step_s)
    until(ramp_s + LOCUST_START_S)
    if web_pid is not None:
        roles["postgres (this database)"] = _postgres_backends(env["DATABASE_URL"])
    cpu_before = {role: _cpu_s(pids) for role, pids in roles.items()}
    until(ramp_s + LOCUST_START_S + (args.step_s - profile_s) / 2)
    spy_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    if web_pid is not None and profile_s > 0 and locust.poll() is None:
        subprocess.run(
            [
                *(str(Path(sys.executable).with_name("py-spy")), "record"),
                *("--pid", str(web_pid), "--duration", str(int(profile_s))),
                *(
                    "--rate",
                    str(PROFILE_HZ),
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--output",
                    str(profile),
                ),
            ],
            stdout=subprocess.DEVNULL,
            stderr=(workdir / f"py-spy-{name}.log").open("wb"),
        )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    spy_cpu = after.ru_utime + after.ru_stime - spy_cpu.ru_utime - spy_cpu.ru_stime
    until(ramp_s + args.step_s - 1)
    window = time.monotonic() - started - ramp_s - LOCUST_START_S
    cores = {
        role: round((_cpu_s(pids) - cpu_before[role]) / window, 2) for role, pids in roles.items()
    }
    if web_pid is not None:
        cores["py-spy"] = round(spy_cpu / window, 2)
    locust.wait(timeout=args.step_s + 120)
    stats = _stats(prefix)
    held = json.loads(sockets.read_text()) if sockets.exists() else {}
    cores["locust"] = held.pop("locust_cores", None)
    job_s = sorted(held.pop("draft_job_s", []))
    if job_s:  # asked for → the socket said done, as the person saw it
        held["draft_job_p50_s"] = job_s[len(job_s) // 2]
        held["draft_job_max_s"] = job_s[-1]
    errors = (
        stats["failures"]
        + held.get("failed", 0)
        + held.get("closed_by_server", 0)
        + held.get("drafts_failed", 0)
        + held.get("drafts_canceled", 0)
        + held.get("drafts_not_done_in_time", 0)
    )
    step = {
        "people": people,
        "measured_s": args.step_s,
        "rps": stats["rps"],
        "requests": stats["requests"],
        "p50_ms": stats["p50_ms"],
        "p95_ms": stats["p95_ms"],
        "p99_ms": stats["p99_ms"],
        "http_failures": stats["failures"],
        "sockets": held,
        "errors": errors,
        "failure_kinds": _failures(prefix),
        "load_average_before": load_before,
        "load_average_after": _loadavg(),
        "cpu_cores_used": cores,
        # What a request costs the web process, whatever else the machine is doing.
        "web_cpu_ms_per_request": round(cores.get("web", 0) * 1000 / stats["rps"], 1)
        if stats["rps"]
        else None,
        "by_request": stats["by_request"],
    }
    step["within_target"] = (
        errors == 0 and stats["p99_ms"] is not None and stats["p99_ms"] <= P99_TARGET_MS
    )
    return step, profile


def _versus(step: dict, baseline: dict) -> dict:
    """Vivid's latencies over the do-nothing server's, the same people on the same machine."""
    return {
        "people": step["people"],
        **{
            f"ratio_{q}": round(step[f"{q}_ms"] / max(1.0, baseline[f"{q}_ms"] or 1.0), 1)
            for q in ("p50", "p99")
        },
        "rps_share_of_baseline": round(step["rps"] / max(0.1, baseline["rps"]), 2),
    }


# Leaf Python frames below which the work is C: uvloop's loop (sockets, callbacks), and the hand-off
# of each request to a thread of its own for Django's synchronous code and back (asgiref).
_LOOP = "event loop (uvloop, in C: sockets, callbacks)"
_HANDOFF = "thread hand-offs (asgiref's per-request threads waking, waiting for the GIL)"
LEAVES = {
    "Runner.run": _LOOP,
    "EpollSelector.select": _LOOP,
    "_worker": _HANDOFF,
    "Condition.wait": _HANDOFF,
    "Thread._wait_for_tstate_lock": _HANDOFF,
}


PLUMBING = {"threading", "concurrent", "runpy", "<frozen runpy>"}  # on (almost) every stack


def _module(frame: str) -> str:
    """``name (path:line)`` → its package: ``apps.posts``, ``django.db``, ``psycopg``,
    ``asyncio``."""
    path = frame.rpartition(" (")[2].rstrip(")").rpartition(":")[0]
    parts = Path(path).parts
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    elif path.startswith(str(ROOT)):
        parts = Path(path).relative_to(ROOT).parts
    elif "/lib/python3" in path:  # the standard library, when py-spy gives the whole path
        parts = Path(path.split("/lib/python3", 1)[1]).parts[2:]
    if not parts:
        return frame
    if parts[0] in ("apps", "django") and len(parts) > 2:  # apps.posts, django.template
        return f"{parts[0]}.{parts[1]}"
    return parts[0].removesuffix(".py")


def _where(frame: str) -> str:
    """What a leaf frame is doing: a round trip to PostgreSQL or Redis, the event loop, or
    Python code of a module."""
    name = frame.partition(" (")[0]
    module = _module(frame)
    if name in LEAVES:
        return LEAVES[name]
    if module in ("psycopg", "psycopg_pool"):
        return "PostgreSQL: psycopg (queries built, sent, waited for)"
    if module in ("redis", "channels_redis"):
        return "Redis round trips"
    return "Python: " + module


def _profile_summary(path: Path, top: int = 15) -> dict | None:
    """py-spy's raw (collapsed) stacks of the web process (samples of threads py-spy did not see
    idle) → where they were: a round trip, the event loop or which module's Python code, the
    hottest functions, and which of Vivid's functions were on the stack."""
    from collections import Counter

    if not path.exists():
        return None
    self_fn, where, incl_mod, incl_vivid = Counter(), Counter(), Counter(), Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f for f in stack.split(";") if " (" in f]
        if not frames or not count.isdigit():
            continue
        n = int(count)
        total += n
        # Code compiled from a string (psycopg's query splitting) belongs to its caller.
        where[_where(next(f for f in reversed(frames) if not _module(f).startswith("<")))] += n
        self_fn[frames[-1]] += n
        for module in {_module(f) for f in frames} - PLUMBING:
            incl_mod[module] += n
        for frame in {f for f in frames if _module(f).startswith("apps.")}:
            incl_vivid[frame] += n

    def shares(counter: Counter) -> list[dict]:
        return [
            {"where": k, "share": round(n / max(1, total), 3)} for k, n in counter.most_common(top)
        ]

    return {
        "samples": total,
        "where_time_goes": shares(where),
        "self_by_function": shares(self_fn),
        "inclusive_by_module": shares(incl_mod),
        "inclusive_vivid_functions": shares(incl_vivid),
    }


def main() -> None:
    import argparse
    import resource
    import secrets
    import tempfile
    import time

    from apps.core.management.commands.serve import WS_OPTIONS
    from tests.bench.databases import bench_database
    from tests.bench.realtime import Servers, _django, _free_port, _prepare_env, _wait_listening

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default="5,10,20,30,40,60,80,100,150,200,300,400")
    parser.add_argument("--step-s", type=int, default=60, help="measured seconds per step")
    parser.add_argument(
        "--web-processes",
        type=int,
        default=1,
        help="1: manage.py serve as it is; more: its web command with --workers N, its worker",
    )
    parser.add_argument(
        "--no-drafts",
        action="store_true",
        help="nobody generates (what the drafts' rendering on the same cores costs the rest)",
    )
    parser.add_argument("--spawn-rate", type=int, default=50, help="people started a second")
    parser.add_argument("--profile-s", type=int, default=30, help="py-spy seconds per step")
    parser.add_argument(
        "--all-steps", action="store_true", help="go on past the first step over the target"
    )
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("tests/bench/load.py measures PostgreSQL: set DATABASE_URL=postgres://...")
    steps = [int(s) for s in args.steps.split(",")]
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = time.monotonic()
    load_start = _loadavg()
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="vivid-bench-load-") as tmp:
        workdir = Path(tmp)
        # _prepare_env makes a database of its own for a PostgreSQL URL; this bench's is kept
        # between runs (seeding takes minutes), so it is given none and named afterwards.
        os.environ["DATABASE_URL"] = ""
        try:
            env, valkey = _prepare_env(workdir)
        finally:
            os.environ["DATABASE_URL"] = base
        env.update(
            DATABASE_URL=bench_database(base, "load"),
            DJANGO_ENV="production",
            SECRET_KEY=secrets.token_urlsafe(40),
            ALLOWED_HOSTS="127.0.0.1",
            SECURE_SSL_REDIRECT="0",  # plain http on loopback; requests say https as nginx does
            STATIC_ROOT=str(workdir / "static"),
        )
        env[FIXTURE_ENV] = str(workdir / "fixture.json")
        env[DRAFTS_ENV] = "0" if args.no_drafts else "1"
        servers = Servers(env, workdir)
        try:
            _django(env)
            from django.contrib.auth import get_user_model
            from django.core.management import call_command

            if not get_user_model().objects.exists():
                call_command("seed", scale="medium", stdout=sys.stderr)
            call_command("collectstatic", interactive=False, verbosity=0)
            fixture = _fixture(max(steps), workdir / "fixture.json")
            port = _free_port()
            if args.web_processes == 1:
                serve = servers.start(
                    "serve",
                    [sys.executable, "manage.py", "serve", "--port", str(port), "--no-migrate"],
                )
                _wait_listening(port, serve, timeout=120)
                web_pid = _web_pid(serve.pid)

                def roles() -> dict[str, list[int]]:
                    return _serve_processes(serve.pid)

                running = [serve]
            else:  # serve's own web and worker commands, the web one with more processes
                from apps.core.management.commands.serve import Command as Serve

                argv = {
                    child.name: child.argv
                    for child in Serve()._children(
                        {"host": "127.0.0.1", "port": port, "no_worker": False, "no_beat": True}
                    )
                }
                web = servers.start("web", [*argv["web"], "--workers", str(args.web_processes)])
                worker = servers.start("worker", argv["worker"])
                _wait_listening(port, web, timeout=120)
                time.sleep(3)  # every web process has started
                web_pids = [
                    pid
                    for pid in _children(web.pid)
                    if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
                ]
                web_pid = web_pids[0]  # py-spy samples one of them

                def roles() -> dict[str, list[int]]:
                    return {
                        "web": [web.pid, *_children(web.pid)],
                        "worker": [worker.pid, *_children(worker.pid)],
                    }

                running = [web, worker]
            _warm(port, fixture)
            time.sleep(3)  # the worker joins the broker
            profiles: dict[int, Path] = {}
            for people in steps:
                step, profiles[people] = _run_step(
                    env, workdir, port, web_pid, people, args, roles=roles()
                )
                summary = _profile_summary(profiles[people], top=6)
                step["profile_where"] = summary and summary["where_time_goes"]
                results.append(step)
                print(
                    json.dumps({k: v for k, v in step.items() if k != "by_request"}),
                    file=sys.stderr,
                )
                if not step["within_target"] and not args.all_steps:
                    break
            passing = [s for s in results if s["within_target"]]
            best = max(passing, key=lambda s: s["rps"]) if passing else None
            profile = _profile_summary(profiles[(best or results[0])["people"]])
            # The baseline: as many people against a server that does nothing, in this run.
            for proc in running:
                servers.stop(proc)
            people = (best or results[0])["people"]
            bare_port = _free_port()
            bare = servers.start(
                "bare",
                [
                    *(sys.executable, "-m", "uvicorn", "tests.bench.load:bare_app"),
                    *("--host", "127.0.0.1", "--port", str(bare_port)),
                    *("--ws", "websockets-sansio", *WS_OPTIONS, "--lifespan", "off"),
                ],
            )
            _wait_listening(bare_port, bare)
            baseline, _ = _run_step(
                env, workdir, bare_port, None, people, args, name="bare", roles={"web": [bare.pid]}
            )
            baseline.pop("by_request")
            servers.stop(bare)
        finally:
            servers.stop()
            if os.environ.get("BENCH_LOGS"):
                import shutil

                for log in [*workdir.glob("*.log"), *workdir.glob("profile-*.txt")]:
                    shutil.copy(log, os.environ["BENCH_LOGS"])
            if valkey is not None:
                valkey.stop()
    import platform

    print(
        json.dumps(
            {
                "benchmark": "load",
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "load_average_start": load_start,
                "load_average_end": _loadavg(),
                "servers": "manage.py serve: 1 uvicorn web process, 1 Celery worker (2), beat"
                if args.web_processes == 1
                else f"uvicorn --workers {args.web_processes} and a Celery worker (2), as serve "
                "starts them; py-spy samples one web process",
                "drafts": not args.no_drafts,
                "p99_target_ms": P99_TARGET_MS,
                "capacity": None
                if best is None
                else {
                    "rps": best["rps"],
                    "people": best["people"],
                    "sockets_held": best["sockets"].get("open_at_end"),
                    "p50_ms": best["p50_ms"],
                    "p99_ms": best["p99_ms"],
                    "errors": best["errors"],
                    "web_cpu_ms_per_request": best["web_cpu_ms_per_request"],
                },
                # The most served in any step, whatever the latency: where the machine saturates.
                "peak_rps": max(s["rps"] for s in results),
                "profile_at_capacity": profile,
                "baseline_bare_server": baseline,
                "vs_baseline": _versus(best or results[0], baseline),
                "steps": results,
                "wall_s": round(time.monotonic() - started, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
elif "locust" in sys.modules:  # imported by Locust as its locustfile
    import itertools
    import random
    import threading
    import time

    import gevent
    import gevent.event
    from locust import FastHttpUser, between, events, task
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect as ws_connect

    FIXTURE = json.loads(Path(os.environ[FIXTURE_ENV]).read_text())
    _next_person = itertools.count()
    SOCKETS = {"opened": 0, "failed": 0, "open": 0, "max_open": 0, "frames_received": 0}
    SOCKETS["closed_by_server"] = 0
    _lock = threading.Lock()

    def _cpu() -> tuple[float, float]:
        import resource
        import time

        usage = resource.getrusage(resource.RUSAGE_SELF)
        return time.monotonic(), usage.ru_utime + usage.ru_stime

    @events.spawning_complete.add_listener
    def _window_starts(**_kwargs) -> None:
        SOCKETS["_start"] = _cpu()

    @events.test_stopping.add_listener
    def _window_ends(**_kwargs) -> None:
        SOCKETS["open_at_end"] = SOCKETS["open"]  # before the people leave and close theirs
        (t0, cpu0), (t1, cpu1) = SOCKETS.pop("_start", _cpu()), _cpu()
        SOCKETS["locust_cores"] = round((cpu1 - cpu0) / max(1.0, t1 - t0), 2)

    @events.test_stop.add_listener
    def _report_sockets(**_kwargs) -> None:
        path = os.environ.get(SOCKET_REPORT_ENV)
        if path:
            Path(path).write_text(json.dumps(SOCKETS))

    class Person(FastHttpUser):
        """Someone with the site open: a live socket, and a click every few seconds."""

        wait_time = between(*THINK_S)

        def on_start(self) -> None:
            me = FIXTURE["people"][next(_next_person) % len(FIXTURE["people"])]
            self.username = me["username"]
            self.api = {"Authorization": f"Bearer {me['token']}", "X-Forwarded-Proto": "https"}
            self.pages = {
                "Cookie": f"{FIXTURE['session_cookie']}={me['session']}",
                "X-Forwarded-Proto": "https",
            }
            self.seen_posts = random.sample(FIXTURE["posts"], 20)
            self.jobs_done: dict[str, str] = {}  # job id → final status, from the socket
            self.job_event = gevent.event.Event()
            self.ws = None
            self.reader = None
            self._open_socket(me["token"])

        def on_stop(self) -> None:
            if self.ws is not None:
                ws, self.ws = self.ws, None
                ws.close()
                with _lock:
                    SOCKETS["open"] -= 1
            if self.reader is not None:
                self.reader.join(timeout=5)

        # --- the socket ---------------------------------------------------------------------

        def _open_socket(self, token: str) -> None:
            url = self.host.replace("http", "ws", 1) + "/ws/"
            try:
                ws = ws_connect(
                    url,
                    additional_headers={"Authorization": f"Bearer {token}"},
                    open_timeout=15,
                    ping_interval=None,  # the page pings with a frame of its own
                    max_queue=None,
                )
                ws.send(json.dumps({"type": "subscribe", "streams": ["home", "notifications"]}))
                while '"subscribed"' not in ws.recv(timeout=15):
                    pass
            except Exception:
                with _lock:
                    SOCKETS["failed"] += 1
                return
            self.ws = ws
            with _lock:
                SOCKETS["opened"] += 1
                SOCKETS["open"] += 1
                SOCKETS["max_open"] = max(SOCKETS["max_open"], SOCKETS["open"])
            self.reader = gevent.spawn(self._read, ws)

        def _read(self, ws) -> None:
            while True:
                try:
                    text = ws.recv(timeout=PING_EVERY_S)
                    SOCKETS["frames_received"] += 1
                    if '"generation.updated"' in text:
                        job = json.loads(text).get("job") or {}
                        if job.get("status") in ("succeeded", "failed", "canceled"):
                            self.jobs_done[str(job.get("id"))] = job["status"]
                            self.job_event.set()
                except TimeoutError:
                    try:
                        ws.send('{"type":"ping"}')
                    except ConnectionClosed:
                        break
                except ConnectionClosed:
                    break
            if self.ws is ws:  # not closed by on_stop: the server closed it
                self.ws = None
                with _lock:
                    SOCKETS["open"] -= 1
                    SOCKETS["closed_by_server"] += 1

        # --- reading ------------------------------------------------------------------------

        def _remember(self, response) -> None:
            try:
                items = response.json()["items"]
            except Exception:
                return
            for item in items[:5]:
                self.seen_posts.append(item["id"])
            del self.seen_posts[:-40]

        def _post(self) -> str:
            return random.choice(self.seen_posts)

        def _someone(self) -> str:
            while (name := random.choice(FIXTURE["usernames"])) == self.username:
                pass
            return name

        @task(12)
        def home_api(self) -> None:
            with self.client.get(
                "/api/v1/feed/home?limit=20", headers=self.api, catch_response=True
            ) as r:
                self._remember(r)

        @task(8)
        def public_api(self) -> None:
            with self.client.get(
                "/api/v1/feed/public?limit=20", headers=self.api, catch_response=True
            ) as r:
                self._remember(r)

        @task(8)
        def home_page(self) -> None:
            self.client.get("/", headers=self.pages, name="/ (home)")

        @task(5)
        def public_page(self) -> None:
            self.client.get("/?tab=public", headers=self.pages, name="/?tab=public")

        @task(6)
        def post_api(self) -> None:
            post = self._post()
            self.client.get(f"/api/v1/posts/{post}", headers=self.api, name="/api/v1/posts/[id]")
            self.client.get(
                f"/api/v1/posts/{post}/comments",
                headers=self.api,
                name="/api/v1/posts/[id]/comments",
            )

        @task(6)
        def post_page(self) -> None:
            self.client.get(f"/p/{self._post()}", headers=self.pages, name="/p/[id]")

        @task(4)
        def profile_api(self) -> None:
            name = self._someone()
            self.client.get(f"/api/v1/users/{name}", headers=self.api, name="/api/v1/users/[u]")
            self.client.get(
                f"/api/v1/users/{name}/posts?limit=20",
                headers=self.api,
                name="/api/v1/users/[u]/posts",
            )

        @task(4)
        def profile_page(self) -> None:
            self.client.get(f"/u/{self._someone()}", headers=self.pages, name="/u/[u]")

        # --- writing ------------------------------------------------------------------------

        @task(4)
        def react(self) -> None:
            self.client.post(
                f"/api/v1/posts/{self._post()}/reactions",
                json={"kind": random.choice(REACTIONS)},
                headers=self.api,
                name="/api/v1/posts/[id]/reactions",
            )

        @task(2)
        def comment(self) -> None:
            self.client.post(
                f"/api/v1/posts/{self._post()}/comments",
                json={"body": random.choice(COMMENTS)},
                headers=self.api,
                name="/api/v1/posts/[id]/comments",
            )

        @task(1)
        def follow(self) -> None:
            self.client.post(
                f"/api/v1/users/{self._someone()}/follow",
                headers=self.api,
                name="/api/v1/users/[u]/follow",
            )

        @task(1)
        def create(self) -> None:
            """Four drafts, then as on the Create page: wait for the socket to say the job is
            done, fetch it and publish one of its images."""
            r = self.client.post(
                "/api/v1/generations",
                json={
                    "kind": "image",
                    "prompt": random.choice(PROMPTS),
                    "quality": "draft",
                    "count": 4,
                },
                headers=self.api,
            )
            if r.status_code != 202 or self.ws is None:
                return
            job_id, asked = str(r.json()["id"]), time.monotonic()
            while job_id not in self.jobs_done and time.monotonic() - asked < JOB_WAIT_S:
                self.job_event.clear()
                self.job_event.wait(timeout=1.0)
            status = self.jobs_done.pop(job_id, None)
            with _lock:
                SOCKETS["drafts_" + (status or "not_done_in_time")] = (
                    SOCKETS.get("drafts_" + (status or "not_done_in_time"), 0) + 1
                )
                if status == "succeeded":
                    SOCKETS.setdefault("draft_job_s", []).append(round(time.monotonic() - asked, 2))
            if status != "succeeded":
                return
            job = self.client.get(
                f"/api/v1/generations/{job_id}", headers=self.api, name="/api/v1/generations/[id]"
            ).json()
            self.client.post(
                "/api/v1/posts",
                json={
                    "asset_id": job["assets"][0]["id"],
                    "caption": "Fresh from the drafts #landscape",
                    "visibility": "public",
                },
                headers=self.api,
            )

    if os.environ.get(DRAFTS_ENV) == "0":  # --no-drafts: the same people, nobody generating
        Person.tasks = [t for t in Person.tasks if t is not Person.create]
