"""Personal access tokens: expiry, listing, scopes, and making and revoking them on the site;
profile links over the API."""

from __future__ import annotations

import datetime as dt

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts import services
from apps.accounts.models import AccessToken, hash_token
from apps.realtime import groups
from tests.accounts.test_api import assert_error

PASSWORD = "correct horse battery 9"


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def site(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def request_token(anon, **extra):
    body = {"username": "alice", "password": PASSWORD, "name": "cli", **extra}
    return anon.post("/api/v1/auth/tokens", body, format="json")


# --- expiry over the API ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_token_may_expire_in_days_or_at_a_time(anon, alice):
    before = timezone.now()
    response = request_token(anon, expires_in_days=30)
    assert response.status_code == 201
    expires = dt.datetime.fromisoformat(response.json()["expires_at"])
    assert before + dt.timedelta(days=30) <= expires <= timezone.now() + dt.timedelta(days=30)

    at = (timezone.now() + dt.timedelta(days=3)).replace(microsecond=0)
    response = request_token(anon, expires_at=at.isoformat())
    assert response.status_code == 201
    assert dt.datetime.fromisoformat(response.json()["expires_at"]) == at

    response = request_token(anon)
    assert response.status_code == 201 and response.json()["expires_at"] is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"expires_in_days": 0}, "expires_in_days"),
        ({"expires_in_days": 366}, "expires_in_days"),
        ({"expires_in_days": "soon"}, "expires_in_days"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "next week"}, "expires_at"),
        ({"expires_at": "PAST"}, "expires_at"),
        ({"expires_at": "FAR"}, "expires_at"),
        ({"expires_at": "SOON", "expires_in_days": 5}, "expires_at"),
    ],
)
def test_a_bad_expiry_is_refused_and_no_token_is_made(anon, alice, extra, field):
    times = {
        "PAST": timezone.now() - dt.timedelta(minutes=1),
        "FAR": timezone.now() + dt.timedelta(days=366),
        "SOON": timezone.now() + dt.timedelta(days=1),
    }
    extra = {k: times[v].isoformat() if v in times else v for k, v in extra.items()}
    error = assert_error(request_token(anon, **extra), 400, "invalid")
    assert field in error["fields"]
    assert not AccessToken.objects.filter(user=alice).exists()


@pytest.mark.django_db
def test_an_expired_token_no_longer_authenticates(alice):
    token, raw = services.token_create(user=alice, expires_at=timezone.now() + dt.timedelta(days=1))
    client = bearer(raw)
    assert client.get("/api/v1/me").status_code == 200
    AccessToken.objects.filter(pk=token.pk).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    assert_error(client.get("/api/v1/me"), 401, "not_authenticated")
    assert_error(client.patch("/api/v1/me", {"bio": "x"}, format="json"), 401, "not_authenticated")
    alice.refresh_from_db()
    assert alice.bio == ""


@pytest.mark.django_db
def test_the_list_shows_every_token_without_secrets_and_pages(api, alice, bob):
    services.token_create(user=alice, name="kept")
    gone, _ = services.token_create(user=alice, name="gone")
    services.token_revoke(user=alice, token_id=gone.id)
    services.token_create(user=bob, name="bobs")
    client = api(alice)  # a third token of alice's, the newest

    first = client.get("/api/v1/auth/tokens?limit=2").json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = client.get(f"/api/v1/auth/tokens?limit=2&cursor={first['next_cursor']}").json()
    assert rest["next_cursor"] is None
    items = first["items"] + rest["items"]
    assert [t["name"] for t in items] == ["", "gone", "kept"]
    assert set(items[0]) == {
        "id",
        "name",
        "prefix",
        "scopes",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    }
    assert items[1]["revoked_at"] is not None and items[2]["revoked_at"] is None
    assert items[0]["last_used_at"] is not None  # the token making this call
    assert_error(client.get("/api/v1/auth/tokens?limit=1000"), 400, "invalid")


@pytest.mark.django_db
def test_a_call_outside_the_scopes_is_forbidden_naming_the_scope(api, alice):
    error = assert_error(
        api(alice, scopes=("read",)).post("/api/v1/posts", {}, format="json"), 403, "forbidden"
    )
    assert "'write'" in error["message"]
    error = assert_error(api(alice, scopes=("write",)).get("/api/v1/me"), 403, "forbidden")
    assert "'read'" in error["message"]


# --- sockets ----------------------------------------------------------------------------------


async def _socket(raw: str) -> WebsocketCommunicator:
    from apps.config.asgi import application

    return WebsocketCommunicator(
        application, "/ws/", headers=[(b"authorization", f"Bearer {raw}".encode())]
    )


