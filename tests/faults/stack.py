"""The processes of platform/Procfile, started for a fault test: web servers, a worker, beat.

They share the test database and a Redis the test owns (``PrivateRedis``), and use either that
Redis or RabbitMQ (a virtual host made for the run, deleted after) as the Celery broker.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from apps.core.management.commands.serve import QUEUES, WS_OPTIONS
from tests.processes import ROOT, free_port, process_env

RABBITMQ = ("127.0.0.1", 5672)


class RabbitVhost:
    """A RabbitMQ virtual host of this run (so runs on one server never share queues)."""

    def __init__(self) -> None:
        try:
            with socket.create_connection(RABBITMQ, timeout=2):
                pass
        except OSError as e:
            pytest.fail(f"RabbitMQ does not answer on {RABBITMQ[0]}:{RABBITMQ[1]}: {e}")
        if shutil.which("rabbitmqctl") is None:
            pytest.fail("rabbitmqctl is not installed (needed to make the run's vhost)")
        self.name = f"vivid-fault-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._ctl("add_vhost", self.name)
        self._ctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@{RABBITMQ[0]}:{RABBITMQ[1]}/{self.name}"

    @staticmethod
    def _ctl(*args: str) -> None:
        subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)

    def delete(self) -> None:
        try:
            self._ctl("delete_vhost", self.name)
        except (subprocess.SubprocessError, OSError):
            pass


class Stack:
    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.processes: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}

    def start(self, name: str, argv: list[str], **extra: str) -> subprocess.Popen:
        with (self.tmp_path / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, *argv],
                cwd=ROOT,
                env=process_env(**self.env, DB_APPLICATION_NAME=f"fault-{name}", **extra),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes[name] = process
        return process

    def web(self, name: str) -> None:
        port = self.ports[name] = free_port()
        self.start(
            name,
            [
                *("-m", "uvicorn", "apps.config.asgi:application", "--host", "127.0.0.1"),
                *("--port", str(port), "--ws", "websockets-sansio", "--lifespan", "off"),
                *WS_OPTIONS,
            ],
        )

    def worker(self, name: str = "worker") -> None:
        self.start(
            name,
            [
                *("-m", "celery", "-A", "apps.config.celery:app", "worker"),
                *("-Q", ",".join(QUEUES), "--concurrency", "2", "--loglevel", "INFO"),
                *("--hostname", f"{name}-{uuid.uuid4().hex[:6]}@localhost"),
            ],
        )

    def beat(self, name: str = "beat") -> None:
        self.start(
            name,
            [
                *("-m", "celery", "-A", "apps.config.celery:app", "beat", "--loglevel", "INFO"),
                *("--schedule", str(self.tmp_path / "celerybeat-schedule")),
            ],
        )

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def ws_url(self, name: str) -> str:
        return f"ws://127.0.0.1:{self.ports[name]}/ws/"

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")

    def logs(self, tail: int = 3000) -> str:
        return "\n".join(f"--- {name} ---\n{self.log(name)[-tail:]}" for name in self.processes)

    def wait_web(self, name: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                pytest.fail(f"{name} exited\n{self.logs()}", pytrace=False)
            try:
                with socket.create_connection(("127.0.0.1", self.ports[name]), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"{name} did not listen\n{self.logs()}", pytrace=False)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def http(
    method: str, url: str, token: str, body: Any = None, headers: dict | None = None
) -> tuple[int, Any, dict]:
    """(status, JSON body or raw text, headers); connection failures come back as status 0."""
    request = urllib.request.Request(
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token}",
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None, dict(response.headers)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            parsed = raw.decode(errors="replace")
        return e.code, parsed, dict(e.headers)
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e), {}


class Follower(threading.Thread):
    """A follower's page: one socket on ``home``, reconnecting the way frontend/static/js/live.js
    does (at once after 1012, with backoff otherwise), recording when each post arrived."""

    def __init__(self, name: str, ws_url: str, token: str) -> None:
        super().__init__(name=name, daemon=True)
        self.ws_url = ws_url
        self.token = token
        self.received: dict[str, float] = {}
        self.closes: list[int | None] = []
        # (subscribed at, closed at or None): when this page could receive anything live.
        self.connections: list[tuple[float, float | None]] = []
        self.connected = threading.Event()
        self.stopping = threading.Event()

    def run(self) -> None:
        attempt = 0
        while not self.stopping.is_set():
            code: int | None = None
            try:
                with ws_connect(
                    self.ws_url,
                    additional_headers={"Authorization": f"Bearer {self.token}"},
                    open_timeout=5,
                ) as ws:
                    ws.send(json.dumps({"type": "subscribe", "streams": ["home"]}))
                    while json.loads(ws.recv(timeout=10))["type"] != "subscribed":
                        pass
                    attempt = 0
                    self.connections.append((time.monotonic(), None))
                    self.connected.set()
                    while not self.stopping.is_set():
                        try:
                            event = json.loads(ws.recv(timeout=0.5))
                        except TimeoutError:
                            continue
                        if event.get("type") == "post.created":
                            self.received.setdefault(event["post"]["id"], time.monotonic())
            except ConnectionClosed as e:
                code = e.rcvd.code if e.rcvd is not None else None
            except (OSError, TimeoutError, ValueError) as e:
                code = getattr(e, "status_code", None)
            except Exception:  # the handshake refused (e.g. 500 while Redis is away)
                code = None
            self.connected.clear()
            if self.connections and self.connections[-1][1] is None:
                self.connections[-1] = (self.connections[-1][0], time.monotonic())
            if self.stopping.is_set():
                return
            self.closes.append(code)
            if code == 1012:
                delay = 0.25
            else:
                attempt += 1
                delay = min(5.0, 0.25 * 2 ** (attempt - 1))
            self.stopping.wait(delay)

    def connected_at(self, at: float) -> bool:
        """Whether the page had a subscribed socket at ``at``."""
        return any(start <= at and (end is None or at < end) for start, end in self.connections)
