"""Rate limits: each lets through exactly its configured number per window, then answers 429
``rate_limited`` with ``Retry-After`` in the API's error shape (or a 429 page on the site, or a
socket closed with 4030). Unknown and known usernames get the same answers.

Each test sets small limits through the settings fixture; counters are the test's own
(tests/conftest.py gives each test its own key prefix)."""

from __future__ import annotations

import statistics
import time

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import Client
from rest_framework.test import APIClient

from apps.config.asgi import application
from apps.realtime.limits import CLOSE_CONNECT_RATE
from tests.realtime.sockets import closed_with

PASSWORD = "correct horse battery 9"


class MeasurableHasher(PBKDF2PasswordHasher):
    """A real key-stretching hasher, made cheap enough for a test to time many log-ins; it
    counts the keys it stretches."""

    iterations = 20_000
    stretched = 0

    def encode(self, password, salt, iterations=None):
        MeasurableHasher.stretched += 1
        return super().encode(password, salt, iterations)


def limits(settings, **rates: str) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, **rates}


def token_login(client: APIClient, username: str, password: str):
    return client.post(
        "/api/v1/auth/tokens", {"username": username, "password": password}, format="json"
    )


def let_through(responses, refused_status: int = 429) -> int:
    """How many answers came before the first refusal (all of them if none)."""
    for n, response in enumerate(responses):
        if response.status_code == refused_status:
            return n
    return len(responses)


def assert_rate_limited(response, window_s: int) -> None:
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "rate_limited"
    assert 0 < int(response["Retry-After"]) <= window_s


@pytest.mark.django_db
def test_failed_logins_per_account_stop_at_the_limit_for_known_and_unknown_names(settings, alice):
    limits(settings, login_account="3/15m", login_address="1000/15m")
    client = APIClient()
    known = [token_login(client, "alice", "wrong password") for _ in range(5)]
    unknown = [token_login(client, "nobody-here", "wrong password") for _ in range(5)]

    # 3 failures let through per account against a configured limit of 3, for both names.
    assert let_through(known) == 3
    assert let_through(unknown) == 3
    for a, b in zip(known, unknown, strict=True):  # the same answers, one by one
        assert a.status_code == b.status_code
        assert a.json()["error"]["code"] == b.json()["error"]["code"]
        assert a.json()["error"]["message"] == b.json()["error"]["message"]
    assert [r.status_code for r in known] == [401, 401, 401, 429, 429]
    assert_rate_limited(known[3], 900)
    # The right password does not get past the limit either (it would confirm a guess).
    assert_rate_limited(token_login(client, "alice", PASSWORD), 900)
    # The name is counted ignoring case, as log-in matches it.
    assert_rate_limited(token_login(client, "ALICE", "wrong password"), 900)
    # Another account is not held up.
    assert token_login(client, "bob", "wrong password").status_code == 401


@pytest.mark.django_db
def test_successful_logins_give_their_slot_back(settings, alice):
    limits(settings, login_account="2/15m", login_address="2/15m")
    client = APIClient()
    answers = [token_login(client, "alice", PASSWORD) for _ in range(6)]
    assert [r.status_code for r in answers] == [201] * 6
    # Failures still count: two let through against a limit of 2.
    failures = [token_login(client, "alice", "nope nope") for _ in range(3)]
    assert [r.status_code for r in failures] == [401, 401, 429]


@pytest.mark.django_db
def test_failed_logins_per_address_stop_at_the_limit(settings, make_user):
    limits(settings, login_account="1000/15m", login_address="4/15m")
    here, elsewhere = APIClient(REMOTE_ADDR="203.0.113.7"), APIClient(REMOTE_ADDR="198.51.100.9")
    answers = [token_login(here, f"name{i}", "wrong password") for i in range(6)]
    assert let_through(answers) == 4  # against a configured 4
    assert_rate_limited(answers[4], 900)
    assert token_login(elsewhere, "name0", "wrong password").status_code == 401
    # An IPv6 client counts by its /64: a new address in the block gains nothing.
    v6 = [
        token_login(APIClient(REMOTE_ADDR=f"2001:db8:1:2::{i}"), "x", "wrong password")
        for i in range(1, 7)
    ]
    assert let_through(v6) == 4


@pytest.mark.django_db
def test_the_site_login_form_is_limited_the_same_way(settings, alice):
    limits(settings, login_account="3/15m", login_address="1000/15m")
    browser = Client()
    answers = [
        browser.post("/login", {"username": "alice", "password": "wrong password"})
        for _ in range(4)
    ]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]  # 3 let through of 3
    assert 0 < int(answers[3]["Retry-After"]) <= 900
    assert b"Too many failed log-ins" in answers[3].content
    # The right password is refused while the limit lasts: no session.
    right = browser.post("/login", {"username": "alice", "password": PASSWORD})
    assert right.status_code == 429
    assert "_auth_user_id" not in browser.session
    # The site and the API share the counter of the account.
    assert_rate_limited(token_login(APIClient(), "alice", "wrong password"), 900)


