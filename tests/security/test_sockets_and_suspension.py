"""Cross-site WebSocket hijacking (Origins the handshake must refuse for a cookie-bearing
socket), and a suspended account: its open sockets (session and token) close at once, and its
session, token, password log-in and new sockets are all refused from that moment."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client

from apps.accounts import services as account_services
from apps.accounts.models import User
from apps.config.asgi import application
from apps.moderation import actions, cases
from apps.moderation.models import Case
from apps.moderation.roles import role_set
from apps.realtime import limits
from tests.conftest import client_for
from tests.realtime.sockets import ORIGIN, closed_with, connect, session_cookie, subscribe

pytestmark = pytest.mark.django_db(transaction=True)  # async tests: asyncio_mode is auto

FOREIGN_ORIGINS = [
    b"https://evil.example",
    b"http://127.0.0.1.evil.example:8000",  # this site's host as a prefix of another
    b"http://localhost.evil.example",
    b"http://evil.example:8000",
    b"null",  # sandboxed iframes and file: pages
    b"",
]


async def test_a_browser_socket_from_another_origin_is_refused(alice):
    """One test over the Origins (no waiting in it): each is a handshake refused at once."""
    cookie = await session_cookie(alice)
    for headers in (
        *([cookie, (b"origin", origin)] for origin in FOREIGN_ORIGINS),
        # Any cookie makes the socket a browser's, a session or not.
        [(b"cookie", b"csrftoken=x"), (b"origin", b"https://evil.example")],
    ):
        foreign = WebsocketCommunicator(application, "/ws/", headers=headers)
        connected, _ = await foreign.connect(timeout=5)
        assert not connected, headers
        await foreign.disconnect()
    own = await connect([cookie, ORIGIN])  # the control: this site's own page
    assert (await subscribe(own, "home"))["subscribed"] == ["home"]
    await own.disconnect()
    await sync_to_async(connections.close_all)()


def _suspend_by_service(user, moderator, reporter) -> None:
    account_services.user_suspend(user=user)


def _suspend_by_moderator(user, moderator, reporter) -> None:
    cases.report_create(
        reporter=reporter, target_type="user", target_id=str(user.pk), reason="spam"
    )
    case = Case.objects.get(target_type="user", target_id=user.pk, status="open")
    actions.action_take(moderator=moderator, case_id=case.id, action="suspend", reason_code="spam")


@pytest.mark.parametrize(
    "how", [_suspend_by_service, _suspend_by_moderator], ids=["service", "mod"]
)
async def test_suspension_ends_session_token_and_sockets_at_once(make_user, how):
    alice, carol, mod = [await sync_to_async(make_user)(n) for n in ("alice", "carol", "mod")]
    await sync_to_async(role_set)(user=mod, role="moderator")
    _, raw = await sync_to_async(account_services.token_create)(user=alice)
    bearer = (b"authorization", f"Bearer {raw}".encode())
    cookie = await session_cookie(alice)

    @sync_to_async
    def http_state() -> dict[str, int]:
        browser = Client()
        browser.cookies.load(cookie[1].decode())
        return {
            "session api": browser.get("/api/v1/me").status_code,
            "session page": browser.get("/library").status_code,
            "token api": client_for(None)
            .get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}")
            .status_code,
            "password token": client_for(None)
            .post(
                "/api/v1/auth/tokens",
                {"username": "alice", "password": "correct horse battery 9"},
                format="json",
            )
            .status_code,
        }

    assert await http_state() == {
        "session api": 200,
        "session page": 200,
        "token api": 200,
        "password token": 201,
    }
    token_ws = await connect([bearer])
    await subscribe(token_ws, "home")
    session_ws = await connect([cookie, ORIGIN])
    await subscribe(session_ws, "home", "notifications")

    await sync_to_async(how)(alice, mod, carol)
    assert not (await sync_to_async(User.objects.get)(pk=alice.pk)).is_active

    codes = await asyncio.gather(closed_with(token_ws), closed_with(session_ws))
    assert codes == [limits.CLOSE_SUSPENDED, limits.CLOSE_SUSPENDED]
    state = await http_state()
    assert state["session api"] in (401, 403)
    assert state["session page"] == 302  # to the log-in page
    assert state["token api"] == 401
    assert state["password token"] == 401
    # New sockets: the token is refused; the session socket is only an anonymous reader.
    again = WebsocketCommunicator(application, "/ws/", headers=[bearer])
    connected, code = await again.connect(timeout=5)
    assert not connected and code == limits.CLOSE_AUTH
    anonymous = await connect([cookie, ORIGIN])
    assert (await subscribe(anonymous, "home", "notifications", "public"))["subscribed"] == [
        "public"
    ]
    await anonymous.disconnect()
    await sync_to_async(connections.close_all)()


@pytest.mark.django_db  # no sockets here: the cheaper rolled-back database is enough
def test_a_suspended_account_cannot_log_in_on_the_site(make_user):
    alice = make_user("alice")
    account_services.user_suspend(user=alice)
    for path in ("/login", "/accounts/login/"):
        browser = Client()
        page = browser.post(
            path, {"login": "alice", "username": "alice", "password": "correct horse battery 9"}
        )
        # allauth tells the right password's holder that the account is inactive; nobody is
        # signed in either way.
        assert page.status_code in (200, 302, 429), path
        assert browser.get("/api/v1/me").status_code in (401, 403), path