@pytest.mark.django_db(transaction=True)
async def test_an_expired_token_is_refused_at_the_socket(alice):
    token, raw = await sync_to_async(services.token_create)(
        user=alice, expires_at=timezone.now() + dt.timedelta(days=1)
    )
    await sync_to_async(AccessToken.objects.filter(pk=token.pk).update)(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    ws = await _socket(raw)
    connected, code = await ws.connect(timeout=5)
    assert not connected and code == 4001


@pytest.mark.django_db(transaction=True)
async def test_an_open_socket_closes_when_its_token_expires(alice):
    _, raw = await sync_to_async(services.token_create)(
        user=alice, expires_at=timezone.now() + dt.timedelta(seconds=2)
    )
    ws = await _socket(raw)
    connected, _ = await ws.connect(timeout=5)
    assert connected
    await ws.send_json_to({"type": "ping"})
    assert (await ws.receive_json_from(timeout=5)) == {"type": "pong"}
    output = await ws.receive_output(timeout=6)
    assert output == {"type": "websocket.close", "code": 4001}
    await ws.disconnect()


# --- the tokens page --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_site_makes_a_token_and_shows_its_secret_once(alice):
    page = site(alice)
    response = page.post(
        "/settings/tokens", {"name": "backup script", "scopes": ["read"], "expiry": "7"}
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    secret = body.split('data-testid="token-value"')[0].rsplit('value="', 1)[1].split('"')[0]
    assert secret.startswith("vvd_")
    token = AccessToken.objects.get(user=alice)
    assert token.key_hash == hash_token(secret) and secret not in (token.prefix, token.key_hash)
    assert token.name == "backup script" and token.scopes == ["read"]
    assert dt.timedelta(days=6, hours=23) < token.expires_at - timezone.now() <= dt.timedelta(7)

    # It works, and from now on the page never shows the secret again.
    assert bearer(secret).get("/api/v1/me").json()["username"] == "alice"
    again = page.get("/settings/tokens").content.decode()
    assert secret not in again and 'data-testid="token-secret"' not in again
    assert "backup script" in again and token.prefix in again


@pytest.mark.django_db
def test_the_tokens_page_shows_last_use_expiry_and_state(alice):
    used, raw = services.token_create(user=alice, name="used")
    services.token_create(user=alice, name="idle")
    old, _ = services.token_create(
        user=alice, name="old", expires_at=timezone.now() + dt.timedelta(days=1)
    )
    AccessToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - dt.timedelta(1))
    bearer(raw).get("/api/v1/me")
    body = site(alice).get("/settings/tokens").content.decode()
    rows = {
        row.split("<td>")[1].split("</td>")[0]: row
        for row in body.split('data-testid="token-row"')[1:]
    }
    assert set(rows) == {"used", "idle", "old"}
    used.refresh_from_db()
    last = used.last_used_at.strftime("%Y-%m-%d %H:%M")
    assert last in rows["used"].split('data-testid="token-last-used"')[1].split("</td>")[0]
    assert "Never" in rows["idle"].split('data-testid="token-last-used"')[1].split("</td>")[0]
    assert 'data-state="expired"' in rows["old"] and "Expired" in rows["old"]
    assert 'data-state="active"' in rows["used"]


@pytest.mark.django_db
def test_the_site_expiry_may_be_a_date(alice):
    day = timezone.now().date() + dt.timedelta(days=10)
    site(alice).post(
        "/settings/tokens",
        {"name": "dated", "scopes": ["read", "write"], "expiry": "date", "expires_on": day},
    )
    token = AccessToken.objects.get(user=alice)
    assert token.expires_at == dt.datetime.combine(
        day + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC
    )
    assert token.scopes == ["read", "write"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "scopes": ["read"], "expiry": "never"}, "This field is required."),
        ({"name": "x", "scopes": [], "expiry": "never"}, "This field is required."),
        ({"name": "x", "scopes": ["moderate"], "expiry": "never"}, "not one of the available"),
        ({"name": "x", "scopes": ["read"], "expiry": "date"}, "Choose the day"),
        (
            {"name": "x", "scopes": ["read"], "expiry": "date", "expires_on": "2020-01-01"},
            "in the future, at most a year ahead",
        ),
        ({"name": "x", "scopes": ["read"], "expiry": "forever"}, "not one of the available"),
    ],
)
def test_the_site_refuses_a_bad_token_form_and_makes_nothing(alice, data, message):
    response = site(alice).post("/settings/tokens", data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert 'data-testid="token-secret"' not in response.content.decode()
    assert not AccessToken.objects.filter(user=alice).exists()


@pytest.mark.django_db
def test_moderators_may_give_the_moderate_scope_on_the_site(alice, make_user):
    from apps.moderation.roles import role_set

    assert 'value="moderate"' not in site(alice).get("/settings/tokens").content.decode()
    mod = make_user("mod")
    role_set(user=mod, role="moderator")
    page = site(mod)
    assert 'value="moderate"' in page.get("/settings/tokens").content.decode()
    page.post("/settings/tokens", {"name": "mod", "scopes": ["moderate"], "expiry": "30"})
    assert AccessToken.objects.get(user=mod).scopes == ["moderate"]


@pytest.mark.django_db
def test_the_site_revokes_a_token_and_closes_its_sockets(
    alice, bob, events, django_capture_on_commit_callbacks
):
    token, raw = services.token_create(user=alice, name="cli")
    page = site(alice)
    body = page.get("/settings/tokens").content.decode()
    form = f'action="/settings/tokens/{token.id}/revoke"'
    assert form in body and "data-settings-confirm=" in body.split(form)[1].split(">")[0]
    with django_capture_on_commit_callbacks(execute=True):
        response = page.post(f"/settings/tokens/{token.id}/revoke")
    assert response.status_code == 302 and response["Location"] == "/settings/tokens"
    assert_error(bearer(raw).get("/api/v1/me"), 401, "not_authenticated")
    closes = [e for e in events.to(groups.token_group(token.id)) if e["type"] == "vivid.close"]
    assert [e["code"] for e in closes] == [4001]
    row = page.get("/settings/tokens").content.decode().split('data-testid="token-row"')[1]
    assert 'data-state="revoked"' in row and form not in row


@pytest.mark.django_db
def test_nobody_revokes_someone_elses_token_on_the_site(alice, bob):
    token, raw = services.token_create(user=alice, name="cli")
    response = site(bob).post(f"/settings/tokens/{token.id}/revoke", follow=True)
    assert "already revoked or does not exist" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None and bearer(raw).get("/api/v1/me").status_code == 200
    assert site(bob).get(f"/settings/tokens/{token.id}/revoke").status_code == 405


# --- links over the API -----------------------------------------------------------------------


@pytest.mark.django_db
def test_links_are_read_and_written_on_me_and_shown_on_the_profile(api, anon, alice):
    links = [
        {"label": "Portfolio", "url": "https://alice.example/art"},
        {"label": " Shop ", "url": "http://shop.example"},
    ]
    response = api(alice).patch("/api/v1/me", {"links": links}, format="json")
    assert response.status_code == 200
    saved = [links[0], {"label": "Shop", "url": "http://shop.example"}]
    assert response.json()["links"] == saved
    assert api(alice).get("/api/v1/me").json()["links"] == saved
    assert anon.get("/api/v1/users/alice").json()["links"] == saved
    assert api(alice).patch("/api/v1/me", {"links": []}, format="json").json()["links"] == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "links",
    [
        [{"label": f"L{i}", "url": f"https://x.example/{i}"} for i in range(6)],
        [{"label": "Evil", "url": "javascript:alert(1)"}],
        [{"label": "Data", "url": "data:text/html,<script>alert(1)</script>"}],
        [{"label": "Files", "url": "ftp://files.example"}],
        [{"label": "x" * 41, "url": "https://x.example"}],
        [{"label": "", "url": "https://x.example"}],
        [{"label": "Long", "url": "https://x.example/" + "a" * 300}],
        [{"label": "Extra", "url": "https://x.example", "rel": "me"}],
        [{"url": "https://x.example"}],
        ["https://x.example"],
        "https://x.example",
        [{"label": "Nested", "url": {"href": "https://x.example"}}],
        [{"label": "a\u0000b", "url": "https://x.example"}],
        [{"label": "Nul", "url": "https://x.example/\u0000"}],
    ],
)
def test_bad_links_are_refused_on_the_api_and_nothing_is_lost(api, alice, links):
    kept = [{"label": "Old", "url": "https://old.example"}]
    alice.links = kept
    alice.save()
    response = api(alice).patch(
        "/api/v1/me", {"links": links, "display_name": "Changed"}, format="json"
    )
    error = assert_error(response, 400, "invalid")
    assert list(error["fields"]) == ["links"]
    assert all(isinstance(m, str) for m in error["fields"]["links"])
    alice.refresh_from_db()
    assert alice.links == kept and alice.display_name == ""
