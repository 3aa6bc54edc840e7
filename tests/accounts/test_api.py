import pytest

from apps.accounts.models import AccessToken, User
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def signup(client, username="dana", email="dana@example.com", password="a long secret 42"):
    return client.post(
        "/api/v1/auth/signup",
        {"username": username, "email": email, "password": password},
        format="json",
    )


def test_signup_returns_the_user_and_a_working_token(anon):
    response = signup(anon)
    assert response.status_code == 201
    body = response.json()
    assert body["user"]["username"] == "dana"
    assert isinstance(body["user"]["id"], str)
    me = client_for(None)
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert me.get("/api/v1/me").json()["username"] == "dana"


def test_duplicate_username_ignoring_case_is_a_conflict_and_creates_nothing(anon, alice):
    error = assert_error(signup(anon, username="ALICE"), 409, "conflict")
    assert "username" in error["fields"]
    assert User.objects.filter(username__iexact="alice").count() == 1


def test_weak_password_and_bad_username_are_field_errors(anon):
    error = assert_error(signup(anon, username="a b", password="123"), 400, "invalid")
    assert set(error["fields"]) >= {"username", "password"}
    assert not User.objects.exists()


def test_malformed_json_is_invalid(anon):
    response = anon.post("/api/v1/auth/signup", data="{not json", content_type="application/json")
    assert_error(response, 400, "invalid")


def test_wrong_types_are_field_errors(anon):
    response = anon.post(
        "/api/v1/auth/signup",
        {"username": ["x"], "email": 5, "password": {"a": 1}},
        format="json",
    )
    error = assert_error(response, 400, "invalid")
    assert set(error["fields"]) == {"username", "email", "password"}


def test_json_that_is_not_an_object_is_invalid(api, alice):
    response = api(alice).post("/api/v1/generations", [1, 2], format="json")
    assert_error(response, 400, "invalid")


def test_token_by_password_is_stored_hashed_and_shown_once(anon, alice):
    response = anon.post(
        "/api/v1/auth/tokens",
        {"username": "alice", "password": "correct horse battery 9", "name": "cli"},
        format="json",
    )
    assert response.status_code == 201
    raw = response.json()["token"]
    assert raw.startswith("vvd_")
    token = AccessToken.objects.get(id=response.json()["id"])
    assert raw not in (token.key_hash, token.prefix) and len(token.key_hash) == 64
    listed = client_for(alice).get("/api/v1/auth/tokens").json()["items"]
    assert all("token" not in t for t in listed)
    assert "cli" in [t["name"] for t in listed]


def test_wrong_password_gets_no_token(anon, alice):
    response = anon.post(
        "/api/v1/auth/tokens", {"username": "alice", "password": "nope"}, format="json"
    )
    assert_error(response, 401, "not_authenticated")
    assert not AccessToken.objects.filter(user=alice).exists()


def test_read_only_token_cannot_write(alice):
    client = client_for(alice, scopes=("read",))
    assert client.get("/api/v1/me").status_code == 200
    assert_error(client.patch("/api/v1/me", {"bio": "x"}, format="json"), 403, "forbidden")
    alice.refresh_from_db()
    assert alice.bio == ""


def test_revoked_token_stops_working(alice):
    client = client_for(alice)
    token_id = client.get("/api/v1/auth/tokens").json()["items"][0]["id"]
    assert client.delete(f"/api/v1/auth/tokens/{token_id}").status_code == 204
    assert_error(client.get("/api/v1/me"), 401, "not_authenticated")


def test_me_needs_authentication(anon):
    assert_error(anon.get("/api/v1/me"), 401, "not_authenticated")
    assert_error(
        anon.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer vvd_forged"), 401, "not_authenticated"
    )


def test_me_update(alice):
    client = client_for(alice)
    response = client.patch(
        "/api/v1/me", {"display_name": "Alice A.", "sensitive_media": "hide"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["display_name"] == "Alice A."
    assert_error(
        client.patch("/api/v1/me", {"sensitive_media": "x"}, format="json"), 400, "invalid"
    )


def test_public_profile_counts(anon, alice, bob):
    client_for(bob).post("/api/v1/users/alice/follow")
    body = anon.get("/api/v1/users/alice").json()
    assert body["followers_count"] == 1 and body["following_count"] == 0
    assert body["viewer_follows"] is False
    assert client_for(bob).get("/api/v1/users/alice").json()["viewer_follows"] is True
    assert_error(anon.get("/api/v1/users/nobody"), 404, "not_found")
