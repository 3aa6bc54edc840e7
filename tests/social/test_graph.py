"""Follows, private accounts and follow requests, blocks and mutes, through the API."""

import pytest

from apps.social.models import Follow
from tests.accounts.test_api import assert_error

pytestmark = pytest.mark.django_db


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def make_private(client):
    response = client.patch("/api/v1/me", {"is_private": True}, format="json")
    assert response.status_code == 200 and response.json()["is_private"] is True


def test_private_account_approves_follow_requests(api, alice, bob, carol, publish):
    make_private(api(alice))
    public = publish(alice, "public")
    # A private account's posts, even public ones, are for approved followers only.
    assert ids(api(None).get("/api/v1/feed/public")) == []
    assert_error(api(bob).get(f"/api/v1/posts/{public['id']}"), 404, "not_found")

    assert api(bob).post("/api/v1/users/alice/follow").json() == {"state": "requested"}
    assert api(bob).post("/api/v1/users/alice/follow").json() == {"state": "requested"}
    assert api(bob).get("/api/v1/users/alice").json()["follow_state"] == "requested"
    assert api(carol).post("/api/v1/users/alice/follow").json() == {"state": "requested"}
    pending = api(alice).get("/api/v1/me/follow_requests").json()["items"]
    assert [r["user"]["username"] for r in pending] == ["carol", "bob"]

    assert api(alice).post("/api/v1/me/follow_requests/bob").status_code == 204
    assert api(alice).delete("/api/v1/me/follow_requests/carol").status_code == 204
    assert_error(api(alice).post("/api/v1/me/follow_requests/carol"), 404, "not_found")
    assert api(alice).get("/api/v1/me/follow_requests").json()["items"] == []

    assert api(bob).get("/api/v1/users/alice").json()["follow_state"] == "following"
    assert api(carol).get("/api/v1/users/alice").json()["follow_state"] == "none"
    assert ids(api(bob).get("/api/v1/feed/home")) == [public["id"]]
    assert api(bob).get(f"/api/v1/posts/{public['id']}").status_code == 200
    assert_error(api(carol).get(f"/api/v1/posts/{public['id']}"), 404, "not_found")


def test_withdrawing_a_request_and_removing_a_follower(api, alice, bob):
    make_private(api(alice))
    api(bob).post("/api/v1/users/alice/follow")
    assert api(bob).delete("/api/v1/users/alice/follow").json() == {"state": "none"}
    assert api(alice).get("/api/v1/me/follow_requests").json()["items"] == []
    api(bob).post("/api/v1/users/alice/follow")
    api(alice).post("/api/v1/me/follow_requests/bob")
    assert api(alice).delete("/api/v1/me/followers/bob").status_code == 204
    assert not Follow.objects.exists()


def test_block_removes_follows_both_ways_and_hides_everything(
    api, alice, bob, publish, events, django_capture_on_commit_callbacks
):
    api(bob).post("/api/v1/users/alice/follow")
    api(alice).post("/api/v1/users/bob/follow")
    mine = publish(alice, "public")
    theirs = publish(bob, "public")
    api(bob).post(f"/api/v1/posts/{mine['id']}/comments", {"body": "nice"}, format="json")

    with django_capture_on_commit_callbacks(execute=True):
        assert api(alice).post("/api/v1/users/bob/block").status_code == 204
        assert api(alice).post("/api/v1/users/bob/block").status_code == 204  # idempotent
    assert not Follow.objects.exists()
    # Each side's open sockets re-read whom they hide; the event is internal.
    for user in (alice, bob):
        assert events.types(f"user.{user.pk}") == ["graph.changed"]
        assert events.to(f"user.{user.pk}")[0]["stream"] == "internal"

    for viewer, other, post in ((bob, "alice", mine), (alice, "bob", theirs)):
        client = api(viewer)
        assert_error(client.get(f"/api/v1/users/{other}"), 404, "not_found")
        assert_error(client.get(f"/api/v1/posts/{post['id']}"), 404, "not_found")
        assert post["id"] not in ids(client.get("/api/v1/feed/public"))
        assert ids(client.get(f"/api/v1/users/{other}/posts")) == []
        assert_error(
            client.post(f"/api/v1/posts/{post['id']}/reactions", {"kind": "like"}, format="json"),
            404,
            "not_found",
        )
        assert_error(client.post(f"/api/v1/users/{other}/follow"), 404, "not_found")
    # Bob's earlier comment no longer shows to alice, even on her own post.
    assert api(alice).get(f"/api/v1/posts/{mine['id']}/comments").json()["items"] == []
    assert [b["username"] for b in api(alice).get("/api/v1/me/blocks").json()["items"]] == ["bob"]

    assert api(alice).delete("/api/v1/users/bob/block").status_code == 204
    assert api(bob).get(f"/api/v1/posts/{mine['id']}").status_code == 200
    assert len(api(alice).get(f"/api/v1/posts/{mine['id']}/comments").json()["items"]) == 1
    # Follows do not come back by themselves.
    assert api(bob).get("/api/v1/users/alice").json()["follow_state"] == "none"


def test_mute_hides_from_my_feeds_only(
    api, alice, bob, publish, events, django_capture_on_commit_callbacks
):
    api(alice).post("/api/v1/users/bob/follow")
    post = publish(bob, "public")
    with django_capture_on_commit_callbacks(execute=True):
        assert api(alice).post("/api/v1/users/bob/mute").status_code == 204
    assert events.types(f"user.{alice.pk}") == ["graph.changed"]
    assert events.types(f"user.{bob.pk}") == []
    assert ids(api(alice).get("/api/v1/feed/home")) == []
    assert ids(api(alice).get("/api/v1/feed/public")) == []
    # Still followed, and the profile and the post itself stay reachable.
    assert api(alice).get("/api/v1/users/bob").json()["viewer_mutes"] is True
    assert api(alice).get("/api/v1/users/bob").json()["follow_state"] == "following"
    assert ids(api(alice).get("/api/v1/users/bob/posts")) == [post["id"]]
    assert api(alice).get(f"/api/v1/posts/{post['id']}").status_code == 200
    # Bob notices nothing.
    assert ids(api(bob).get("/api/v1/feed/home")) == [post["id"]]
    assert api(alice).delete("/api/v1/users/bob/mute").status_code == 204
    assert ids(api(alice).get("/api/v1/feed/home")) == [post["id"]]


def test_self_block_and_mute_are_refused(api, alice):
    assert_error(api(alice).post("/api/v1/users/alice/block"), 400, "invalid")
    assert_error(api(alice).post("/api/v1/users/alice/mute"), 400, "invalid")
    assert_error(api(alice).post("/api/v1/users/nobody/block"), 404, "not_found")
    assert_error(api(None).post("/api/v1/users/alice/block"), 401, "not_authenticated")
