"""Hostile uploads against a real web server process (uvicorn, as in production).

- The whole corpus of ``tests/media/hostile.py`` through ``PUT /api/v1/me/avatar``: never a 5xx,
  every refusal in the error shape, nothing left behind, and the web process holds at most
  50 MiB more afterwards than before (it decodes nothing itself).
- Bodies over the cap are answered 413 from their Content-Length before they are read (a
  declared 2 GiB body at once), chunked ones are cut off at the cap, and Django's own limits
  (too many fields or files, a big text field) answer in the error shape.
- A flood: one person sends 8 scan bombs at once while three others upload ordinary pictures,
  which all succeed within 5 s.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings

from apps.accounts import services as account_services
from apps.media.models import Asset
from tests.media import hostile
from tests.processes import ROOT, free_port, process_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.fault]
AVATAR = "/api/v1/me/avatar"


class Server:
    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.log = tmp_path / "web.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "uvicorn", "apps.config.asgi:application"),
                    *("--host", "127.0.0.1", "--port", str(self.port), "--lifespan", "off"),
                    "--no-access-log",
                ],
                cwd=ROOT,
                env=process_env(DEBUG="0"),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited:\n{self.logs()}", pytrace=False)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the server did not listen:\n{self.logs()}", pytrace=False)
                time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def server(django_db_setup, tmp_path_factory):
    """One web process for the module (on the test database, which outlives each test)."""
    running = Server(tmp_path_factory.mktemp("web"))
    try:
        yield running
    finally:
        running.stop()


def _person(name: str, address: str) -> dict[str, str]:
    user = account_services.user_create(
        username=name, email=f"{name}@example.com", password="correct horse battery 9"
    )
    _, raw = account_services.token_create(user=user)
    return {"Authorization": f"Bearer {raw}", "X-Forwarded-For": address}


def _upload(server: Server, who: dict[str, str], item: hostile.Hostile, timeout=30):
    return requests.put(
        server.url + AVATAR,
        files={"file": (item.filename, item.data, item.content_type)},
        headers=who,
        timeout=timeout,
    )


def _files() -> set[Path]:
    root = Path(settings.MEDIA_ROOT) / "originals"
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def _ordinary(seed: int) -> hostile.Hostile:
    return hostile.Hostile(
        "jpeg", hostile.encode(hostile.photo((320, 240), seed=seed), "JPEG"), "x.jpg", "image/jpeg"
    )


def _raw(server: Server, head: bytes, body=(), timeout: float = 10) -> tuple[int, bytes, float]:
    """Send a request by hand; returns (status, body, seconds until the answer was complete)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as s:
        s.sendall(head)
        try:
            for part in body:
                s.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed while we were still sending
        received = b""
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                received += data
        except (ConnectionResetError, TimeoutError):
            pass
    took = time.monotonic() - started
    status = int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/") else 0
    return status, received.partition(b"\r\n\r\n")[2], took


def _assert_error_shape(response, code: str) -> None:
    body = response.json()
    assert body["error"]["code"] == code and body["error"]["message"], body


def test_the_corpus_against_a_real_server_process(server):
    mallory = _person("mallory", "10.0.0.66")
    for seed in range(3):  # warm up: imports, the decoder children
        assert _upload(server, mallory, _ordinary(seed)).status_code == 200
    rss_before = server.rss_mib()

    failures = {}
    for item in hostile.corpus():
        before_files, before_assets = _files(), Asset.objects.count()
        response = _upload(server, mallory, item)
        status = response.status_code
        if status >= 500 or status not in item.expect:
            failures[item.name] = f"{status}: {response.text[:200]}"
        elif status != 200:
            error = response.json().get("error", {})
            if not (error.get("code") and error.get("message")):
                failures[item.name] = f"not the error shape: {response.text[:200]}"
            if _files() - before_files or Asset.objects.count() != before_assets:
                failures[item.name] = "a refusal left a file or a row behind"
    assert not failures, f"{failures}\n{server.logs()}"

    rss_after = server.rss_mib()
    print(f"web process RSS: {rss_before:.0f} MiB before the corpus, {rss_after:.0f} MiB after")
    assert rss_after - rss_before <= 50, (rss_before, rss_after)