@pytest.mark.django_db
def test_unknown_and_known_names_take_about_as_long(settings, make_user):
    """Django checks a password for an unknown name too; the limits add nothing telling."""
    settings.PASSWORD_HASHERS = ["tests.accounts.test_rate_limits.MeasurableHasher"]
    limits(settings, login_account="1000/15m", login_address="1000/15m")
    make_user("timed")
    client = APIClient()
    known, unknown = [], []
    stretched = {"timed": 0, "untimed": 0}
    for _ in range(9):  # interleaved, so a change in load touches both alike
        for name, into in (("timed", known), ("untimed", unknown)):
            before = MeasurableHasher.stretched
            # The request's own CPU time (the test client runs it in this thread): what an
            # attacker could tell apart, without the waits other processes on the machine add.
            start = time.thread_time()
            assert token_login(client, name, "wrong password").status_code == 401
            into.append(time.thread_time() - start)
            stretched[name] += MeasurableHasher.stretched - before
    # The same key stretching either way (at least once a log-in) ...
    assert stretched["timed"] == stretched["untimed"] >= 9, stretched
    # ... and nothing else that takes a telling time.
    ratio = statistics.median(unknown) / statistics.median(known)
    print(f"login timing: known {statistics.median(known) * 1000:.1f} ms CPU, ratio {ratio:.2f}")
    assert 0.67 < ratio < 1.5


@pytest.mark.django_db
def test_signups_per_address_stop_at_the_limit(settings):
    limits(settings, signup_address="3/1h")
    client = APIClient(REMOTE_ADDR="203.0.113.20")
    answers = [
        client.post(
            "/api/v1/auth/signup",
            {"username": f"new{i}", "email": f"new{i}@example.com", "password": PASSWORD},
            format="json",
        )
        for i in range(5)
    ]
    assert let_through(answers) == 3  # against a configured 3
    assert [r.status_code for r in answers[:3]] == [201, 201, 201]
    assert_rate_limited(answers[3], 3600)
    # The site's form shares the count of the address.
    page = Client(REMOTE_ADDR="203.0.113.20").post(
        "/signup", {"username": "new9", "email": "new9@example.com", "password": PASSWORD}
    )
    assert page.status_code == 429
    assert 0 < int(page["Retry-After"]) <= 3600
    from apps.accounts.models import User

    assert not User.objects.filter(username__in=["new3", "new4", "new9"]).exists()


@pytest.mark.django_db
def test_writes_per_person_stop_at_the_limit(settings, alice, bob, api, publish, make_asset):
    limits(settings, writes_user="6/1m")
    post = publish(bob)  # bob's own write, not alice's
    client = api(alice)
    url = f"/api/v1/posts/{post['id']}"

    def comment():
        return client.post(f"{url}/comments", {"body": "hi"}, format="json")

    def react(kind):
        return lambda: client.post(f"{url}/reactions", {"kind": kind}, format="json")

    def follow():
        return client.post("/api/v1/users/bob/follow", format="json")

    def publish_own():
        asset = make_asset(alice)
        body = {"asset_id": asset.id, "caption": "mine", "visibility": "public"}
        return client.post("/api/v1/posts", body, format="json")

    writes = [comment, react("like"), follow, publish_own, comment, react("love"), comment, comment]
    answers = [write() for write in writes]
    assert let_through(answers) == 6, [r.status_code for r in answers]  # against 6
    assert all(r.status_code < 400 for r in answers[:6]), [r.content for r in answers[:6]]
    assert_rate_limited(answers[6], 60)
    # Reads go on, and other people write as before.
    assert client.get(f"/api/v1/posts/{post['id']}").status_code == 200
    assert (
        api(bob)
        .post(f"/api/v1/posts/{post['id']}/comments", {"body": "mine"}, format="json")
        .status_code
        == 201
    )


@pytest.mark.django_db
def test_the_site_forms_count_as_writes(settings, alice, bob):
    limits(settings, writes_user="3/1m")
    browser = Client()
    browser.force_login(alice)
    answers = [browser.post("/u/bob/follow", {"action": "follow"}) for _ in range(5)]
    assert let_through(answers) == 3  # against 3
    assert answers[3].status_code == 429
    assert 0 < int(answers[3]["Retry-After"]) <= 60
    # The API's writes share the person's count.
    client = APIClient()
    client.force_authenticate(alice)
    assert_rate_limited(client.post("/api/v1/users/bob/follow", format="json"), 60)


async def open_socket(address: str) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(application, "/ws/")
    ws.scope["client"] = [address, 50000]
    connected, _ = await ws.connect(timeout=5)
    assert connected
    return ws


@pytest.mark.django_db(transaction=True)
async def test_socket_connections_per_address_stop_at_the_limit(settings):
    await sync_to_async(limits)(settings, socket_address="3/1m")
    opened = []
    codes = []
    for _ in range(5):
        ws = await open_socket("203.0.113.30")
        code = await closed_with(ws, timeout=0.5) if len(opened) >= 3 else None
        codes.append(code)
        if code is None:
            opened.append(ws)
    # 3 connections let through against a configured 3; the next are closed with 4030.
    assert codes == [None, None, None, CLOSE_CONNECT_RATE, CLOSE_CONNECT_RATE]
    other = await open_socket("198.51.100.30")  # another address is not held up
    await other.send_json_to({"type": "ping"})
    for ws in [*opened, other]:
        await ws.disconnect()


@pytest.mark.django_db
def test_rate_limits_enabled_0_turns_every_limit_off(settings, alice, bob, api, publish):
    settings.RATE_LIMITS_ENABLED = False
    limits(
        settings,
        login_account="1/15m",
        login_address="1/15m",
        signup_address="1/1h",
        writes_user="1/1m",
    )
    client = APIClient()
    assert {token_login(client, "alice", "wrong").status_code for _ in range(5)} == {401}
    signups = [
        client.post(
            "/api/v1/auth/signup",
            {"username": f"off{i}", "email": f"off{i}@example.com", "password": PASSWORD},
            format="json",
        ).status_code
        for i in range(3)
    ]
    assert signups == [201, 201, 201]
    post = publish(bob)
    writes = [
        api(alice)
        .post(f"/api/v1/posts/{post['id']}/comments", {"body": "hi"}, format="json")
        .status_code
        for _ in range(5)
    ]
    assert writes == [201] * 5
