"""Browser tests: real server processes (uvicorn, a Celery worker) on the test database, driven by
Debian's Chromium through Playwright's sync API.

``live_stack`` starts the processes for one test on a free port with the test database, the run's
Redis key prefixes and a media directory of the test's own; their output goes to files in the
test's tmp_path and shows in the report of a failed test, with the pages' errors.
``browser_page`` opens a page in a fresh browser context (its own cookies: one per person).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.processes import free_port, process_env

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("VIVID_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
UVICORN = "-m uvicorn apps.config.asgi:application --host 127.0.0.1 --ws websockets --lifespan off"
WORKER = (
    "-m celery -A apps.config.celery:app worker -Q generation,media,feed,default"
    " --pool threads --concurrency 2 --loglevel WARNING"
    " --without-heartbeat --without-mingle --without-gossip"
)
UVICORN, WORKER = UVICORN.split(), WORKER.split()
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


# --- the server processes -------------------------------------------------------------------


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def output(self, limit: int = 12_000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text if len(text) <= limit else "…" + text[-limit:]

    def stop(self, timeout: float = 15) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)


@dataclass
class LiveStack:
    """The running site: ``url`` is its origin (http://127.0.0.1:<port>)."""

    url: str
    processes: list[Process] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/ws/"

    def logs(self) -> str:
        parts = []
        for p in self.processes:
            state = "running" if p.popen.poll() is None else f"exited {p.popen.returncode}"
            parts.append(f"----- {p.name} ({state}), {p.log} -----\n{p.output()}")
        return "\n".join(parts)

    def check_alive(self) -> None:
        dead = [p.name for p in self.processes if p.popen.poll() is not None]
        if dead:
            pytest.fail(f"{', '.join(dead)} exited early.\n{self.logs()}", pytrace=False)


def _server_env(media_root: Path) -> dict[str, str]:
    env = process_env(MEDIA_ROOT=str(media_root))
    if "ALLOWED_HOSTS" in env and "127.0.0.1" not in env["ALLOWED_HOSTS"].split(","):
        env["ALLOWED_HOSTS"] += ",127.0.0.1"
    return env


def _start(name: str, args: list[str], env: dict[str, str], log: Path) -> Process:
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Process(name, popen, log)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _start_web(env: dict[str, str], tmp_path: Path) -> tuple[Process, str]:
    """uvicorn on a free port; another process may take the port first, so try a few."""
    for attempt in range(3):
        port = free_port()
        web = _start(
            "uvicorn", [*UVICORN, "--port", str(port)], env, tmp_path / f"uvicorn-{attempt}.log"
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while web.popen.poll() is None and time.monotonic() < deadline:
            if _answers(f"{url}/login"):
                return web, url
            time.sleep(0.1)
        if web.popen.poll() is None:  # running but silent for 30 s
            web.stop()
            pytest.fail(f"uvicorn did not answer on {url}.\n{web.output()}", pytrace=False)
        if "address already in use" not in web.output().lower():
            pytest.fail(
                f"uvicorn exited with {web.popen.returncode}.\n{web.output()}", pytrace=False
            )
    pytest.fail("uvicorn found no free port in 3 tries.", pytrace=False)


def _wait_for_worker(stack: LiveStack, name: str, timeout: float = 30) -> None:
    from apps.config.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check_alive()
        if app.control.inspect(destination=[name], timeout=0.5).ping():
            return
    pytest.fail(f"The Celery worker did not answer a ping.\n{stack.logs()}", pytrace=False)


@pytest.fixture
def live_stack(transactional_db, tmp_path) -> Iterator[LiveStack]:
    """uvicorn and a Celery worker on the test database, until the end of the test."""
    media = tmp_path / "media"
    media.mkdir(exist_ok=True)
    env = _server_env(media)
    name = f"e2e-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    worker = _start("celery worker", [*WORKER, "--hostname", name], env, tmp_path / "celery.log")
    stack = LiveStack(url="", processes=[worker])
    try:
        web, stack.url = _start_web(env, tmp_path)
        stack.processes.insert(0, web)
        _wait_for_worker(stack, name)
        yield stack
    finally:
        for process in stack.processes:
            process.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test shows what the servers logged and what went wrong in the pages."""
    report = yield
    if report.failed and report.when == "call":
        stack = item.funcargs.get("live_stack")
        if isinstance(stack, LiveStack):
            report.sections.append(("server output", stack.logs()))
        opener = item.funcargs.get("browser_page")
        for name, seen in getattr(opener, "problems", {}).items():
            if seen.errors or seen.console:
                text = "\n".join([*seen.errors, *seen.console])
                report.sections.append((f"page {name}: errors", text))
    return report


# --- the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module's tests; each person gets their own context."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium, or VIVID_CHROMIUM)."
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running on this thread, so Django takes every
    # database call made here (the test database flush after each test) for one made from async
    # code. Nothing in this process is async while the browser runs: let Django through.
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield browser
            finally:
                browser.close()
    finally:
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


@dataclass
class PageProblems:
    """Uncaught page errors and console errors, to show when a test fails."""

    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


@pytest.fixture
def browser_page(browser, live_stack) -> Iterator[Callable[..., object]]:
    """``browser_page(name, **context_options)``: a page in a new context, on the live site.

    Contexts close before the servers stop. ``browser_page.problems[name]`` holds what went wrong
    inside the page, and is printed if the test fails.
    """
    from playwright.sync_api import expect

    expect.set_options(timeout=15_000)
    contexts = []
    problems: dict[str, PageProblems] = {}

    def open_page(name: str, **options):
        context = browser.new_context(base_url=live_stack.url, **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        seen = problems.setdefault(name, PageProblems())
        page.on("pageerror", lambda error: seen.errors.append(str(error)))
        page.on(
            "console",
            lambda msg: seen.console.append(msg.text) if msg.type == "error" else None,
        )
        return page

    open_page.problems = problems
    yield open_page
    for context in contexts:
        context.close()