def test_bodies_over_the_cap_are_refused_before_they_are_read(server):
    who = _person("big", "10.0.0.7")
    auth = who["Authorization"].encode()

    def head(length: str, path: str = AVATAR) -> bytes:
        return (
            f"PUT {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode()
            + b"Authorization: "
            + auth
            + b"\r\nContent-Type: multipart/form-data; boundary=zz\r\n"
            + length.encode()
            + b"\r\n\r\n"
        )

    # A declared 2 GiB body: answered at once, without a byte of it sent.
    status, body, took = _raw(server, head(f"Content-Length: {2 * 1024**3}"))
    assert status == 413 and b'"payload_too_large"' in body and took < 3

    # 50 MiB declared, 1 MiB sent: answered without waiting for the rest.
    status, body, took = _raw(
        server, head(f"Content-Length: {50 * 1024**2}"), [b"x" * 1024**2], timeout=10
    )
    assert status == 413 and b'"payload_too_large"' in body and took < 5

    # Chunked, no length: cut off once past the avatar's cap (5 MiB and the envelope).
    piece = b"y" * 256 * 1024
    chunks = [f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for _ in range(40)] + [b"0\r\n\r\n"]
    status, body, took = _raw(server, head("Transfer-Encoding: chunked"), chunks, timeout=20)
    assert status == 413 and b'"payload_too_large"' in body

    # Django's own limits, in the error shape.
    picture = ("x.png", hostile.encode(hostile.photo((32, 32)), "PNG"), "image/png")
    many_fields = {f"f{i}": "v" for i in range(1500)}
    response = requests.put(
        server.url + AVATAR, data=many_fields, files={"file": picture}, headers=who, timeout=30
    )
    assert response.status_code == 400, response.text
    _assert_error_shape(response, "invalid")

    many_files = [("file", picture)] * 150
    response = requests.put(server.url + AVATAR, files=many_files, headers=who, timeout=30)
    assert response.status_code == 400, response.text
    _assert_error_shape(response, "invalid")

    big_text = {"note": "z" * (3 * 1024 * 1024)}
    response = requests.put(
        server.url + AVATAR, data=big_text, files={"file": picture}, headers=who, timeout=30
    )
    assert response.status_code == 413, response.text
    _assert_error_shape(response, "payload_too_large")

    assert not Asset.objects.exists() and not _files()
    # And the server still answers ordinary uploads.
    assert _upload(server, who, _ordinary(1)).status_code == 200


def test_a_flood_of_scan_bombs_does_not_hold_up_anyone_else(server):
    mallory = _person("mallory", "10.0.0.66")
    others = [_person(f"person{i}", f"10.0.1.{i}") for i in range(3)]
    assert _upload(server, others[0], _ordinary(0)).status_code == 200  # warm up
    bombs = [
        # refused by the scan cap
        hostile.Hostile("scan bomb", hostile.jpeg_scan_bomb(4096, 5000), "x.jpg", "image/jpeg"),
        # under the cap, but the most a 4096² picture of 99 scans costs
        hostile.Hostile("99 scans", hostile.jpeg_scan_bomb(4096, 99), "x.jpg", "image/jpeg"),
    ] * 4
    bomb_answers: list[tuple[int, float]] = []
    ordinary_answers: list[tuple[int, float]] = []

    def send(who, items, into) -> None:
        for item in items:
            started = time.monotonic()
            try:
                status = _upload(server, who, item, timeout=30).status_code
            except requests.RequestException:
                status = 0
            into.append((status, round(time.monotonic() - started, 2)))

    flood = [threading.Thread(target=send, args=(mallory, [b], bomb_answers)) for b in bombs]
    for t in flood:
        t.start()
    ordinary = [
        threading.Thread(
            target=send, args=(who, [_ordinary(10 + i), _ordinary(20 + i)], ordinary_answers)
        )
        for i, who in enumerate(others)
    ]
    for t in ordinary:
        t.start()
    for t in flood + ordinary:
        t.join(60)

    print(f"bombs: {sorted(bomb_answers)}\nordinary: {sorted(ordinary_answers)}")
    assert len(bomb_answers) == 8 and all(s in (200, 400, 429) for s, _ in bomb_answers)
    assert len(ordinary_answers) == 6
    assert all(s == 200 and took <= 5.0 for s, took in ordinary_answers), ordinary_answers
