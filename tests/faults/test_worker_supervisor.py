"""``manage.py serve`` starts again a worker that died, instead of stopping everything."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.processes import ROOT, free_port, process_env

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.fault(timeout=120)
def test_serve_starts_a_killed_worker_again_and_keeps_the_site_up(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable, "manage.py", "serve", "--no-migrate", "--no-demo", "--no-beat",
            "--port", str(port),
        ],
        cwd=ROOT,
        env=process_env(VIVID_VAR_DIR=str(tmp_path / "var"), NO_COLOR="1"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for raw in iter(process.stdout.readline, b""):
            lines.append(raw.decode(errors="replace"))

    threading.Thread(target=read, daemon=True).start()

    def wait_line(pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(lines):
                if match := re.search(pattern, line):
                    return match
            if process.poll() is not None:
                break
            time.sleep(0.1)
        pytest.fail(f"no line matching {pattern!r}:\n{''.join(lines)}", pytrace=False)

    try:
        wait_line(r"Vivid is up at", 60)
        pid = int(wait_line(r"worker started \(pid (\d+)\)", 5).group(1))
        wait_line(r"celery@\S+ ready", 60)

        os.kill(pid, signal.SIGKILL)

        wait_line(r"worker exited \(ended by SIGKILL\)", 10)
        again = int(wait_line(r"worker started again \(pid (\d+)\)", 10).group(1))
        assert again != pid
        assert process.poll() is None, "serve stopped with its worker"
        # The new worker comes up and the web server never went away.
        deadline = time.monotonic() + 60
        while sum("ready." in line for line in lines) < 2:
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.2)
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.mark.fault(timeout=150)
def test_serve_restarts_a_worker_that_is_alive_but_consumes_nothing(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable, "manage.py", "serve", "--no-migrate", "--no-demo", "--no-beat",
            "--port", str(port),
        ],
        cwd=ROOT,
        env=process_env(
            VIVID_VAR_DIR=str(tmp_path / "var"), NO_COLOR="1", SERVE_LIVENESS_EVERY_S="1",
            SERVE_WORKER_GRACE_S="1", SERVE_WORKER_STALE_S="5",
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for raw in iter(process.stdout.readline, b""):
            lines.append(raw.decode(errors="replace"))

    threading.Thread(target=read, daemon=True).start()

    def wait_line(pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(lines):
                if match := re.search(pattern, line):
                    return match
            if process.poll() is not None:
                break
            time.sleep(0.1)
        pytest.fail(f"no line matching {pattern!r}:\n{''.join(lines)}", pytrace=False)

    try:
        pid = int(wait_line(r"worker started \(pid (\d+)\)", 60).group(1))
        wait_line(r"celery@\S+ ready", 60)
        wait_line(r"worker consumes \(it took a heartbeat\)", 60)
        time.sleep(6)  # more heartbeats, all taken
        assert not any("took no heartbeat" in line for line in lines), "".join(lines)

        # Frozen: alive (no exit code to notice) and consuming nothing.
        os.killpg(pid, signal.SIGSTOP)

        wait_line(r"worker took no heartbeat within 5 s although the broker did", 40)
        again = int(wait_line(r"worker started again \(pid (\d+)\)", 40).group(1))
        assert again != pid and process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
